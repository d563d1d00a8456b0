// conv2d and linear against their naive twins, with 1, 2 and 3 threads, several geometries, and every
// convolution path the CPU runs (tiles for AVX-512, AVX2, portable; OpenBLAS: `withEachKernelSet`).
import Testing
@testable import Tensor

@Suite(.serialized) struct ConvTests {
    static let cases: [(ConvShape, Int, Int, Int)] = [
        (ConvShape(inChannels: 5, outChannels: 6, kernel: 3), 2, 7, 9),                 // 3x3 s1 p1
        (ConvShape(inChannels: 4, outChannels: 3, kernel: 3, stride: 2, pad: 1), 1, 8, 10), // 3x3 s2 p1
        (ConvShape(inChannels: 4, outChannels: 3, kernel: 3, stride: 2, pad: 0), 2, 9, 9),  // 3x3 s2 p0
        (ConvShape(inChannels: 7, outChannels: 5, kernel: 1), 2, 6, 5),                 // 1x1
        (ConvShape(inChannels: 3, outChannels: 130, kernel: 3), 1, 4, 4),               // one band, split O
        (ConvShape(inChannels: 40, outChannels: 8, kernel: 3), 1, 64, 64),              // many bands
        (ConvShape(inChannels: 16, outChannels: 20, kernel: 3), 3, 9, 7),               // NHWC slab path, batch 3
        (ConvShape(inChannels: 24, outChannels: 5, kernel: 3), 1, 1, 33),               // one row
        // The AVX-512 tiles: 32-wide and 16-wide column blocks, padded O, few input channels, tiny and
        // odd sizes (positions not a multiple of 12), batch 2.
        (ConvShape(inChannels: 16, outChannels: 16, kernel: 3), 2, 5, 3),
        (ConvShape(inChannels: 3, outChannels: 32, kernel: 3), 1, 13, 11),
        (ConvShape(inChannels: 20, outChannels: 80, kernel: 3), 2, 7, 9),
        (ConvShape(inChannels: 33, outChannels: 17, kernel: 3), 1, 2, 1),
        (ConvShape(inChannels: 64, outChannels: 64, kernel: 3), 1, 8, 8),
    ]

    @Test(arguments: [1, 2, 3], 0..<13)
    func convMatchesNaive(threads: Int, index: Int) {
        let (s, n, h, w) = Self.cases[index]
        var rng = Rng(UInt64(index + 1))
        let x = rng.array(n * s.inChannels * h * w), wt = rng.array(s.outChannels * s.reduction, scale: 0.3)
        let b = rng.array(s.outChannels)
        let (oh, ow) = s.outSize(h, w)
        let want = Naive.conv2d(x, n: n, c: s.inChannels, h: h, w: w, weight: wt, bias: b, shape: s)
        let xo = Owned(n, s.inChannels, h, w, x), yo = Owned(n, s.outChannels, oh, ow)
        let arena = Arena()
        withEachKernelSet { kernel in
            withEachConvMethod { method in
                yo.t.data.update(repeating: .nan, count: yo.t.count)
                withThreads(threads) {
                    conv2d(xo.t, weight: wt, bias: b, shape: s, into: yo.t, arena: arena)
                }
                expectClose(yo.array, want, tol: 1e-5, "conv \(s) threads \(threads) \(kernel) winograd \(method)")
            }
        }
    }

