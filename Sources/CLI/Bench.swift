// `mcvd bench`: median U-Net forward time per (case, size, threads), achieved GFLOP/s beside this
// machine's sgemm rate measured in the same run, and PyTorch's time for the same model when python3 has
// torch and the reference checkout is given: tools/bench_torch.py --serve stays alive in one process
// and the two sides alternate in rounds (ours, PyTorch, ours, ...), so that load on a shared machine
// hits both alike; the speedup is the median of the per-round ratios, with their spread.
// With --modes: output frames/s of the element's diffusion modes through MCVDKit (BenchModes.swift).
import ArgumentParser
import Foundation
import MCVDKit
import Tensor
import UNet

extension Mcvd {
    struct Bench: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Time U-Net forwards (Swift, and PyTorch when available) on the fixture configs; with --modes, output frames/s of the element's diffusion modes on a model.")

        @Option(help: "Comma-separated frame sizes: square sizes of the U-Net forwards (default 64,128; the architecture is built for each size as the reference would); with --modes WIDTHxHEIGHT (default 64x64,320x240,1280x720).")
        var sizes: String?

        @Option(help: "Time the element's uses of a model instead (comma-separated: interpolate, predict, generate): one line per mode, size, steps and threads with output frames/s.")
        var modes: String?

        @Option(help: "With --modes: comma-separated sampler steps.")
        var steps: String = "1,2,4,10"

        @Option(help: "With --modes: the model file (default: the default model of each mode, as for the element's empty model=).")
        var model: String = "default"

        @Option(help: "With --modes: rows the model runs at for interpolate and predict (the element's processing-size; 0 = native).")
        var processingSize: Int = 64

        @Option(help: "With --modes: the test-time ensemble (1, 2 or 4; default: the element's, the model's default for the mode).")
        var ensemble: Int?

        @Option(help: "Timed forwards per measurement (after 2 warm-up forwards; default 10), or with --modes timed units per case (after 1 warm-up; default 3); the median is reported.")
        var iters: Int?

        @Option(help: "Batch size.")
        var batch: Int = 1

        @Flag(help: "Also print time per layer kind (conv3x3, conv1x1, norm, attention, ...).")
        var breakdown = false

        @Flag(help: "Time single ops (conv3x3, GroupNorm+SiLU) at typical shapes instead of whole forwards.")
        var ops = false

        @Option(help: "With --ops: conv3x3 shapes as inChannels,outChannels,size separated by ';' (default: the fixtures' shapes).")
        var opShapes: String?

        @Option(help: "Instead of timing: run this many forwards per case/size/threads and print resident memory (statm) growth after the first.")
        var memory: Int?

        @Flag(help: "Time the motion interpolator (method=motion) stages at 320x240 and 1280x720 instead.")
        var motion = false

        @Option(help: "The PyTorch bench script.")
        var torchScript: String = "tools/bench_torch.py"

        @Option(help: "With --reference: alternating rounds of ours then PyTorch per measurement.")
        var rounds: Int = 9

        @Option(help: "With --reference: timed forwards per side per round (the round's figure is their median).")
        var roundIters: Int = 3

        func validate() throws {
            guard iters.map({ $0 >= 1 }) ?? true, batch >= 1, rounds >= 1, roundIters >= 1 else {
                throw ValidationError("--iters, --batch, --rounds and --round-iters must be >= 1")
            }
            if modes != nil {
                do { _ = try modePlan() } catch { throw ValidationError("\(error)") }
                return
            }
            guard !sizeList.isEmpty, sizeList.allSatisfy({ $0 >= 8 }) else { throw ValidationError("--sizes: sizes >= 8") }
            guard opShapeList != nil else { throw ValidationError("--op-shapes: give c,o,size triples of positive numbers separated by ';'") }
        }

        var opShapeList: [(Int, Int, Int)]? {
            guard let opShapes else { return OpsBench.defaultShapes }
            var list: [(Int, Int, Int)] = []
            for item in opShapes.split(separator: ";") {
                let v = item.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
                guard v.count == 3, v.allSatisfy({ $0 > 0 }) else { return nil }
                list.append((v[0], v[1], v[2]))
            }
            return list.isEmpty ? nil : list
        }

