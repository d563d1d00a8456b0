// `mcvd sample MODEL [INPUT...] --task interpolate|predict|predict-past|generate --out DIR`: runs a model
// on PNG frames (a folder or a list) or a video (decoded through GStreamer), writes every frame of the
// result in time order (DIR/0000.png ...) and DIR/strip.png (the frames side by side; a grey bar under
// given frames, an orange one under generated frames). Sampling itself is Diffusion's sampleBlock and
// autoregress; the network closure is Training's conditionalNetwork.
import ArgumentParser
import Diffusion
import Foundation
import Tensor
import Training
import UNet
import VideoData

extension Mcvd {
    struct Sample: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Interpolate, predict or generate frames with a model; write PNG frames and a strip.",
            discussion: """
                interpolate: fills n frames into every gap of the given frames that has k frames before and \
                f after it. predict / predict-past: --frames N frames after / before the given ones, block by \
                block (generated frames become the next block's conditioning). generate: N frames from nothing.
                """)

        @Argument(help: "Model file (mcvd train checkpoint or converted reference model).")
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

        @Option(help: "Strip magnification (nearest neighbour).")
        var stripScale: Int = 2

        @OptionGroup var common: CommonOptions

        func validate() throws {
            if let frames, frames < 1 { throw ValidationError("--frames must be >= 1") }
            if let count, count < 1 { throw ValidationError("--count must be >= 1") }
            if let size, size < 8 { throw ValidationError("--size must be >= 8") }
            guard start >= 0, (1...8).contains(stripScale) else {
                throw ValidationError("--start must be >= 0, --strip-scale in 1...8")
            }
            if task == .generate && !inputs.isEmpty { throw ValidationError("generate takes no input frames") }
            if task != .generate && inputs.isEmpty { throw ValidationError("task \(task.rawValue) needs input frames (PNG files, a folder or a video)") }
            if task == .interpolate && frames != nil { throw ValidationError("--frames applies to predict, predict-past and generate") }
        }

        func run() throws {
            Engine.setThreads(common.threads)
            let file = try SafeTensors(path: model)
            let net = try UNet(file: file)
            let cfg = net.config
            let diffusion = try DiffusionSettings(json: file.metadata["mcvd.config"] ?? "")
            let (k, n, f, c) = (cfg.numFramesCond, cfg.numFrames, cfg.numFramesFuture, cfg.channels)
            let steps = sampling.steps(for: diffusion.parameterization), sampler = sampling.sampler, eta = sampling.eta
            let height = size ?? cfg.imageSize
            let multiple = 1 << (cfg.chMult.count - 1)
            guard height % multiple == 0 else { throw CLIError("--size must be a multiple of \(multiple)") }
            switch task {
            case .interpolate where k == 0 || f == 0:
                throw CLIError("the model has \(k) past and \(f) future frames: it cannot interpolate")
            case .predict where k == 0:
                throw CLIError("the model has no past frames: it cannot predict")
            case .predictPast where f == 0:
                throw CLIError("the model has no future frames: it cannot predict the past")
            default: break
            }

            // 1. Given frames, (C, H, W) in [-1, 1] each.
            let needed = task == .interpolate ? k + f : task == .predict ? k : task == .predictPast ? f : 0
            var width = height
            var given: [[Float]] = []
            if task != .generate {
                let images = try loadFrames(height: height, channels: c, needed: needed)
                guard images.count >= needed else {
                    throw CLIError("task \(task.rawValue) needs at least \(needed) frames, got \(images.count)")
                }
                width = images[0].width / multiple * multiple
                guard width >= multiple else { throw CLIError("frames are too narrow") }
                given = images.map { planar($0, width: width) }
            }
            let shape = BlockShape(channels: c, height: height, width: width, frames: n, past: k, future: f)
            let network = conditionalNetwork(net, height: height, width: width)
            let progress = ProgressLine()
            func blockOptions(_ block: Int) -> BlockOptions {
                BlockOptions(sampler: sampler, steps: steps, eta: eta, residual: diffusion.residual, warmStart: sampling.warmStart,
                             noise: NoiseSource(seed: common.seed ?? 0, block: UInt32(block)))
            }
            func report(_ block: Int) -> SamplerProgress {
                { done, total in if progress.tty { progress.show("block \(block + 1) step \(done)/\(total)") } }
            }
            print("model: \(cfg.summary) \(diffusion.parameterization.rawValue)\(diffusion.residual ? " residual" : "")")
            print("task \(task.rawValue): \(given.count) given frame(s) at \(width)x\(height), \(sampler.rawValue) \(steps) step(s)")

            // 2. Sample; the result as (frame, generated?) in time order.
            var sequence: [([Float], Bool)] = []
            let fs = shape.frameSize
            switch task {
            case .interpolate:
                let gaps = Array((k - 1)..<(given.count - f))
                guard !gaps.isEmpty else { throw CLIError("no gap has \(k) frames before and \(f) after it") }
                let past = gaps.flatMap { i in given[(i - k + 1)...i].flatMap { $0 } }
                let future = gaps.flatMap { i in given[(i + 1)...(i + f)].flatMap { $0 } }
                let cond = try task.conditioning(shape: shape, samples: gaps.count, past: past, future: future)
                let x = try sampleBlock(network: network, schedule: diffusion.schedule, parameterization: diffusion.parameterization,
                                        shape: shape, task: task, cond: cond, options: blockOptions(0), progress: report(0))
                for (i, frame) in given.enumerated() {
                    sequence.append((frame, false))
                    if let g = gaps.firstIndex(of: i) {
                        for j in 0..<n { sequence.append((Array(x[(g * n + j) * fs ..< (g * n + j + 1) * fs]), true)) }
                    }
                }
            case .predict, .predictPast, .generate:
                let count = frames ?? n
                let made = try autoregress(task: task, shape: shape, samples: 1, given: given.flatMap { $0 },
                                           givenFrames: given.count, count: count) { blockTask, cond, block in
                    try sampleBlock(network: network, schedule: diffusion.schedule, parameterization: diffusion.parameterization,
                                    shape: shape, task: blockTask, cond: cond, options: blockOptions(block), progress: report(block))
                }
                let new = (0..<count).map { (Array(made[$0 * fs ..< ($0 + 1) * fs]), true) }
                let old = given.map { ($0, false) }
                sequence = task == .predictPast ? new + old : old + new
            }
            if progress.tty { progress.show("sampled", final: true) }

            // 3. Files.
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
            let bytes = sequence.map { toBytes($0.0, channels: c, width: width, height: height) }
            for (i, b) in bytes.enumerated() {
                try PNG.write(path: "\(out)/\(String(format: "%04d", i)).png", width: width, height: height, channels: c, pixels: b)
            }
            let strip = makeStrip(bytes, generated: sequence.map(\.1), channels: c, width: width, height: height, scale: stripScale)
            try PNG.write(path: "\(out)/strip.png", width: strip.width, height: strip.height, channels: 3, pixels: strip.pixels)
            let madeCount = sequence.filter(\.1).count
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

/// The diffusion section of a model's "mcvd.config" (docs/model-format.md).
struct DiffusionSettings {
    var parameterization = Parameterization.eps
    var residual = false
    var schedule = NoiseSchedule.linear()

    init(json: String) throws {
        guard let root = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any] else {
            throw CLIError("model file: mcvd.config is not a JSON object")
        }
        let d = root["diffusion"] as? [String: Any] ?? [:]
        if let p = d["parameterization"] as? String {
            guard let value = Parameterization(rawValue: p) else { throw CLIError("model file: parameterization \(p)") }
            parameterization = value
        }
        residual = d["residual"] as? Bool ?? false
        let steps = (d["num_steps"] as? NSNumber)?.intValue ?? 1000
        if d["schedule"] as? String == "cosine" {
            schedule = .cosine(steps: steps)
        } else {
            schedule = .linear(steps: steps, betaMin: (d["beta_min"] as? NSNumber)?.doubleValue ?? 1e-4,
                               betaMax: (d["beta_max"] as? NSNumber)?.doubleValue ?? 0.02)
        }
    }
}

/// One decoded frame (HWC bytes) -> (C, H, W) in [-1, 1], centre-cropped to `width` columns.
func planar(_ v: DecodedVideo, width: Int) -> [Float] {
    let c = v.channels, h = v.height, x0 = (v.width - width) / 2
    var out = [Float](repeating: 0, count: c * h * width)
    let src = v.frames[0]
    for ch in 0..<c {
        for y in 0..<h {
            for x in 0..<width { out[(ch * h + y) * width + x] = Float(src[(y * v.width + x0 + x) * c + ch]) / 127.5 - 1 }
        }
    }
    return out
}

/// (C, H, W) in [-1, 1] -> HWC bytes.
func toBytes(_ frame: [Float], channels c: Int, width: Int, height: Int) -> [UInt8] {
    var out = [UInt8](repeating: 0, count: c * height * width)
    for ch in 0..<c {
        for y in 0..<height {
            for x in 0..<width {
                let v = (frame[(ch * height + y) * width + x] + 1) * 127.5
                out[(y * width + x) * c + ch] = UInt8(min(max(v.rounded(), 0), 255))
            }
        }
    }
    return out
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
