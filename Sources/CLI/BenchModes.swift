// `mcvd bench --modes ...`: output frames/s of the element's three diffusion uses, run through the library
// calls the element makes (MCVDKit), without the pipeline:
//   interpolate  mode=interpolate at 2x: per gap, one new original mapped to the model's input
//                (FrameView.planar, FrameGenerator.prepare), FrameGenerator.sample on the k past and f future
//                originals, the inserted frame written into a copy of the earlier original (keepColour);
//                output frames = the original + the inserted frame (2 per gap).
//   predict      mode=predict on a stream missing every other frame: per missing frame, one arriving
//                original mapped, FrameGenerator.extend(history, count: 1) on the grid's last (k - 1) s + 1
//                frames (originals and earlier predictions), the prediction written over a copy of the
//                last original; output frames = the original + the prediction (2 per model call).
//   generate     mcvdsrc: Rollout on a Generator at the frame's own size (mcvdsrc's limit: 640 x 480
//                pixels), each block's n frames written to the model's own format (GRAY8 or RGB);
//                output frames = n per block, all generated.
// Frames are synthetic I420 (interpolate, predict): a texture moving 3 px right and 1 px down per input
// frame, so that a motion-base model's base does real work. One line per case; each case times `iters`
// units (gaps, missing frames, blocks) after one warm-up unit and reports the medians of their wall time,
// of its sampling part and of the process's CPU time.
import Diffusion
import Foundation
import MCVDKit
import Tensor

enum BenchMode: String, CaseIterable {
    case interpolate, predict, generate

    var task: Diffusion.Task {
        switch self {
        case .interpolate: .interpolate
        case .predict: .predict
        case .generate: .generate
        }
    }
}

/// The parsed mode-bench arguments (argument errors name the option and the bad item).
struct ModeBenchPlan {
    var modes: [BenchMode]
    var sizes: [(width: Int, height: Int)]
    var steps: [Int]
    var threads: [Int]
    var processingSize: Int
    /// nil: the model's default for the mode, as the element's ensemble=0.
    var ensemble: Int?
    var iters: Int

    static func modes(_ text: String) throws -> [BenchMode] {
        let items = text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        let list = try items.map { item -> BenchMode in
            guard let m = BenchMode(rawValue: item) else {
                throw CLIError("--modes: unknown mode \"\(item)\" (one or more of \(BenchMode.allCases.map(\.rawValue).joined(separator: ", ")), comma-separated)")
            }
            return m
        }
        guard !list.isEmpty else { throw CLIError("--modes: give at least one mode") }
        return list
    }

    /// "64x64,320x240" (W x H); a bare "64" is 64x64.
    static func sizes(_ text: String) throws -> [(width: Int, height: Int)] {
        let items = text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        return try items.map { item in
            let parts = item.lowercased().split(separator: "x", omittingEmptySubsequences: false)
            let v = parts.map { Int($0) }
            guard (1...2).contains(v.count), let w = v[0], let h = v.last!, w > 0, h > 0, w <= 7680, h <= 4320 else {
                throw CLIError("--sizes: \"\(item)\" is not a frame size WIDTHxHEIGHT (e.g. 320x240; 1 to 7680 x 4320)")
            }
            return (w, h)
        }
    }

    static func positiveList(_ text: String, option: String) throws -> [Int] {
        let list = try intList(text, option: option)
        guard !list.isEmpty, list.allSatisfy({ $0 >= 1 }) else {
            throw CLIError("\(option): \"\(text)\" must be a comma-separated list of integers >= 1")
        }
        return list
    }
}

