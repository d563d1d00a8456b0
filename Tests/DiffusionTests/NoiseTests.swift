// The Philox generator against its published known-answer vectors, and the normal streams: moments,
// reproducibility, independence from how a stream is split across calls and threads.
import Dispatch
import Foundation
import Testing
@testable import Diffusion

@Suite struct NoiseTests {
    /// Known-answer tests of Random123's kat_vectors for philox4x32 with 10 rounds.
    @Test func philoxKnownAnswers() {
        func check(_ c: (UInt32, UInt32, UInt32, UInt32), _ k: (UInt32, UInt32), _ e: [UInt32]) {
            let r = Philox.block(c, key: k)
            #expect([r.0, r.1, r.2, r.3] == e, "got \([r.0, r.1, r.2, r.3].map { String($0, radix: 16) })")
        }
        check((0, 0, 0, 0), (0, 0), [0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8])
        check((.max, .max, .max, .max), (.max, .max), [0x408f_276d, 0x41c8_3b0e, 0xa20b_c7c6, 0x6d54_51fd])
        check((0x243f_6a88, 0x85a3_08d3, 0x1319_8a2e, 0x0370_7344), (0xa409_3822, 0x299f_31d0),
              [0xd16c_fe09, 0x94fd_cceb, 0x5001_e420, 0x2412_6ea1])
    }

    /// Mean 0 and variance 1 within 5 standard errors (n = 200k: SE(mean) = 0.0022,
    /// SE(var) = sqrt(2/n) = 0.0032), and a sane tail: P(|z| > 3) = 0.0027 within 5 SE of a binomial.
    @Test func normalMoments() {
        let n = 200_000
        let z = NoiseStream(seed: 12345, sample: 7, block: 0, step: 3).normals(n)
        let mean = z.reduce(0.0) { $0 + Double($1) } / Double(n)
        let variance = z.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / Double(n - 1)
        #expect(abs(mean) < 5 * (1 / Double(n)).squareRoot(), "mean \(mean)")
        #expect(abs(variance - 1) < 5 * (2 / Double(n)).squareRoot(), "variance \(variance)")
        let tail = Double(z.filter { abs($0) > 3 }.count) / Double(n)
        #expect(abs(tail - 0.0027) < 5 * (0.0027 / Double(n)).squareRoot(), "tail \(tail)")
        // Lag-1 correlation near 0 (SE 1/sqrt(n)).
        var lag = 0.0
        for i in 1..<n { lag += Double(z[i]) * Double(z[i - 1]) }
        #expect(abs(lag / Double(n - 1)) < 5 / Double(n).squareRoot())
    }

    @Test func reproducibleAndDistinctStreams() {
        let a = NoiseStream(seed: 1, sample: 0, block: 0, step: 0).normals(1000)
        #expect(a == NoiseStream(seed: 1, sample: 0, block: 0, step: 0).normals(1000))
        for other in [NoiseStream(seed: 2, sample: 0, block: 0, step: 0), NoiseStream(seed: 1, sample: 1, block: 0, step: 0),
                      NoiseStream(seed: 1, sample: 0, block: 1, step: 0), NoiseStream(seed: 1, sample: 0, block: 0, step: 1),
                      NoiseStream(seed: 1 << 32, sample: 0, block: 0, step: 0)] {
            let b = other.normals(1000)
            #expect(zip(a, b).filter { $0 == $1 }.count < 5, "\(other) repeats the reference stream")
        }
    }

    /// Any split into sub-ranges, filled in any order and from several threads, gives the same bits.
    @Test func splittingDoesNotChangeTheStream() {
        let stream = NoiseStream(seed: 99, sample: 3, block: 2, step: 17)
        let whole = stream.normals(1001)
        for cuts in [[0, 1, 1001], [0, 3, 4, 5, 999, 1001], [0, 500, 501, 1001], Array(stride(from: 0, through: 1001, by: 7)) + [1001]] {
            var pieces = [Float](repeating: .nan, count: 1001)
            pieces.withUnsafeMutableBufferPointer { buf in
                for (lo, hi) in zip(cuts, cuts.dropFirst()).reversed() where hi > lo {
                    stream.fill(UnsafeMutableBufferPointer(rebasing: buf[lo ..< hi]), start: lo)
                }
            }
            #expect(pieces == whole, "cuts \(cuts.prefix(6))")
        }
        var threaded = [Float](repeating: .nan, count: 1001)
        threaded.withUnsafeMutableBufferPointer { buf in
            let base = UInt(bitPattern: buf.baseAddress!)  // an address is Sendable; the ranges are disjoint
            DispatchQueue.concurrentPerform(iterations: 13) { k in
                let lo = k * 77, hi = min(lo + 77, 1001)
                let p = UnsafeMutablePointer<Float>(bitPattern: base)! + lo
                stream.fill(UnsafeMutableBufferPointer(start: p, count: hi - lo), start: lo)
            }
        }
        #expect(threaded == whole)
    }

    /// A batch's noise is per sample id, whatever the batch composition.
    @Test func batchNoiseFollowsSampleIDs() {
        let source = NoiseSource(seed: 5, sampleIDs: [10, 11, 12], block: 1)
        var batch = [Float](repeating: 0, count: 3 * 50)
        batch.withUnsafeMutableBufferPointer { source.fill($0, perSample: 50, step: 4) }
        for (slot, id) in [10, 11, 12].enumerated() {
            let single = NoiseStream(seed: 5, sample: UInt32(id), block: 1, step: 4).normals(50)
            #expect(Array(batch[slot * 50 ..< (slot + 1) * 50]) == single)
        }
    }
}

@Suite struct UniformDrawTests {
    /// Raw bits are the Philox output of the stream's counters; integers cover 0 ..< bound evenly
    /// (chi-square over 10 bins of 100k draws below the 0.999 quantile for 9 d.o.f., 27.9).
    @Test func uniformIntsCoverTheRange() {
        let stream = NoiseStream(seed: 3, sample: 1, block: 2, step: 4)
        let r = Philox.block((0, 4, 1, 2), key: (3, 0))
        #expect(Array(stream.bits(6).prefix(4)) == [r.0, r.1, r.2, r.3])
        let draws = stream.uniformInts(100_000, below: 1000)
        #expect(draws.min()! >= 0 && draws.max()! < 1000)
        var bins = [Int](repeating: 0, count: 10)
        for d in draws { bins[d / 100] += 1 }
        let chi2 = bins.reduce(0.0) { $0 + pow(Double($1) - 10_000, 2) / 10_000 }
        #expect(chi2 < 27.9, "chi2 \(chi2), bins \(bins)")
        #expect(stream.uniformInts(100, below: 1000) == Array(draws.prefix(100)))
    }
}
