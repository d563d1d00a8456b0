// `mcvd sample MODEL [INPUT...] --task interpolate|predict|predict-past|generate --out DIR`: runs a model
// on PNG frames (a folder or a list) or a video (decoded through GStreamer), writes every frame of the
// result in time order (DIR/0000.png ...) and DIR/strip.png (the frames side by side; a grey bar under
// given frames, an orange one under generated frames). Loading, frame mapping and sampling are MCVDKit's
// (Model, FrameBuffer, FrameGenerator: --processing-size); this file parses the arguments, reads the inputs and writes the files.
import ArgumentParser
import Diffusion
import Foundation
import MCVDKit
import Tensor
import VideoData

extension Mcvd {
    struct Sample: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Interpolate, predict or generate frames with a model; write PNG frames and a strip.",
            discussion: """
                interpolate: fills n frames into every gap of the given frames that has k frames before and \
                f after it. predict / predict-past: --frames N frames after / before the given ones, block by \
                block (generated frames become the next block's conditioning). generate: N frames from nothing. \
                Noise as in the element (method=diffusion): gap m of interpolate, and block m of predict, use \
                noise block m of --seed, so the same model, frames, seed and settings give the element's frames.
                """)

        @Argument(help: "Model file (mcvd train checkpoint or converted reference model), or `default` for the built-in default model (README \"The default model\").")
        var model: String

        @Argument(help: "PNG files, a folder of PNGs (strip.png left out), or one video file (not needed for generate).")
        var inputs: [String] = []

        @Option(help: "interpolate, predict, predict-past or generate.")
        var task: Diffusion.Task = .interpolate

        @Option(help: "Output folder (created).")
        var out: String = "mcvd-samples"

        @OptionGroup var sampling: SamplingOptions

        @Option(help: "Frames to make for predict, predict-past and generate (default: the model's n).")
        var frames: Int?

        @Option(help: "Video input: first frame to use.")
        var start: Int = 0

        @Option(help: "Video input: frames to use (default: what the task needs: k, f or k + f).")
        var count: Int?

        @Option(help: "Frame height to work at (default: the model's image size); width follows the aspect.")
        var size: Int?

        @Option(help: ArgumentHelp("Rows the model runs at: taller frames are area-averaged to it and its correction over its base is upsampled over the full-size base (the element's processing-size); 0 = the frames' own size.",
                                   valueName: "rows"))
        var processingSize: Int = 0

        @Option(help: "Strip magnification (nearest neighbour).")
        var stripScale: Int = 2

        @OptionGroup var common: CommonOptions

        func validate() throws {
            if let frames, frames < 1 { throw ValidationError("--frames must be >= 1") }
            if let count, count < 1 { throw ValidationError("--count must be >= 1") }
            if let size, size < 8 { throw ValidationError("--size must be >= 8") }
            guard processingSize >= 0 else { throw ValidationError("--processing-size must be >= 0 (0 = the frames' own size)") }
            guard start >= 0, (1...8).contains(stripScale) else {
                throw ValidationError("--start must be >= 0, --strip-scale in 1...8")
            }
            if task == .generate && !inputs.isEmpty { throw ValidationError("generate takes no input frames") }
            if task != .generate && inputs.isEmpty { throw ValidationError("task \(task.rawValue) needs input frames (PNG files, a folder or a video)") }
            if task == .interpolate && frames != nil { throw ValidationError("--frames applies to predict, predict-past and generate") }
        }

        func run() throws {
            Engine.setThreads(common.threads)
            let model = try Model(pathOrDefault: self.model, task: task)
            let c = model.channels
            let height = size ?? model.imageSize
            let multiple = model.sizeMultiple
            guard height % multiple == 0 else { throw CLIError("--size must be a multiple of \(multiple)") }
            try model.check(task: task)

            // 1. Given frames, planar (C, H, W) in the model's range, each centre-cropped to a width the model takes.
            let needed = task == .interpolate ? model.past + model.future
                : task == .predict ? model.span(model.past) : task == .predictPast ? model.span(model.future) : 0
            var width = height
            var given: [[Float]] = []
            if task != .generate {
                let images = try loadFrames(height: height, channels: c, needed: needed)
                guard images.count >= needed else {
                    throw CLIError("task \(task.rawValue) needs at least \(needed) frames, got \(images.count)")
                }
                width = images[0].width / multiple * multiple
                guard width >= multiple else { throw CLIError("frames are too narrow") }
                given = try images.map { v in
                    try FrameBuffer(format: c == 1 ? .gray8 : .rgb, width: v.width, height: v.height, bytes: v.frames[0]).view
                        .cropped(x: (v.width - width) / 2, y: 0, width: width, height: height).planar(channels: c, range: model.range)
                }
            }
            let settings = SamplingSettings(sampler: sampling.sampler, steps: sampling.steps, eta: sampling.eta,
                                            warmStart: sampling.warmStart, start: sampling.start, seed: common.seed ?? 0, ensemble: sampling.ensemble)
            let generator = try FrameGenerator(model: model, height: height, width: width, processingSize: processingSize, settings: settings)
            let progress = ProgressLine()
            if progress.tty { generator.generator.progress = { block, done, total in progress.show("block \(block + 1) step \(done)/\(total)") } }
            print("model: \(model.summary)")
            print("task \(task.rawValue): \(given.count) given frame(s) at \(width)x\(height), \(settings.sampler.rawValue) \(generator.steps) step(s)"
                  + (generator.scaled ? ", model at \(generator.workingWidth)x\(generator.workingHeight) (processing size \(processingSize))" : ""))

            // 2. Sample; the result as (frame, generated?) in time order.
            var sequence: [SequenceFrame] = []
            switch task {
            case .interpolate:
                // One gap per noise block: the element's numbering (its gap m uses noise block m).
                sequence = try generator.interpolate(given, batch: 1)
            case .predict, .predictPast:
                let made = try generator.extend(given, count: frames ?? model.frames, backward: task == .predictPast)
                let new = made.map { SequenceFrame(pixels: $0, generated: true) }, old = given.map { SequenceFrame(pixels: $0, generated: false) }
                sequence = task == .predictPast ? new + old : old + new
            case .generate:
                sequence = try generator.generate(count: frames ?? model.frames).map { SequenceFrame(pixels: $0, generated: true) }
            }
            if progress.tty { progress.show("sampled", final: true) }

            // 3. Files.
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
            let bytes = try sequence.map { frame -> [UInt8] in
                let buffer = try FrameBuffer(format: c == 1 ? .gray8 : .rgb, width: width, height: height)
                try buffer.view.write(frame.pixels, channels: c, range: model.range)
                return buffer.bytes
            }
            for (i, b) in bytes.enumerated() {
                try PNG.write(path: "\(out)/\(String(format: "%04d", i)).png", width: width, height: height, channels: c, pixels: b)
            }
            let strip = makeStrip(bytes, generated: sequence.map(\.generated), channels: c, width: width, height: height, scale: stripScale)
            try PNG.write(path: "\(out)/strip.png", width: strip.width, height: strip.height, channels: 3, pixels: strip.pixels)
            let madeCount = sequence.filter(\.generated).count
            print("wrote \(sequence.count) frames (\(sequence.count - madeCount) given, \(madeCount) generated) to \(out)/0000.png ... "
                  + "and \(out)/strip.png (\(strip.width)x\(strip.height))")
        }

        /// Decoded input frames: PNG files (a folder's *.png sorted, or a list) or frames of one video.
        func loadFrames(height: Int, channels: Int, needed: Int) throws -> [DecodedVideo] {
            var files: [String] = []
            var isDir: ObjCBool = false
            if inputs.count == 1, FileManager.default.fileExists(atPath: inputs[0], isDirectory: &isDir), isDir.boolValue {
                let names = try FileManager.default.contentsOfDirectory(atPath: inputs[0])
                files = names.filter { $0.lowercased().hasSuffix(".png") && $0 != "strip.png" }.sorted().map { "\(inputs[0])/\($0)" }
                guard !files.isEmpty else { throw CLIError("no .png file in \(inputs[0])") }
            } else if inputs.count == 1 && !inputs[0].lowercased().hasSuffix(".png") {
                let want = count ?? needed
                let v = try decodeVideo(path: inputs[0], height: height, channels: channels, maxFrames: start + want)
                guard v.frames.count >= start + want else {
                    throw CLIError("\(inputs[0]) has \(v.frames.count) frames; --start \(start) needs \(start + want)")
                }
                return v.frames[start ..< start + want].map {
                    DecodedVideo(path: v.path, width: v.width, height: v.height, channels: channels, rateN: v.rateN, rateD: v.rateD, frames: [$0])
                }
            } else {
                files = inputs
            }
            let images = try files.map { try decodeVideo(path: $0, height: height, channels: channels, maxFrames: 1) }
            if let odd = images.first(where: { $0.width != images[0].width }) {
                throw CLIError("\(odd.path) is \(odd.width) wide at height \(height), \(images[0].path) is \(images[0].width)")
            }
            return images
        }
    }
}