enum ModeBench {
    /// Runs every (mode, size, steps, threads) case and prints one line per case.
    static func run(_ plan: ModeBenchPlan, models: [BenchMode: Model]) {
        print("# \(Engine.pathDescription)")
        var sources: [String] = []       // each model file once, with the modes it serves
        for mode in plan.modes where !sources.contains(models[mode]!.source) { sources.append(models[mode]!.source) }
        for source in sources {
            let modes = plan.modes.filter { models[$0]!.source == source }, model = models[modes[0]]!
            print("# model \(source) (\(modes.map(\.rawValue).joined(separator: ", "))): \(model.summary); n=\(model.frames) past=\(model.past) "
                  + "future=\(model.future) condition_stride=\(model.conditionStride) base=\(model.residual ? model.base.rawValue : "none")")
        }
        print("# processing_size=\(plan.processingSize) (interpolate, predict; generate runs at the frame size as mcvdsrc); "
              + "median of \(plan.iters) unit(s) after 1 warm-up; fps = output frames/s (interpolate 2x and predict: "
              + "an original and a generated frame per unit; generate: n generated frames per block); "
              + "model_ms = library sampling time per generated frame; unit_ms = the whole unit (mapping in and out included); "
              + "cpu_ms = the process's CPU time per unit, all threads (on a loaded machine wall times grow, CPU times much less)")
        print("# \(cpuName()), \(System.cores) cores, load average \(loadAverage()) at the start, \(isoNow())")
        for mode in plan.modes {
            let model = models[mode]!
            for size in plan.sizes {
                for steps in plan.steps {
                    for threads in plan.threads {
                        var line = "mode=\(mode.rawValue) size=\(size.width)x\(size.height) steps=\(steps) threads=\(threads) "
                            + "kernels=\(Engine.path.rawValue)"
                        do {
                            let r = try Engine.$threadsInTask.withValue(threads) {
                                try measure(mode, model: model, width: size.width, height: size.height, steps: steps,
                                            processingSize: plan.processingSize, ensemble: plan.ensemble, iters: plan.iters)
                            }
                            line += " working=\(r.working) fps=\(f2(r.outputs / r.unitSeconds)) model_ms=\(f2(r.modelSeconds / r.generated * 1e3)) "
                                + "unit_ms=\(f2(r.unitSeconds * 1e3)) cpu_ms=\(f2(r.cpuSeconds * 1e3)) out_per_unit=\(Int(r.outputs)) generated_per_unit=\(Int(r.generated))"
                        } catch {
                            line += " refused=\"\(String(describing: error).replacingOccurrences(of: "\"", with: "'"))\""
                        }
                        print(line)
                        fflush(nil)
                    }
                }
            }
        }
    }

    struct Result {
        var working: String
        /// Median seconds of one unit, of its sampling part, and the process's CPU seconds per unit.
        var unitSeconds: Double, modelSeconds: Double, cpuSeconds: Double
        var outputs: Double, generated: Double

        init(working: String, timer: UnitTimer, outputs: Double, generated: Double) {
            self.working = working
            unitSeconds = median(timer.units); modelSeconds = median(timer.sampling); cpuSeconds = median(timer.cpu)
            self.outputs = outputs; self.generated = generated
        }
    }

    static func measure(_ mode: BenchMode, model: Model, width: Int, height: Int, steps: Int, processingSize: Int,
                        ensemble: Int?, iters: Int) throws -> Result {
        guard steps <= model.config.diffusion.numSteps else {
            throw MCVDKitError("steps \(steps) exceeds the model's \(model.config.diffusion.numSteps) noise levels")
        }
        let settings = SamplingSettings(steps: steps, seed: 1, ensemble: ensemble)
        switch mode {
        case .interpolate, .predict:
            let work = model.workingSize(height: height, width: width, processingSize: processingSize)
            guard work.width * work.height <= maxPixels else {
                throw MCVDKitError("the element refuses this: the model would run at \(work.width)x\(work.height), "
                                   + "above \(maxPixels) pixels (processing-size \(processingSize))")
            }
            let generator = try FrameGenerator(model: model, height: height, width: width, processingSize: processingSize,
                                               settings: settings)
            let working = "\(generator.workingWidth)x\(generator.workingHeight) ensemble=\(generator.generator.ensemble(for: mode.task))"
            return mode == .interpolate
                ? try interpolate(generator, width: width, height: height, iters: iters, working: working)
                : try predict(generator, width: width, height: height, iters: iters, working: working)
        case .generate:
            guard width * height <= maxPixels else {
                throw MCVDKitError("mcvdsrc runs the model at the frame size, at most \(maxPixels) pixels")
            }
            try model.checkGeneration(count: nil)
            let generator = try Generator(model: model, height: height, width: width, settings: settings)
            return try generate(generator, iters: iters)
        }
    }

    /// The element's limit on the size the model runs at (DiffusionEngine.maxPixels, mcvdsrc's caps).
    static let maxPixels = 640 * 480

    static func interpolate(_ g: FrameGenerator, width: Int, height: Int, iters: Int, working: String) throws -> Result {
        let model = g.model, k = model.past, f = model.future
        let frames = try (0..<(k + f + iters)).map { try testFrame($0, width: width, height: height) }
        let map = { (b: FrameBuffer) throws -> FrameGenerator.Prepared in
            try g.prepare(try b.view.planar(channels: model.channels, range: model.range))
        }
        // The originals a gap conditions on are prepared once, when they arrive (the element's cache).
        var prepared = try frames.prefix(k + f - 1).map(map)
        var timer = UnitTimer()
        for gap in 0...iters {                      // gap 0 warms up
            timer.start()
            prepared.append(try map(frames[gap + k + f - 1]))
            let window = Array(prepared[gap ..< gap + k + f])
            timer.startSampling()
            let made = try g.sample(task: .interpolate, prepared: [(past: Array(window.prefix(k)), future: Array(window.suffix(f)))],
                                    noiseBlock: UInt32(gap))[0]
            timer.endSampling()
            _ = try render(made[made.count / 2], over: frames[gap + k - 1], model: model)
            timer.end(keep: gap > 0)
        }
        return Result(working: working, timer: timer, outputs: 2, generated: 1)
    }

    static func predict(_ g: FrameGenerator, width: Int, height: Int, iters: Int, working: String) throws -> Result {
        let model = g.model
        let span = model.span(model.past)
        // Input frames 2i arrive; frames 2i + 1 are missing and predicted.
        let frames = try (0..<(span + iters + 1)).map { try testFrame(2 * $0, width: width, height: height) }
        let map = { (b: FrameBuffer) throws -> [Float] in try b.view.planar(channels: model.channels, range: model.range) }
        var history: [[Float]] = []
        var next = 0
        // Fill the history as the element does before it predicts (its fallback repeats until then).
        while history.count < span {
            history.append(try map(frames[next])); next += 1
            if history.count < span { history.append(history.last!) }
        }
        var timer = UnitTimer()
        for call in 0...iters {
            timer.start()
            let original = frames[next]
            history.append(try map(original)); next += 1
            if history.count > span { history.removeFirst(history.count - span) }
            timer.startSampling()
            let made = try g.extend(history, count: 1, noiseBlock: UInt32(call))
            timer.endSampling()
            _ = try render(made[0], over: original, model: model)
            history.append(made[0])
            if history.count > span { history.removeFirst(history.count - span) }
            timer.end(keep: call > 0)
        }
        return Result(working: working, timer: timer, outputs: 2, generated: 1)
    }

    static func generate(_ g: Generator, iters: Int) throws -> Result {
        let model = g.model
        let rollout = Rollout(generator: g)
        let format: PixelFormat = model.channels == 1 ? .gray8 : .rgb
        var timer = UnitTimer()
        for block in 0...iters {
            timer.start()
            timer.startSampling()
            let made = try rollout.next()
            timer.endSampling()
            for frame in made {
                let out = try FrameBuffer(format: format, width: g.width, height: g.height)
                try out.view.write(frame, channels: model.channels, range: model.range)
            }
            timer.end(keep: block > 0)
        }
        let n = Double(model.frames)
        return Result(working: "\(g.width)x\(g.height) ensemble=\(g.ensemble(for: .generate))", timer: timer, outputs: n, generated: n)
    }

    /// A new frame: a copy of `base` with the model's frame written over it (the element's render).
    static func render(_ planar: [Float], over base: FrameBuffer, model: Model) throws -> FrameBuffer {
        let out = try FrameBuffer(format: base.format, width: base.width, height: base.height, bytes: base.bytes, colour: base.colour)
        try out.view.write(planar, channels: model.channels, range: model.range, keepColour: true)
        return out
    }

    /// Synthetic I420 input frame `t`: a smooth texture plus fine detail, moving (3, 1) px per frame.
    static func testFrame(_ t: Int, width w: Int, height h: Int) throws -> FrameBuffer {
        let cw = (w + 1) / 2, ch = (h + 1) / 2
        var bytes = [UInt8](repeating: 128, count: w * h + 2 * cw * ch)
        let dx = Double(3 * t), dy = Double(t)
        for y in 0..<h {
            for x in 0..<w {
                let u = Double(x) - dx, v = Double(y) - dy
                let smooth = 0.5 + 0.25 * sin(u * 0.11) * cos(v * 0.07) + 0.15 * sin((u + v) * 0.031)
                let detail = ((Int((u + 4096).rounded(.down)) / 4 + Int((v + 4096).rounded(.down)) / 4) & 1) == 0 ? 0.08 : -0.08
                bytes[y * w + x] = UInt8(max(16, min(235, 16 + 219 * (smooth + detail))))
            }
        }
        for y in 0..<ch {
            for x in 0..<cw {
                bytes[w * h + y * cw + x] = UInt8(128 + 40 * sin(Double(2 * x - 3 * t) * 0.05))
                bytes[w * h + cw * ch + y * cw + x] = UInt8(128 + 40 * cos(Double(2 * y - t) * 0.04))
            }
        }
        return try FrameBuffer(format: .i420, width: w, height: h, bytes: bytes)
    }

    static func cpuName() -> String {
        let info = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let line = info.split(separator: "\n").first { $0.hasPrefix("model name") }
        return line.map { $0.split(separator: ":", maxSplits: 1).last!.trimmingCharacters(in: .whitespaces) } ?? "unknown CPU"
    }

    static func loadAverage() -> String {
        let s = (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8)) ?? ""
        return s.split(separator: " ").prefix(3).joined(separator: " ")
    }

    static func isoNow() -> String {
        let f = ISO8601DateFormatter()
        return f.string(from: Date())
    }
}