    /// On the tiles every output is summed in one fixed order, so 1, 2 and 3 threads (each set for this
    /// task only) give the same bits: 3x3 with one image split by outputs, batches split by bands, 1x1.
    @Test(arguments: [(ConvShape(inChannels: 16, outChannels: 40, kernel: 3), 1, 12, 12),
                      (ConvShape(inChannels: 9, outChannels: 13, kernel: 3), 3, 20, 17),
                      (ConvShape(inChannels: 32, outChannels: 24, kernel: 3), 1, 66, 63),   // Winograd: bands, odd W
                      // Winograd bands of 2 x 42 = 84 tiles: the product's positions run past them into the zero tail
                      (ConvShape(inChannels: 32, outChannels: 16, kernel: 3), 1, 64, 84),
                      (ConvShape(inChannels: 24, outChannels: 20, kernel: 1), 2, 9, 11)])
    func tilesGiveTheSameBitsAtAnyThreadCount(shape s: ConvShape, n: Int, h: Int, w: Int) {
        var rng = Rng(UInt64(s.outChannels))
        let x = Owned(n, s.inChannels, h, w, rng.array(n * s.inChannels * h * w))
        let wt = rng.array(s.outChannels * s.reduction, scale: 0.3), b = rng.array(s.outChannels)
        withEachKernelSet { kernels in
            guard kernels.tiles else { return }
            withEachConvMethod { method in
                var results: [[Float]] = []
                for threads in [1, 2, 3] {
                    let y = Owned(n, s.outChannels, h, w)
                    withThreads(threads) {
                        #expect(Parallel.shared.threads == threads)
                        conv2d(x.t, weight: wt, bias: b, shape: s, into: y.t, arena: Arena())
                    }
                    results.append(y.array)
                }
                #expect(results[0] == results[1] && results[0] == results[2], "\(s) \(kernels) \(method): thread counts differ")
                let want = Naive.conv2d(x.array, n: n, c: s.inChannels, h: h, w: w, weight: wt, bias: b, shape: s)
                expectClose(results[0], want, tol: 1e-5, "\(s) \(kernels) winograd \(method)")
            }
        }
    }

    @Test(arguments: [1, 2, 3], [4, 24])
    func convResidualEpilogue(threads: Int, outChannels o: Int) {
        // 17 input channels: the NHWC slab path (>= 16) with its fused epilogue.
        let s = ConvShape(inChannels: 17, outChannels: o, kernel: 3)
        var rng = Rng(9)
        let x = rng.array(2 * 17 * 5 * 6), wt = rng.array(o * 17 * 9), b = rng.array(o), r = rng.array(2 * o * 5 * 6)
        let conv = Naive.conv2d(x, n: 2, c: 17, h: 5, w: 6, weight: wt, bias: b, shape: s)
        let want = zip(conv, r).map { ($0 + $1) * 0.5 }
        let xo = Owned(2, 17, 5, 6, x), yo = Owned(2, o, 5, 6), ro = Owned(2, o, 5, 6, r)
        withEachKernelSet { kernel in
            withThreads(threads) {
                conv2d(xo.t, weight: wt, bias: b, shape: s, into: yo.t, residual: ro.t, scale: 0.5, arena: Arena())
            }
            expectClose(yo.array, want, tol: 1e-5, "conv residual O \(o) \(kernel)")
        }
    }

    @Test(arguments: [1, 2, 3], [(3, 5, 7, 5), (16, 24, 16, 16), (40, 8, 3, 11)])
    func ninMatchesNaive(threads: Int, dims: (c: Int, o: Int, h: Int, w: Int)) {
        // NIN: weight (C, O), y = (x . W + b + residual) * scale, i.e. a 1x1 conv with W transposed.
        let (c, o, h, w) = dims
        var rng = Rng(UInt64(c * 100 + o))
        let x = rng.array(2 * c * h * w), wt = rng.array(c * o, scale: 0.3), b = rng.array(o), r = rng.array(2 * o * h * w)
        let transposed = (0..<(o * c)).map { wt[($0 % c) * o + $0 / c] }
        let conv = Naive.conv2d(x, n: 2, c: c, h: h, w: w, weight: transposed, bias: b,
                                shape: ConvShape(inChannels: c, outChannels: o, kernel: 1))
        let want = zip(conv, r).map { ($0 + $1) * 0.5 }
        let xo = Owned(2, c, h, w, x), yo = Owned(2, o, h, w), ro = Owned(2, o, h, w, r)
        withEachKernelSet { kernel in
            yo.t.data.update(repeating: .nan, count: yo.t.count)
            withThreads(threads) {
                wt.withUnsafeBufferPointer { wp in b.withUnsafeBufferPointer { bp in
                    nin(xo.t, weight: wp.baseAddress!, bias: bp.baseAddress!, outChannels: o, into: yo.t, residual: ro.t, scale: 0.5)
                } }
            }
            expectClose(yo.array, want, tol: 1e-5, "nin \(dims) threads \(threads) \(kernel)")
        }
    }

