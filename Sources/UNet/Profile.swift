// Per-layer-kind timing and FLOP counting for `mcvd bench --breakdown` and `mcvd info`.
// FLOPs count the multiply-adds of convolutions, linear maps and attention products (2 per MAC).
import Foundation

public final class Profile: @unchecked Sendable {
    public enum Kind: String, CaseIterable, Sendable {
        case conv3x3, conv1x1, spadeShared = "spade_shared", norm, attention, resample, embedding, copy
    }
    public private(set) var seconds: [Kind: Double] = [:]
    public private(set) var flops: [Kind: Int] = [:]
    /// Per labelled call site (e.g. one convolution shape): seconds, FLOPs and calls, when timing.
    public private(set) var detail: [String: (seconds: Double, flops: Int, calls: Int)] = [:]
    /// When false only FLOPs are counted (no clock reads).
    public var timing: Bool
    /// Whether times are the calling thread's CPU time (for comparing kernels at 1 thread on a shared
    /// machine; `mcvd bench` sets it with MCVD_BENCH_CLOCK=thread) rather than wall-clock time.
    public var threadClock = false

    public init(timing: Bool = true) {
        self.timing = timing
        for k in Kind.allCases { seconds[k] = 0; flops[k] = 0 }
    }
    private func now() -> UInt64 {
        guard threadClock else { return DispatchTime.now().uptimeNanoseconds }
        var ts = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }
    public func reset() { for k in Kind.allCases { seconds[k] = 0; flops[k] = 0 }; detail = [:] }
    public var totalFlops: Int { flops.values.reduce(0, +) }

    @inline(__always)
    func measure<T>(_ kind: Kind, flops f: Int = 0, label: @autoclosure () -> String? = nil, _ body: () -> T) -> T {
        flops[kind, default: 0] += f
        guard timing else { return body() }
        let t0 = now()
        let result = body()
        let dt = Double(now() - t0) * 1e-9
        seconds[kind, default: 0] += dt
        if let label = label() {
            let d = detail["\(kind.rawValue) \(label)", default: (0, 0, 0)]
            detail["\(kind.rawValue) \(label)"] = (d.seconds + dt, d.flops + f, d.calls + 1)
        }
        return result
    }
}

extension Optional where Wrapped == Profile {
    @inline(__always)
    func measure<T>(_ kind: Profile.Kind, flops f: Int = 0, label: @autoclosure () -> String? = nil,
                    _ body: () -> T) -> T {
        if let p = self { return p.measure(kind, flops: f, label: label(), body) } else { return body() }
    }
}
