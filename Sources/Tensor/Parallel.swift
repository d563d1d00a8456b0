// The engine's own 2-way parallelism: the calling thread plus one persistent worker. Every op splits
// its outer loop with `Parallel.split`; BLAS runs single-threaded inside each half (see Gemm.swift),
// so there is one set of threads and no BLAS thread spinning against ours on a 2-core machine.
import Foundation
import Synchronization

public final class Parallel: @unchecked Sendable {
    /// The process-wide pool used by every op.
    public static let shared = Parallel()

    /// 1 or 2. Ops read this at their start; change it between forwards, not during one.
    public var threads: Int = 1

    private let generation = Atomic<Int>(0)
    private let finished = Atomic<Int>(0)
    private let busy = Atomic<Bool>(false)
    private let wake = DispatchSemaphore(value: 0)
    nonisolated(unsafe) private var job: ((Int) -> Void)?
    private var worker: Thread?

    /// BLAS stays single-threaded in this design (its own pool would spin against ours, and does not
    /// survive fork()); set once here since every op reaches the pool before its first sgemm.
    private init() { setBLASThreads(1) }

    private func startWorker() {
        let t = Thread { [unowned self] in self.workerLoop() }
        t.name = "mcvd-worker"
        t.start()
        worker = t
    }

    private func workerLoop() {
        var seen = 0
        while true {
            var spins = 0
            while generation.load(ordering: .acquiring) == seen {
                spins += 1
                if spins > 100_000 { wake.wait(); spins = 0 }
            }
            seen = generation.load(ordering: .acquiring)
            job?(1)
            finished.store(seen, ordering: .releasing)
        }
    }

    /// Runs body(0) and body(1) when parts == 2: on the caller and the worker in parallel, or one after
    /// the other on the caller when another thread is using the worker (tests run concurrently).
    /// parts == 1 runs body(0) only.
    public func run(parts: Int, _ body: (Int) -> Void) {
        guard parts > 1 else { body(0); return }
        guard busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else {
            body(0); body(1); return
        }
        defer { busy.store(false, ordering: .releasing) }
        if worker == nil { startWorker() }
        withoutActuallyEscaping(body) { escaping in
            job = escaping
            let g = generation.add(1, ordering: .releasing).newValue
            wake.signal()
            escaping(0)
            var spins = 0
            while finished.load(ordering: .acquiring) != g {
                spins += 1
                if spins > 4_000 { sched_yield() }
            }
            job = nil
        }
    }

    /// Splits 0..<count into `threads` contiguous ranges (the first takes the remainder) and runs
    /// body(range) for each, in parallel when the worker is free; empty ranges are skipped.
    public func split(_ count: Int, _ body: (Range<Int>) -> Void) {
        let parts = min(threads, count)
        if parts <= 1 { if count > 0 { body(0..<count) }; return }
        let half = (count + 1) / 2
        run(parts: 2) { part in body(part == 0 ? 0..<half : half..<count) }
    }
}