    @Test(arguments: [(3, 1, 20), (1, 0, 5)])
    func inputGradientAccumulates(kernel k: Int, pad: Int, outChannels o: Int) {
        // accumulate: dx += the input gradient, for conv2dBackward and ninBackward, under both kernels.
        let n = 2, c = 7, h = 5, w = 6
        var rng = Rng(UInt64(k * 10 + o))
        let s = ConvShape(inChannels: c, outChannels: o, kernel: k, pad: pad)
        let x = Owned(n, c, h, w, rng.array(n * c * h * w)), dy = Owned(n, o, h, w, rng.array(n * o * h * w))
        let wt = rng.array(o * c * k * k, scale: 0.3), start = rng.array(n * c * h * w)
        // Parameter gradients are checked elsewhere (GradientTests); here they only need somewhere to go.
        let dW = UnsafeMutablePointer<Float>.allocate(capacity: o * c * k * k), dB = UnsafeMutablePointer<Float>.allocate(capacity: o)
        defer { dW.deallocate(); dB.deallocate() }
        withEachKernelSet { kernel in
            let fresh = Owned(n, c, h, w), summed = Owned(n, c, h, w, start)
            for (dx, acc) in [(fresh, false), (summed, true)] {
                dW.update(repeating: 0, count: o * c * k * k); dB.update(repeating: 0, count: o)
                if k == 1 {
                    // NIN's weight is (C, O): the 1x1 conv weight transposed.
                    let nw = (0..<(c * o)).map { wt[($0 % o) * c + $0 / o] }
                    nw.withUnsafeBufferPointer { p in
                        ninBackward(x.t, weight: p.baseAddress!, outChannels: o, dy: dy.t, dx: dx.t, accumulate: acc,
                                    dWeight: dW, dBias: dB)
                    }
                    let viaNIN = dx.array
                    dx.t.data.update(from: acc ? start : [Float](repeating: 0, count: dx.t.count), count: dx.t.count)
                    wt.withUnsafeBufferPointer { p in
                        conv2dBackward(x.t, weight: p.baseAddress!, shape: s, dy: dy.t, dx: dx.t, accumulate: acc,
                                       dWeight: dW, dBias: nil, arena: Arena())
                    }
                    expectClose(dx.array, viaNIN, tol: 1e-5, "1x1 conv vs NIN input gradient, accumulate \(acc) \(kernel)")
                } else {
                    wt.withUnsafeBufferPointer { p in
                        conv2dBackward(x.t, weight: p.baseAddress!, shape: s, dy: dy.t, dx: dx.t, accumulate: acc,
                                       dWeight: dW, dBias: nil, arena: Arena())
                    }
                }
            }
            expectClose(summed.array, zip(fresh.array, start).map { $0 + $1 }, tol: 1e-5,
                        "\(k)x\(k) dx accumulates \(kernel)")
        }
    }

