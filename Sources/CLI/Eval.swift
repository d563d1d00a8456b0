// `mcvd eval [VIDEO...] [--data-md] --task interpolate|predict [--model M] [--strip out.png]`: PSNR and SSIM
// of simple baselines (and optionally a model) on the validation range of real videos, one line per video
// and method, then the means over videos as lines and a markdown table. The harness (targets, baselines,
// minterpolate) and the metrics live in VideoData (Evaluation.swift, Metrics.swift); the model runs
// through Diffusion's sampleBlock as in `mcvd sample`.
import ArgumentParser
import Diffusion
import Foundation
import Motion
import Tensor
import Training
import UNet
import VideoData

enum EvalColour: String, EnumerableFlag {
    case gray, rgb
    var count: Int { self == .gray ? 1 : 3 }
}

enum EvalTask: String, ExpressibleByArgument, CaseIterable {
    case interpolate, predict

    /// The library's task: what the model is sampled for.
    var task: Diffusion.Task { self == .interpolate ? .interpolate : .predict }
}

enum EvalCrop: String, ExpressibleByArgument, CaseIterable {
    /// The centre size x size square (the model's training crops are size x size squares).
    case square
    /// The whole frame at `size` rows, its width cut (centred) to a multiple of 8.
    case full
}

extension Mcvd {
    struct Eval: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "PSNR and SSIM of baselines (and a model) on the validation range of videos.",
            discussion: """
                Frames are decoded at --size rows (aspect kept, as for training), cropped (--crop), and only \
                the validation range is used: the last --validation-fraction of each video's frames. \
                interpolate: every other frame of the range is dropped and rebuilt from the kept ones \
                (methods: repeat = previous kept frame; blend = mean of the two neighbours rounded half up; \
                motion = motion-compensated interpolation (the element's method=motion; a scene cut repeats); \
                minterpolate = ffmpeg minterpolate mi_mode=mci at twice the rate, when ffmpeg is on PATH). \
                predict: each frame from the frames before it (copy-last; extrapolate = 2 last - second last, \
                clipped). A model (--model) is run on the same targets. \
                Metrics: PSNR over all samples, peak 255, mean over frames, identical frames counted as \
                100 dB; SSIM (Wang et al. 2004) with an 11x11 Gaussian window sigma 1.5, K1 0.01, K2 0.03, \
                per channel over the valid region, channels averaged, mean over frames (scikit-image's \
                convention with gaussian_weights=True, use_sample_covariance=False). Summary: the mean over \
                videos (psnr, ssim) and the mean over all target frames (psnr_frames, ssim_frames).
                """)

        @OptionGroup var footage: FootageOptions

        @Option(help: "Frame height the videos are decoded at (aspect kept, as for training).")
        var size: Int = 64

        @Flag(help: "Frame colour.")
        var colour: EvalColour = .gray

        @Option(help: "full: the whole frame, width cut (centred) to a multiple of 8; square: the centre size x size square.")
        var crop: EvalCrop = .full

        @Option(help: "interpolate (every other frame dropped and rebuilt) or predict (each frame from the ones before).")
        var task: EvalTask = .interpolate

        @Option(help: "Fraction of each video's frames, at its end, that is the validation range.")
        var validationFraction: Double = 0.2

        @Option(help: "At most this many target frames per video (the first ones of its validation range).")
        var maxFrames: Int?

        @Flag(help: "Skip ffmpeg minterpolate even when ffmpeg is installed.")
        var noMinterpolate = false

        @Option(help: "Model file, or `default` for the built-in default model: also evaluate the model (its k and f frames of context per target).")
        var model: String?

        @OptionGroup(title: "Model sampling") var sampling: SamplingOptions

        @Option(help: "Model: target frames per network call. 1 samples them one by one, as the element does (the same bytes); more is faster and may differ from the element by rounding (a level here and there).")
        var batch: Int = 1

        @Option(help: ArgumentHelp("Model: rows it runs at (taller frames area-averaged to it, its correction over its base upsampled over the full-size base); 0 = the frames' own size.",
                                   valueName: "rows"))
        var processingSize: Int = 0

        @Option(help: ArgumentHelp("Model, interpolation: as the element's scene-threshold: no model across a scene cut (the earlier original repeated at one, blend where one lies among the conditioning frames); 0 = off.",
                                   valueName: "score"))
        var sceneThreshold: Double = Double(SceneCut.defaultThreshold)

        @Option(help: ArgumentHelp("Model, interpolation: as the element's static-threshold: a pair that differs by at most this (levels per 16x16 block) is blended, no model; 0 = off.",
                                   valueName: "levels"))
        var staticThreshold: Double = Double(StaticContent.defaultThreshold)

        @Option(help: ArgumentHelp("Write what was scored as PNGs: per video a folder with the kept frames (kept-0000.png ...: the element's input at half rate) and, per target, the truth and each method's frame (<method>-0000.png: gap 0 lies between kept 0 and kept 1). Interpolation.",
                                   valueName: "dir"))
        var framesOut: String?

        @Option(help: "Write a PNG strip: rows ground truth / methods in the order printed; columns target frames (centre squares).")
        var strip: String?

        @Option(help: "Strip: target frames (columns) per video, evenly spaced over its targets.")
        var stripFrames: Int = 1

        @Option(help: "Strip magnification (nearest neighbour).")
        var stripScale: Int = 2

        @OptionGroup var common: CommonOptions

        func validate() throws {
            guard size >= 16 else { throw ValidationError("--size must be >= 16 (SSIM's window is 11 pixels)") }
            guard validationFraction > 0 && validationFraction < 1 else { throw ValidationError("--validation-fraction must lie in (0, 1)") }
            if let maxFrames, maxFrames < 1 { throw ValidationError("--max-frames must be >= 1") }
            guard batch >= 1, stripFrames >= 1, (1...8).contains(stripScale) else {
                throw ValidationError("--batch and --strip-frames must be >= 1, --strip-scale in 1...8")
            }
            if model == nil && (sampling.steps != nil || sampling.warmStart != nil || common.seed != nil || processingSize != 0) {
                throw ValidationError("--steps, --warm-start, --seed and --processing-size apply to --model")
            }
            guard processingSize >= 0 else { throw ValidationError("--processing-size must be >= 0 (0 = native)") }
            guard sceneThreshold >= 0, staticThreshold >= 0 else { throw ValidationError("--scene-threshold and --static-threshold must be >= 0 (0 = off)") }
            if framesOut != nil && task != .interpolate { throw ValidationError("--frames-out writes interpolation targets (--task interpolate)") }
        }

        func run() throws {
            Engine.setThreads(common.threads)
            let paths = try footage.paths(summaryPrefix: "# ")
            let runner = try model.map { try ModelRunner(path: $0, options: self) }
            let ffmpeg = noMinterpolate ? nil : Evaluation.findFFmpeg()
            var methods: [String] = task == .interpolate ? ["repeat", "blend", "motion"] : ["copy-last", "extrapolate"]
            let interpolator = MotionInterpolator()
            // minterpolate refuses frames under 32 x 32.
            let useMinterpolate = task == .interpolate && ffmpeg != nil && size >= 32
            if useMinterpolate { methods.append("minterpolate") }
            if runner != nil { methods.append("model") }
            let (before, after) = (max(1, runner?.k ?? 1), max(1, runner?.f ?? 1))
            print("# mcvd eval task=\(task.rawValue) size=\(size) colour=\(colour.rawValue) crop=\(crop.rawValue) "
                  + "validation=last \(validationFraction) of each video methods=\(methods.joined(separator: ","))")
            print("# psnr: dB over all samples, peak 255, mean over frames, identical frames = \(Int(Metrics.psnrCap)) dB; "
                  + "ssim: Wang 2004, 11x11 Gaussian sigma 1.5, K1 0.01, K2 0.03, valid region, channel mean")
            if task == .interpolate && !noMinterpolate && !useMinterpolate {
                print("# minterpolate left out: " + (ffmpeg == nil ? "ffmpeg is not on PATH" : "it needs frames of at least 32x32"))
            }

            var perVideo: [(name: String, scores: [String: Score])] = []
            var stripRows: [[[UInt8]]] = Array(repeating: [], count: methods.count + 1)
            var stripSide = 0
            var skipped: [String] = []
            for path in paths {
                let name = (path as NSString).lastPathComponent
                let decoded: DecodedVideo
                do {
                    decoded = try decodeVideo(path: path, height: size, channels: colour.count)
                } catch {
                    stderrLine("warning: skipped \(error)")
                    print("video=\(name) skipped=\"\(error)\"")
                    skipped.append(name)
                    continue
                }
                let video = cropped(decoded)
                let n = video.frames.count
                let cut = Int((Double(n) * (1 - validationFraction)).rounded(.down))
                var targets = task == .interpolate
                    ? Evaluation.interpolationTargets(range: cut..<n, before: before, after: after)
                    : Evaluation.predictionTargets(range: cut..<n, history: max(2, runner.map { ($0.k - 1) * $0.conditionStride + 1 } ?? 2))
                if let maxFrames { targets = Array(targets.prefix(maxFrames)) }
                print("# \(name): \(n) frames \(decoded.width)x\(decoded.height) -> \(video.width)x\(video.height), "
                      + "validation \(cut)..<\(n), \(targets.count) targets")
                guard !targets.isEmpty else { skipped.append(name); continue }

                // Every method's estimate of every target, in `methods` order.
                var estimates: [[[UInt8]]] = []
                let f = video.frames
                // The scene and static scores of each target's pair (t - 1, t + 1), from the motion method's
                // estimate: the model row's gap decisions read them.
                var pairScores: [Int: (scene: Float, staticDifference: Float)] = [:]
                if task == .interpolate {
                    estimates.append(targets.map { f[$0 - 1] })
                    estimates.append(targets.map { Evaluation.blend(f[$0 - 1], f[$0 + 1]) })
                    estimates.append(try targets.map { t in
                        let m = try Evaluation.motionWithScores(f[t - 1], f[t + 1], width: video.width, height: video.height,
                                                                channels: video.channels, interpolator: interpolator)
                        pairScores[t + 1] = (m.scene, m.staticDifference)
                        return m.frame
                    })
                    if useMinterpolate, let ffmpeg {
                        estimates.append(try minterpolated(video, range: cut..<n, targets: targets, ffmpeg: ffmpeg))
                    }
                } else {
                    estimates.append(targets.map { f[$0 - 1] })
                    estimates.append(targets.map { Evaluation.extrapolate(last: f[$0 - 1], secondLast: f[$0 - 2]) })
                }
                if let runner {
                    var choices: [GapChoice]?
                    if task == .interpolate {
                        let c = try GapChoice.choose(frames: f, width: video.width, height: video.height, channels: video.channels,
                                                     rangeStart: cut, targets: targets, k: runner.k, f: runner.f,
                                                     sceneThreshold: Float(sceneThreshold), staticThreshold: Float(staticThreshold),
                                                     known: pairScores)
                        let counts = [("scene cut", c.filter { $0 == .sceneCut }.count), ("static", c.filter { $0 == .still }.count),
                                      ("fallback", c.filter { $0 == .fallback }.count)].filter { $0.1 > 0 }
                        if !counts.isEmpty {
                            print("#   model row as the element fills the gaps: \(c.count - counts.map(\.1).reduce(0, +)) by the model, "
                                  + counts.map { "\($0.1) \($0.0)" }.joined(separator: ", "))
                        }
                        choices = c
                    }
                    let motion = task == .interpolate ? methods.firstIndex(of: "motion").map { estimates[$0] } : nil
                    estimates.append(try runner.run(video: video, targets: targets, task: task, choices: choices, motion: motion))
                }
                if let framesOut {
                    try writeFrames(framesOut, video: video, name: name, range: cut..<n, targets: targets, methods: methods, estimates: estimates)
                }

                var scores: [String: Score] = [:]
                for (m, method) in methods.enumerated() {
                    var s = Score()
                    for (i, t) in targets.enumerated() {
                        s.add(truth: f[t], estimate: estimates[m][i], width: video.width, height: video.height, channels: video.channels)
                    }
                    scores[method] = s
                    print("video=\(name) task=\(task.rawValue) method=\(method) psnr=\(fmt(s.psnr, 2)) ssim=\(fmt(s.ssim, 4)) "
                          + "frames=\(s.frames)" + (s.capped > 0 ? " identical=\(s.capped)" : ""))
                }
                perVideo.append((name, scores))
                if strip != nil {
                    // Cells are the centre squares (side = the smallest frame side seen first), so videos of
                    // any width line up; a video smaller than that square is left out of the strip.
                    let count = min(stripFrames, targets.count)
                    let picks = (0..<count).map { $0 * targets.count / count + targets.count / (2 * count) }
                    if stripSide == 0 { stripSide = min(video.width, video.height) }
                    if video.width >= stripSide && video.height >= stripSide {
                        func square(_ frame: [UInt8]) -> [UInt8] {
                            let one = DecodedVideo(path: "", width: video.width, height: video.height, channels: video.channels,
                                                   rateN: 0, rateD: 1, frames: [frame])
                            return Evaluation.centreCrop(one, size: stripSide).frames[0]
                        }
                        for i in picks {
                            stripRows[0].append(square(f[targets[i]]))
                            for m in methods.indices { stripRows[m + 1].append(square(estimates[m][i])) }
                        }
                    }
                }
            }
            guard !perVideo.isEmpty else { throw CLIError("no video could be evaluated (\(skipped.count) skipped)") }

            // Means over videos, as lines and as a table.
            print("")
            // Two means: over videos (each video counts once) and over frames (long videos weigh more).
            var table = ["| method | PSNR dB (videos) | SSIM (videos) | PSNR dB (frames) | SSIM (frames) | videos | frames |",
                         "| --- | --- | --- | --- | --- | --- | --- |"]
            for method in methods {
                let all = perVideo.compactMap { $0.scores[method] }
                let psnr = all.map(\.psnr).reduce(0, +) / Double(all.count)
                let ssim = all.map(\.ssim).reduce(0, +) / Double(all.count)
                let frames = all.map(\.frames).reduce(0, +)
                let psnrF = all.map(\.psnrSum).reduce(0, +) / Double(frames)
                let ssimF = all.map(\.ssimSum).reduce(0, +) / Double(frames)
                print("summary task=\(task.rawValue) method=\(method) psnr=\(fmt(psnr, 2)) ssim=\(fmt(ssim, 4)) "
                      + "psnr_frames=\(fmt(psnrF, 2)) ssim_frames=\(fmt(ssimF, 4)) videos=\(all.count) frames=\(frames)")
                table.append("| \(method) | \(fmt(psnr, 2)) | \(fmt(ssim, 3)) | \(fmt(psnrF, 2)) | \(fmt(ssimF, 3)) | \(all.count) | \(frames) |")
            }
            if !skipped.isEmpty { print("# skipped: \(skipped.joined(separator: ", "))") }
            if let runner, runner.clock.frames > 0 {
                let c = runner.clock
                print("model_time targets=\(c.frames) seconds=\(fmt(c.seconds, 2)) ms_per_target=\(fmt(1000 * c.seconds / Double(c.frames), 1)) "
                      + "targets_per_s=\(fmt(Double(c.frames) / c.seconds, 2)) (frame mapping, resampling, base and sampler; \(Engine.threads) thread(s))")
            }
            print("")
            print(table.joined(separator: "\n"))

            if let strip, !stripRows[0].isEmpty {
                let grid = makeGrid(stripRows, channels: colour.count, width: stripSide, height: stripSide, scale: stripScale)
                try PNG.write(path: strip, width: grid.width, height: grid.height, channels: 3, pixels: grid.pixels)
                print("\nwrote \(strip) (\(grid.width)x\(grid.height)): rows truth, \(methods.joined(separator: ", ")); "
                      + "\(stripRows[0].count) target frames")
            }
        }

        /// The frames as evaluated: `crop` applied to the decoded ones.
        func cropped(_ v: DecodedVideo) -> DecodedVideo {
            switch crop {
            case .square:
                return Evaluation.centreCrop(v, size: min(size, v.width))
            case .full:
                let w = v.width / 8 * 8, x0 = (v.width - w) / 2, c = v.channels
                guard w != v.width else { return v }
                let frames = v.frames.map { fr -> [UInt8] in
                    var out: [UInt8] = []
                    out.reserveCapacity(w * v.height * c)
                    for y in 0..<v.height {
                        let row = (y * v.width + x0) * c
                        out += fr[row ..< row + w * c]
                    }
                    return out
                }
                return DecodedVideo(path: v.path, width: w, height: v.height, channels: c, rateN: v.rateN, rateD: v.rateD, frames: frames)
            }
        }

        /// minterpolate's estimates of `targets`: the kept frames of `range` (even offsets) doubled in rate.
        func minterpolated(_ v: DecodedVideo, range: Range<Int>, targets: [Int], ffmpeg: String) throws -> [[UInt8]] {
            let last = targets.max()! + 1
            let kept = stride(from: range.lowerBound, through: last, by: 2).map { v.frames[$0] }
            let out = try Evaluation.minterpolate(kept, width: v.width, height: v.height, channels: v.channels, ffmpeg: ffmpeg)
            // Alignment: the kept frames must come back in place (gray exactly, RGB within 1 level).
            for (i, k) in kept.enumerated() {
                let off = zip(out[2 * i], k).reduce(0) { max($0, abs(Int($1.0) - Int($1.1))) }
                guard off <= (v.channels == 1 ? 0 : 1) else {
                    throw CLIError("minterpolate output frame \(2 * i) differs from kept frame \(i) by \(off): misaligned")
                }
            }
            return targets.map { out[$0 - range.lowerBound] }
        }

        /// --frames-out: the kept frames of the range (kept-NNNN.png) and, per target (gap (t - start - 1) / 2),
        /// the truth and each method's frame, in DIR/<video name>/.
        func writeFrames(_ dir: String, video v: DecodedVideo, name: String, range: Range<Int>, targets: [Int], methods: [String],
                         estimates: [[[UInt8]]]) throws {
            let folder = "\(dir)/\(name)"
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            func write(_ file: String, _ frame: [UInt8]) throws {
                try PNG.write(path: "\(folder)/\(file).png", width: v.width, height: v.height, channels: v.channels, pixels: frame)
            }
            for (j, t) in stride(from: range.lowerBound, to: range.upperBound, by: 2).enumerated() {
                try write(String(format: "kept-%04d", j), v.frames[t])
            }
            for (i, t) in targets.enumerated() {
                let gap = String(format: "%04d", (t - range.lowerBound - 1) / 2)
                try write("truth-\(gap)", v.frames[t])
                for (m, method) in methods.enumerated() { try write("\(method)-\(gap)", estimates[m][i]) }
            }
        }
    }
}