        @OptionGroup var fixture: FixtureOptions
        var threadList: [Int] { fixture.threadList }
        var fixtures: String { fixture.fixtures }
        var sizeList: [Int] { (sizes ?? "64,128").split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) } }
        var forwardIters: Int { iters ?? 10 }

        func modePlan() throws -> ModeBenchPlan {
            guard processingSize >= 0 else { throw CLIError("--processing-size must be >= 0 (0 = native)") }
            if let ensemble, ![1, 2, 4].contains(ensemble) { throw CLIError("--ensemble must be 1, 2 or 4") }
            return ModeBenchPlan(modes: try ModeBenchPlan.modes(modes ?? ""),
                                 sizes: try ModeBenchPlan.sizes(sizes ?? "64x64,320x240,1280x720"),
                                 steps: try ModeBenchPlan.positiveList(steps, option: "--steps"),
                                 threads: try fixture.threads.map { try ModeBenchPlan.positiveList($0, option: "--threads") }
                                     ?? [min(4, max(1, System.cores))],
                                 processingSize: processingSize, ensemble: ensemble, iters: iters ?? 3)
        }

        func run() throws {
            if modes != nil {
                let plan = try modePlan()
                // Each mode's model: the default model is the mode's (prediction has its own file).
                var loaded: [BenchMode: Model] = [:]
                for mode in plan.modes {
                    do { loaded[mode] = try Model(pathOrDefault: model, task: mode.task) } catch { throw CLIError("--model \(model): \(error)") }
                }
                ModeBench.run(plan, models: loaded)
                return
            }
            if motion { MotionBench.run(sizes: [(320, 240), (1280, 720)], threads: threadList, iters: forwardIters); return }
            if ops { for t in threadList { OpsBench.run(threads: t, iters: forwardIters, shapes: opShapeList!) }; return }
            if let memory { try memoryCheck(forwards: memory); return }
            let ref = fixture.referencePath
            let torch = ref.flatMap { TorchServer(script: torchScript, reference: $0, fixtures: fixtures) }
            if ref != nil && torch == nil { print("# torch side disabled: python3 cannot import torch or \(torchScript) is missing") }
            Engine.setThreads(1)
            print("# \(Engine.pathDescription)")
            if threadClock { print("# MCVD_BENCH_CLOCK=thread: Swift times are the calling thread's CPU time") }
            print("# blas core: \(blasCoreName); threads are ours (BLAS single-threaded inside each part); "
                  + "convolutions: \(Engine.path.tiles ? "\(Engine.path.rawValue) tiles" : "OpenBLAS")")
            var sgemm: [Int: Double] = [:]
            for t in threadList { sgemm[t] = measureSgemm(threads: t) }
            for name in fixture.caseList {
                let path = "\(fixtures)/\(name)/model.safetensors"
                let loaded = try UNet(path: path), base = loaded.config
                for size in sizeList {
                    // At the fixture's own size: its weights, and the parity error of this run's kernels.
                    let net = size == base.imageSize ? loaded : try UNet(config: base.resized(size))
                    if net !== loaded { net.randomize(seed: 7) }
                    for t in threadList {
                        Engine.setThreads(t)
                        let r = measure(net, size: size)
                        var line = "case=\(name) size=\(size) threads=\(t) batch=\(batch) swift_ms=\(f1(r.ms)) swift_min=\(f1(r.min)) "
                            + "gflops=\(f0(r.gflop / r.ms * 1e3)) gflop=\(f2(r.gflop)) sgemm_gflops=\(f0(sgemm[t]!))"
                        if net === loaded, let err = parityError(net, vectors: "\(fixtures)/\(name)/vectors.safetensors") {
                            line += " parity=\(String(format: "%.1e", err))"
                        }
                        if let torch, torch.setup(case: name, size: size, threads: t, batch: batch) {
                            line += alternate(net, size: size, torch: torch)
                        }
                        print(line)
                        if breakdown { print(r.breakdown) }
                    }
                }
            }
            Parallel.shared.threads = 1
        }

        func memoryCheck(forwards: Int) throws {
            func rss() -> Int {
                let s = (try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8)) ?? ""
                return (Int(s.split(separator: " ").dropFirst().first ?? "") ?? 0) * Int(sysconf(Int32(_SC_PAGESIZE)))
            }
            for name in fixture.caseList {
                let net = try UNet(path: "\(fixtures)/\(name)/model.safetensors")
                for size in sizeList { for t in threadList {
                    Engine.setThreads(t)
                    let c = net.config
                    let x = [Float](repeating: 0.1, count: batch * c.outputChannels * size * size)
                    let cond = [Float](repeating: -0.2, count: batch * c.condChannels * size * size)
                    var out = [Float](repeating: 0, count: x.count)
                    func once() {
                        x.withUnsafeBufferPointer { xp in cond.withUnsafeBufferPointer { cp in out.withUnsafeMutableBufferPointer { op in
                            net.forward(x: xp.baseAddress!, t: [Float](repeating: 500, count: batch), cond: cp.baseAddress!, n: batch,
                                        h: size, w: size, into: op.baseAddress!)
                        } } }
                    }
                    once()
                    let r0 = rss(), a0 = net.arena.allocations
                    let t0 = DispatchTime.now().uptimeNanoseconds
                    for _ in 0..<forwards { once() }
                    let secs = Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9
                    print("memory case=\(name) size=\(size) threads=\(t) forwards=\(forwards) rss_after_first_kib=\(r0 / 1024) "
                          + "rss_growth_kib=\((rss() - r0) / 1024) arena_allocations=\(net.arena.allocations - a0) "
                          + "arena_kib=\(net.arena.highWater * 4 / 1024) seconds=\(f1(secs))")
                } }
            }
        }

        /// max|out - ref| / max|ref| on the fixture's reference vectors, or nil without them.
        func parityError(_ net: UNet, vectors path: String) -> Double? {
            guard let v = try? SafeTensors(path: path), let shape = v.shape("x_t"), let ref = try? v.floats("out"),
                  let x = try? v.floats("x_t"), let t = try? v.floats("t"), let cond = try? v.floats("cond") else { return nil }
            let out = net.forward(x: x, t: t, cond: cond, n: shape[0], h: shape[2], w: shape[3])
            let diff = zip(out, ref).map { abs($0 - $1) }.max() ?? 0, scale = ref.map { abs($0) }.max() ?? 1
            return Double(diff / scale)
        }

        /// A timed forward (ms) of `net` at `size` on fixed pseudo-random inputs.
        func forwarder(_ net: UNet, size: Int) -> (Profile?) -> Double {
            let c = net.config, n = batch
            var seed: UInt64 = 99
            func rnd(_ k: Int) -> [Float] {
                (0..<k).map { _ in seed = seed &* 6364136223846793005 &+ 1442695040888963407; return Float(Int64(bitPattern: seed >> 11) % 2000) / 1000 - 1 }
            }
            let x = rnd(n * c.outputChannels * size * size), cond = rnd(n * c.condChannels * size * size)
            var out = [Float](repeating: 0, count: x.count)
            let t = [Float](repeating: 500, count: n)
            return { profile in
                let t0 = benchClock()
                x.withUnsafeBufferPointer { xp in cond.withUnsafeBufferPointer { cp in out.withUnsafeMutableBufferPointer { op in
                    net.forward(x: xp.baseAddress!, t: t, cond: c.condChannels > 0 ? cp.baseAddress! : nil, n: n, h: size,
                                w: size, into: op.baseAddress!, profile: profile)
                } } }
                return Double(benchClock() - t0) * 1e-6
            }
        }

        /// `rounds` rounds of `roundIters` forwards of ours, then as many of PyTorch's (set up already):
        /// the fields of the result line (medians over all forwards of each side, the median per-round
        /// ratio with its quartiles and range).
        func alternate(_ net: UNet, size: Int, torch: TorchServer) -> String {
            let once = forwarder(net, size: size)
            var ours: [Double] = [], theirs: [Double] = [], ratios: [Double] = []
            for _ in 0..<rounds {
                let a = (0..<roundIters).map { _ in once(nil) }
                guard let b = torch.run(roundIters) else { return " torch=failed" }
                ours += a; theirs += b
                ratios.append(median(b) / median(a))
            }
            return " alt_swift_ms=\(f1(median(ours))) torch_ms=\(f1(median(theirs))) torch_min=\(f1(theirs.min()!))"
                + ratioFields(ratios) + " rounds=\(rounds)x\(roundIters)"
        }

        func measure(_ net: UNet, size: Int) -> (ms: Double, min: Double, gflop: Double, breakdown: String) {
            let once = forwarder(net, size: size)
            let counter = Profile(timing: false)
            _ = once(counter); _ = once(nil)
            let times = (0..<forwardIters).map { _ in once(nil) }.sorted()
            var text = ""
            if breakdown {
                let p = Profile(timing: true)
                p.threadClock = threadClock
                let rounds = max(1, forwardIters / 2)
                var total = 0.0
                for _ in 0..<rounds { total += once(p) }
                let parts = Profile.Kind.allCases.compactMap { k -> String? in
                    let s = p.seconds[k, default: 0] * 1e3 / Double(rounds)
                    guard s > 0 else { return nil }
                    let fl = Double(p.flops[k, default: 0]) / Double(rounds)
                    return "\(k.rawValue)=\(f2(s))ms" + (fl > 0 ? "(\(f0(fl / s * 1e-6))GF/s)" : "")
                }
                let accounted = Profile.Kind.allCases.reduce(0.0) { $0 + p.seconds[$1, default: 0] } * 1e3 / Double(rounds)
                text = "  breakdown " + parts.joined(separator: " ") + " other=\(f2(total / Double(rounds) - accounted))ms"
                for (label, d) in p.detail.sorted(by: { $0.value.seconds > $1.value.seconds }) {
                    let ms = d.seconds * 1e3 / Double(rounds)
                    text += "\n    \(label): calls=\(d.calls / rounds) ms=\(f2(ms)) GF/s=\(f0(Double(d.flops) / d.seconds * 1e-9))"
                }
            }
            return (median(times), times[0], Double(counter.totalFlops) * 1e-9, text)
        }
    }
}