/// Wall time in ns (the mode bench runs several threads: MCVD_BENCH_CLOCK=thread does not apply).
func wallClock() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

/// CPU time of the whole process (user + system, every thread) in ns.
func processCPU() -> UInt64 {
    var u = rusage()
    getrusage(RUSAGE_SELF.rawValue, &u)
    let us = (Int(u.ru_utime.tv_sec) + Int(u.ru_stime.tv_sec)) * 1_000_000 + Int(u.ru_utime.tv_usec) + Int(u.ru_stime.tv_usec)
    return UInt64(us) * 1000
}

/// Times units of work: wall time, the part of it spent sampling, and the process's CPU time.
struct UnitTimer {
    var units: [Double] = [], sampling: [Double] = [], cpu: [Double] = []
    private var wall0: UInt64 = 0, cpu0: UInt64 = 0, sample0: UInt64 = 0, sampled: UInt64 = 0

    mutating func start() { wall0 = wallClock(); cpu0 = processCPU(); sampled = 0 }
    mutating func startSampling() { sample0 = wallClock() }
    mutating func endSampling() { sampled += wallClock() - sample0 }
    /// Ends the unit; `keep` false drops it (the warm-up).
    mutating func end(keep: Bool) {
        let wall = wallClock(), c = processCPU()
        guard keep else { return }
        units.append(Double(wall - wall0) * 1e-9); sampling.append(Double(sampled) * 1e-9); cpu.append(Double(c - cpu0) * 1e-9)
    }
}

enum System {
    static let cores: Int = Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
}
