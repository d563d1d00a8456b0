// `mcvd bench --ops`: single ops at the U-Net's typical shapes (batch 1), for tuning the engine.
import Foundation
import Tensor

/// Nanoseconds for timing: wall clock, or with MCVD_BENCH_CLOCK=thread the calling thread's CPU time
/// (CLOCK_THREAD_CPUTIME_ID), which time slices given to other processes on a shared machine do not
/// inflate: for comparing kernels at 1 thread there (with 2 or more it leaves out the workers' time).
func benchClock() -> UInt64 {
    if threadClock {
        var ts = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }
    return DispatchTime.now().uptimeNanoseconds
}
let threadClock = ProcessInfo.processInfo.environment["MCVD_BENCH_CLOCK"] == "thread"

enum OpsBench {
    static func time(_ iters: Int, _ body: () -> Void) -> Double {
        body()
        var best = Double.infinity
        for _ in 0..<iters {
            let t0 = benchClock()
            body()
            best = min(best, Double(benchClock() - t0) * 1e-6)
        }
        return best
    }

    /// conv3x3 shapes (input channels, output channels, square size) of the fixture forwards.
    static let defaultShapes = [(32, 32, 64), (64, 64, 64), (96, 32, 64), (64, 64, 32), (128, 64, 32), (64, 64, 16),
                                (128, 128, 16), (64, 64, 8), (12, 32, 64), (32, 3, 64)]

    static func run(threads: Int, iters: Int, shapes: [(Int, Int, Int)]) {
        Engine.setThreads(threads)
        print("# \(Engine.pathDescription)")
        let arena = Arena(capacity: 1 << 22)
        func buffer(_ n: Int) -> UnsafeMutablePointer<Float> {
            let p = UnsafeMutablePointer<Float>.allocate(capacity: n)
            for i in 0..<n { p[i] = Float((i * 7919) % 1000) / 1000 - 0.5 }
            return p
        }
        for (c, o, s) in shapes {
            let x = Tensor(buffer(c * s * s), 1, c, s, s), y = Tensor(buffer(o * s * s), 1, o, s, s)
            let shape = ConvShape(inChannels: c, outChannels: o, kernel: 3)
            let w = buffer(o * c * 9), b = buffer(o), packed = buffer(9 * c * packedConv3x3Stride(o))
            packConv3x3Weights(w, inChannels: c, outChannels: o, into: packed)
            let ms = time(iters) {
                arena.reset()
                conv2d(x, weight: w, bias: b, shape: shape, into: y, packedWeight: packed, arena: arena)
            }
            let gf = Double(shape.flops(n: 1, oh: s, ow: s)) * 1e-9
            let norm = time(iters) {
                groupNorm(x, groups: referenceGroups(c), eps: 1e-6, NormModulation(scaleShift: b), activation: .silu, into: x)
            }
            let siluMs = time(iters) { silu(x.data, count: x.count, into: x.data) }
            print("op=conv3x3 threads=\(threads) c=\(c) o=\(o) size=\(s) ms=\(f2(ms * 1e0)) gflops=\(f0(gf / ms * 1e3))"
                  + "  op=groupnorm_silu ms=\(String(format: "%.3f", norm)) ns_per_elem=\(String(format: "%.2f", norm * 1e6 / Double(c * s * s)))"
                  + "  op=silu ns_per_elem=\(String(format: "%.2f", siluMs * 1e6 / Double(x.count)))")
        }
    }
}