func f0(_ v: Double) -> String { String(format: "%.0f", v) }
func f1(_ v: Double) -> String { String(format: "%.1f", v) }
func f2(_ v: Double) -> String { String(format: "%.2f", v) }

/// " speedup=<median> speedup_iqr=<q1>-<q3> speedup_range=<min>-<max>" of per-round ratios.
func ratioFields(_ ratios: [Double]) -> String {
    let q = ratios.sorted()
    func quantile(_ p: Double) -> Double { q[min(q.count - 1, Int((Double(q.count - 1) * p).rounded()))] }
    return " speedup=\(f2(median(ratios))) speedup_iqr=\(f2(quantile(0.25)))-\(f2(quantile(0.75)))"
        + " speedup_range=\(f2(q.first!))-\(f2(q.last!))"
}

func median(_ values: [Double]) -> Double {
    let v = values.sorted(), k = v.count
    return k % 2 == 1 ? v[k / 2] : (v[k / 2 - 1] + v[k / 2]) / 2
}

/// tools/bench_torch.py --serve as one long-lived process: `setup` a model, then `run` timed forwards.
final class TorchServer {
    private let process = Process()
    private let input = Pipe(), output = Pipe()
    private var buffer = Data()

    init?(script: String, reference: String, fixtures: String, arguments: [String] = []) {
        guard FileManager.default.fileExists(atPath: script),
              TorchServer.shell(["python3", "-c", "import torch"]).status == 0 else { return nil }
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script, "--serve", "--reference", reference, "--fixtures", fixtures] + arguments
        process.standardInput = input; process.standardOutput = output
        do { try process.run() } catch { return nil }
    }

    deinit {
        if process.isRunning { try? input.fileHandleForWriting.write(contentsOf: Data("quit\n".utf8)) }
        process.waitUntilExit()
    }

    /// One command, one answer line (nil when the process ended).
    private func ask(_ command: String) -> String? {
        guard process.isRunning else { return nil }
        do { try input.fileHandleForWriting.write(contentsOf: Data((command + "\n").utf8)) } catch { return nil }
        while true {
            if let nl = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: buffer[..<nl], as: UTF8.self)
                buffer.removeSubrange(...nl)
                return line
            }
            let more = output.fileHandleForReading.availableData
            if more.isEmpty { return nil }
            buffer.append(more)
        }
    }

    func setup(case name: String, size: Int, threads: Int, batch: Int) -> Bool {
        let answer = ask("setup \(name) \(size) \(threads) \(batch)") ?? "no answer"
        if !answer.hasPrefix("ready") { FileHandle.standardError.write(Data("bench_torch: \(answer)\n".utf8)) }
        return answer.hasPrefix("ready")
    }

    /// k timed forwards (ms).
    func run(_ k: Int) -> [Double]? {
        guard let answer = ask("run \(k)"), answer.hasPrefix("times_ms=") else { return nil }
        let times = answer.dropFirst("times_ms=".count).split(separator: ",").compactMap { Double($0) }
        return times.count == k ? times : nil
    }

    static func shell(_ args: [String]) -> (status: Int32, output: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = args
        let pipe = Pipe()
        p.standardOutput = pipe; p.standardError = pipe
        do { try p.run() } catch { return (-1, "\(error)") }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