/// Running sums of one method on one video.
struct Score {
    var psnrSum = 0.0, ssimSum = 0.0, frames = 0, capped = 0
    var psnr: Double { psnrSum / Double(max(frames, 1)) }
    var ssim: Double { ssimSum / Double(max(frames, 1)) }

    mutating func add(truth: [UInt8], estimate: [UInt8], width: Int, height: Int, channels: Int) {
        let p = Metrics.psnr(truth, estimate)
        if p == Metrics.psnrCap { capped += 1 }
        psnrSum += p
        ssimSum += Metrics.ssim(truth, estimate, width: width, height: height, channels: channels)
        frames += 1
    }
}

func fmt(_ x: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", x) }

/// Rows of frames as one RGB image, magnified by `scale`, 2 px apart.
func makeGrid(_ rows: [[[UInt8]]], channels c: Int, width: Int, height: Int, scale s: Int) -> (width: Int, height: Int, pixels: [UInt8]) {
    let gap = 2, cols = rows.map(\.count).max() ?? 0
    let cellW = width * s, cellH = height * s
    let gridW = cols * cellW + (cols - 1) * gap, gridH = rows.count * cellH + (rows.count - 1) * gap
    var px = [UInt8](repeating: 0, count: gridW * gridH * 3)
    for (r, row) in rows.enumerated() {
        for (i, frame) in row.enumerated() {
            let left = i * (cellW + gap), top = r * (cellH + gap)
            for y in 0..<cellH {
                for x in 0..<cellW {
                    let src = ((y / s) * width + x / s) * c
                    let dst = ((top + y) * gridW + left + x) * 3
                    for ch in 0..<3 { px[dst + ch] = frame[src + (c == 3 ? ch : 0)] }
                }
            }
        }
    }
    return (gridW, gridH, px)
}
