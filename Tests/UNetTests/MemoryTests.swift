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

@Suite(.serialized) struct MemoryTests {
    /// tiny-concat at 32x32, batch 1 (a quarter of its 64x64 work, the same layers and code paths)
    /// so 1000 forwards fit the test budget (~10 s).
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
        Parallel.shared.threads = 2
        defer { Parallel.shared.threads = 1 }
        run(); run()
        let first = out
        let rss0 = residentBytes(), allocations0 = model.arena.allocations
        for _ in 0..<1000 { run() }
        let grown = residentBytes() - rss0
        print("memory: RSS after 2 forwards \(rss0 / 1024) KiB, growth over 1000 more \(grown / 1024) KiB, "
              + "arena \(model.arena.highWater * 4 / 1024) KiB")
        #expect(rss0 > 0)
        #expect(grown < 1 << 20, "RSS grew by \(grown) bytes over 1000 forwards")
        #expect(model.arena.allocations == allocations0, "arena allocated during the loop")
        #expect(out == first, "forwards of the same input differ")
    }
}
