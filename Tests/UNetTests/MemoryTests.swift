// Resident memory across many forwards: after the first forward (which sizes the arena), 1000 more
// must not grow RSS by 1 MB, and the arena must not allocate again.
import Foundation
import Testing
import Tensor
@testable import UNet

func residentBytes() -> Int {
    guard let s = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return -1 }
    let fields = s.split(separator: " ")
    return (Int(fields[1]) ?? 0) * Int(sysconf(Int32(_SC_PAGESIZE)))
}

/// RssAnon of /proc/self/status in bytes: resident anonymous memory (heap, arenas), where a leak shows.
func residentAnonymousBytes() -> Int {
    guard let s = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
          let line = s.split(separator: "\n").first(where: { $0.hasPrefix("RssAnon:") }),
          let kb = Int(line.split(separator: " ").dropFirst().first ?? "") else { return -1 }
    return kb * 1024
}

@Suite(.serialized) struct MemoryTests {
    /// tiny-concat at 32x32, batch 1 (a quarter of its 64x64 work, the same layers and code paths)
    /// so 1000 forwards fit the test budget. Other tests run in parallel in this process and move its
    /// RSS, so the 1000 forwards run in a forked child (one thread: ours, threads = 1) that reports its
    /// own growth; the parent checks the 2-thread path's arena does not allocate again.
    @Test func thousandForwardsDoNotGrowMemory() throws {
        let (model, _) = try Fixtures.load("tiny-concat")
        let c = model.config, side = 32
        let x = [Float](repeating: 0.1, count: c.outputChannels * side * side)
        let cond = [Float](repeating: -0.2, count: c.condChannels * side * side)
        var out = [Float](repeating: 0, count: x.count)
        func run() {
            x.withUnsafeBufferPointer { xp in cond.withUnsafeBufferPointer { cp in out.withUnsafeMutableBufferPointer { op in
                model.forward(x: xp.baseAddress!, t: [500], cond: cp.baseAddress!, n: 1, h: side, w: side, into: op.baseAddress!)
            } } }
        }
        Engine.$threadsInTask.withValue(2) {
            run(); run()
            let first = out, allocations0 = model.arena.allocations
            for _ in 0..<20 { run() }
            #expect(model.arena.allocations == allocations0, "arena allocated again with 2 threads")
            #expect(out == first, "forwards of the same input differ")
        }
        run()

        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        let pid = fork()
        if pid == 0 {
            // The worker threads do not exist in the child: one thread (this task's count is unset,
            // and the process-wide one is 1 unless a suite set it; force it).
            Parallel.shared.threads = 1
            // Child: nothing but this thread; report RSS growth over 1000 forwards and arena allocations.
            // The first forwards copy the pages shared with the parent (copy-on-write): ~the arena's size
            // of RSS. Those are "the first"; growth is measured after them.
            for _ in 0..<5 { run() }
            let rss0 = residentBytes(), anon0 = residentAnonymousBytes(), a0 = model.arena.allocations
            for _ in 0..<1000 { run() }
            var report: [Int64] = [Int64(rss0), Int64(residentBytes() - rss0), Int64(model.arena.allocations - a0),
                                   Int64(residentAnonymousBytes() - anon0)]
            _ = write(fds[1], &report, 32)
            _exit(0)
        }
        close(fds[1])
        var report: [Int64] = [0, 0, 0, 0]
        let got = read(fds[0], &report, 32)
        close(fds[0])
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        #expect(got == 32, "child reported \(got) bytes (status \(status))")
        print("memory: RSS after warm-up \(report[0] / 1024) KiB, growth over 1000 forwards \(report[1] / 1024) KiB "
              + "(anonymous \(report[3] / 1024) KiB), "
              + "arena allocations during them \(report[2]), arena \(model.arena.highWater * 4 / 1024) KiB")
        #expect(report[0] > 0)
        // A forked child re-faults the parent's file-backed pages (code, mapped fixtures) lazily, which
        // shows in total RSS (statm) but is no leak: the bound applies to anonymous memory (heap, arena).
        // `mcvd bench --memory 1000` measures total statm RSS in a process of its own.
        #expect(report[3] < 1 << 20, "anonymous RSS grew by \(report[3]) bytes over 1000 forwards")
        #expect(report[2] == 0, "arena allocated during the loop")
    }
}
