// The engine's own parallelism: the calling thread plus persistent workers (as many as the largest
// thread count asked for, minus one). Every op splits its outer loop with `Parallel.split` or `run`;
// BLAS runs single-threaded inside each part (see Conv.swift), so there is one set of threads and no
// BLAS thread spinning against ours.
import Foundation
import Synchronization

public final class Parallel: @unchecked Sendable {
    /// The process-wide pool used by every op.
    public static let shared = Parallel()

    nonisolated(unsafe) private var processThreads = 1
    /// The thread count ops use: the current task's (`Engine.threadsInTask`) when set, else the
    /// process-wide one (`Engine.setThreads`). Ops read it at their start, on the calling thread.
    public var threads: Int {
        get { Engine.threadsInTask ?? processThreads }
        set { precondition(newValue >= 1, "threads must be >= 1 (got \(newValue))"); processThreads = newValue }
    }

    /// One worker thread: the caller bumps `ticket` to hand it the current job, the worker sets `done`
    /// to that ticket when finished.
    private final class Worker: @unchecked Sendable {
        let ticket = Atomic<Int>(0), done = Atomic<Int>(0)
        let wake = DispatchSemaphore(value: 0)
    }
    private let busy = Atomic<Bool>(false)
    nonisolated(unsafe) private var job: ((Int) -> Void)?
    private var workers: [Worker] = []

    /// BLAS stays single-threaded in this design (its own pool would spin against ours, and does not
    /// survive fork()); set once here since every op reaches the pool before its first sgemm.
    private init() { setBLASThreads(1) }

    private func startWorker(part: Int) {
        let w = Worker()
        let t = Thread { [unowned self] in self.workerLoop(w, part: part) }
        t.name = "mcvd-worker-\(part)"
        t.start()
        workers.append(w)
    }

    private func workerLoop(_ w: Worker, part: Int) {
        var seen = 0
        while true {
            // Spin for the next job (ops come back to back), yielding the core after a while (more
            // threads than cores would otherwise starve the one that has the work), then sleep.
            var spins = 0
            while w.ticket.load(ordering: .acquiring) == seen {
                spins += 1
                if spins > 100_000 { w.wake.wait(); spins = 0 } else if spins > 4_000 { sched_yield() }
            }
            seen = w.ticket.load(ordering: .acquiring)
            job?(part)
            w.done.store(seen, ordering: .releasing)
        }
    }

    /// Runs body(0) ... body(parts - 1): body(0) on the caller, the others on workers, in parallel; or
    /// one after the other on the caller when another thread is using the workers (tests run
    /// concurrently). Each part's result must not depend on which thread runs it.
    public func run(parts: Int, _ body: (Int) -> Void) {
        guard parts > 1 else { if parts == 1 { body(0) }; return }
        guard busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else {
            for part in 0..<parts { body(part) }
            return
        }
        defer { busy.store(false, ordering: .releasing) }
        while workers.count < parts - 1 { startWorker(part: workers.count + 1) }
        withoutActuallyEscaping(body) { escaping in
            job = escaping
            for k in 1..<parts {
                workers[k - 1].ticket.add(1, ordering: .releasing)
                workers[k - 1].wake.signal()
            }
            escaping(0)
            for k in 1..<parts {
                let w = workers[k - 1], ticket = w.ticket.load(ordering: .relaxed)
                var spins = 0
                while w.done.load(ordering: .acquiring) != ticket {
                    spins += 1
                    if spins > 4_000 { sched_yield() }
                }
            }
            job = nil
        }
    }

    /// Splits 0..<count into min(threads, count) contiguous ranges (sizes differing by at most one,
    /// the larger first) and runs body(part, range) for each, in parallel when the workers are free.
    public func splitParts(_ count: Int, _ body: (Int, Range<Int>) -> Void) {
        let parts = min(threads, count)
        if parts <= 1 { if count > 0 { body(0, 0..<count) }; return }
        run(parts: parts) { part in body(part, Parallel.range(part, of: parts, count)) }
    }

    /// `splitParts` without the part index.
    public func split(_ count: Int, _ body: (Range<Int>) -> Void) {
        splitParts(count) { _, range in body(range) }
    }

    /// The part-th of `parts` contiguous ranges covering 0..<count (the first count % parts one longer).
    public static func range(_ part: Int, of parts: Int, _ count: Int) -> Range<Int> {
        let base = count / parts, extra = count % parts
        let lo = part * base + min(part, extra)
        return lo..<(lo + base + (part < extra ? 1 : 0))
    }
}