    @Test(arguments: [(3, 1, 5, 16, 7, 9), (3, 1, 20, 13, 4, 33), (1, 0, 7, 9, 5, 6), (1, 0, 24, 32, 16, 16)])
    func backwardAgreesAcrossKernels(kernel k: Int, pad: Int, c: Int, o: Int, h: Int, w: Int) {
        // dx, dW and db of conv2dBackward on each tile path (dx on the tiles, with output and position
        // tails; batch halves on 2 threads) against the OpenBLAS path (gradient-checked in GradientTests).
        let n = 3, s = ConvShape(inChannels: c, outChannels: o, kernel: k, pad: pad)
        var rng = Rng(UInt64(c * o + h))
        let x = Owned(n, c, h, w, rng.array(n * c * h * w)), dy = Owned(n, o, h, w, rng.array(n * o * h * w))
        let wt = rng.array(o * c * k * k, scale: 0.3)
        var results: [(String, [Float])] = []
        withEachKernelSet { kernels in
            withEachConvMethod { method in
                guard kernels.tiles || method == .never else { return }
                let dx = Owned(n, c, h, w), dW = Owned(1, 1, 1, o * c * k * k, [Float](repeating: 0.5, count: o * c * k * k))
                let dB = Owned(1, 1, 1, o, [Float](repeating: 0, count: o))
                wt.withUnsafeBufferPointer { p in
                    withThreads(2) {
                        conv2dBackward(x.t, weight: p.baseAddress!, shape: s, dy: dy.t, dx: dx.t, dWeight: dW.t.data,
                                       dBias: dB.t.data, arena: Arena())
                    }
                }
                results.append(("\(kernels) winograd \(method)", dx.array + dW.array + dB.array))
            }
        }
        #expect(results.count >= 3 && results.last?.0 == "openblas winograd never")
        for (kernels, r) in results.dropLast() {
            expectClose(r, results.last!.1, tol: 1e-5, "conv \(s) backward: \(kernels) vs OpenBLAS")
        }
    }

    /// Asking for a path the CPU cannot run (e.g. avx512 here) falls back to one it runs, never runs it.
    @Test func kernelPathFallsBackToOneTheCPURuns() {
        #expect(Engine.available.contains(.portable) && Engine.available.contains(.openblas))
        #expect(Engine.available.first!.tiles)
        for k in Engine.KernelSet.allCases {
            Engine.$kernelsInTask.withValue(k) {
                #expect(Engine.path.runs, "\(k)")
                if k.runs { #expect(Engine.path == k) } else { #expect(Engine.path == Engine.kernels) }
            }
        }
        #expect(Engine.hasAVX512 == Engine.avx512Flags.allSatisfy(Engine.cpuFlags.contains))
        #expect(Engine.pathDescription.hasPrefix("kernels: \(Engine.path.rawValue)"))
    }

    @Test func packedWeightsPadToSixteenColumns() {
        // O = 5 packs into rows of 16 with zeros after column 5 (the tiles read whole rows).
        var rng = Rng(4)
        let w = rng.array(5 * 3 * 9)
        let packed = UnsafeMutablePointer<Float>.allocate(capacity: 27 * 16)
        defer { packed.deallocate() }
        packed.update(repeating: .nan, count: 27 * 16)
        w.withUnsafeBufferPointer { packConv3x3Weights($0.baseAddress!, inChannels: 3, outChannels: 5, into: packed) }
        #expect(packedConv3x3Stride(5) == 16 && packedConv3x3Stride(16) == 16 && packedConv3x3Stride(17) == 32)
        for row in 0..<27 {
            let tap = row / 3, ci = row % 3
            for oc in 0..<16 {
                #expect(packed[row * 16 + oc] == (oc < 5 ? w[(oc * 3 + ci) * 9 + tap] : 0), "row \(row) col \(oc)")
            }
        }
    }

    @Test func linearMatchesNaive() {
        var rng = Rng(3)
        let x = rng.array(3 * 10), wt = rng.array(7 * 10), b = rng.array(7)
        var y = [Float](repeating: 0, count: 21)
        linear(x, n: 3, inFeatures: 10, weight: wt, bias: b, outFeatures: 7, into: &y)
        expectClose(y, Naive.linear(x, n: 3, weight: wt, bias: b, inFeatures: 10, outFeatures: 7), tol: 1e-5, "linear")
    }

    @Test func arenaStopsAllocatingAfterFirstRound() {
        let arena = Arena(capacity: 16)
        for round in 0..<3 {
            arena.reset()
            let m = arena.mark()
            _ = arena.floats(1000); _ = arena.floats(5000)
            arena.release(to: m)
            _ = arena.floats(3000)
            if round == 0 { #expect(arena.allocations > 1) }
        }
        let before = arena.allocations
        for _ in 0..<3 { arena.reset(); _ = arena.floats(6000) }
        #expect(arena.allocations == before, "arena allocated again: \(arena.allocations) vs \(before)")
    }
}