/// Frames side by side (RGB, magnified), 2 px apart, each over a 4 px bar: grey = given, orange = generated.
func makeStrip(_ frames: [[UInt8]], generated: [Bool], channels c: Int, width: Int, height: Int,
               scale s: Int) -> (width: Int, height: Int, pixels: [UInt8]) {
    let gap = 2, bar = 4
    let cellW = width * s, stripW = frames.count * cellW + (frames.count - 1) * gap, stripH = height * s + gap + bar
    var px = [UInt8](repeating: 0, count: stripW * stripH * 3)
    for (i, frame) in frames.enumerated() {
        let left = i * (cellW + gap)
        for y in 0..<(height * s) {
            for x in 0..<cellW {
                let src = ((y / s) * width + x / s) * c
                let dst = (y * stripW + left + x) * 3
                for ch in 0..<3 { px[dst + ch] = frame[src + (c == 3 ? ch : 0)] }
            }
        }
        let colour: [UInt8] = generated[i] ? [255, 140, 0] : [96, 96, 96]
        for y in (height * s + gap)..<stripH {
            for x in 0..<cellW { px.replaceSubrange((y * stripW + left + x) * 3 ..< (y * stripW + left + x) * 3 + 3, with: colour) }
        }
    }
    return (stripW, stripH, px)
}
