// GroupNorm (every modulation), SiLU/exp accuracy, attention, resampling and the time embedding
// against their naive twins.
import Foundation
import Testing
@testable import Tensor
import VectorMath

@Suite struct NormTests {
    @Test(arguments: [1, 2, 3], 0..<4)
    func groupNormMatchesNaive(threads: Int, variant: Int) {
        let n = 2, c = 12, h = 5, w = 7, g = referenceGroups(c)
        var rng = Rng(UInt64(10 + variant))
        let x = rng.array(n * c * h * w, scale: 3).map { $0 + 2 }
        let gamma = rng.array(c), beta = rng.array(c), sg = rng.array(x.count), sb = rng.array(x.count)
        let ss = rng.array(n * 2 * c)
        withEachKernelSet { kernels in
        let xo = Owned(n, c, h, w, x), yo = Owned(n, c, h, w)
        let sgo = Owned(n, c, h, w, sg), sbo = Owned(n, c, h, w, sb)
        var want: [Float] = []
        withThreads(threads) {
            gamma.withUnsafeBufferPointer { gp in beta.withUnsafeBufferPointer { bp in ss.withUnsafeBufferPointer { sp in
                switch variant {
                case 0:
                    groupNorm(xo.t, groups: g, eps: 1e-6, NormModulation(gamma: gp.baseAddress, beta: bp.baseAddress),
                              activation: .none, into: yo.t)
                    want = Naive.groupNorm(x, n: n, c: c, h: h, w: w, groups: g, eps: 1e-6, gamma: gamma, beta: beta, silu: false)
                case 1:
                    groupNorm(xo.t, groups: g, eps: 1e-5, NormModulation(scaleShift: sp.baseAddress), activation: .silu, into: yo.t)
                    want = Naive.groupNorm(x, n: n, c: c, h: h, w: w, groups: g, eps: 1e-5, scaleShift: ss, silu: true)
                case 2:
                    groupNorm(xo.t, groups: g, eps: 1e-6, NormModulation(spadeGamma: sgo.t, spadeBeta: sbo.t, scaleShift: sp.baseAddress),
                              activation: .silu, into: yo.t)
                    want = Naive.groupNorm(x, n: n, c: c, h: h, w: w, groups: g, eps: 1e-6, spadeGamma: sg, spadeBeta: sb,
                                           scaleShift: ss, silu: true)
                default:
                    groupNorm(xo.t, groups: g, eps: 1e-6, NormModulation(spadeGamma: sgo.t, spadeBeta: sbo.t),
                              activation: .silu, into: xo.t)   // in place
                    want = Naive.groupNorm(x, n: n, c: c, h: h, w: w, groups: g, eps: 1e-6, spadeGamma: sg, spadeBeta: sb, silu: true)
                }
            } } }
        }
        expectClose(variant == 3 ? xo.array : yo.array, want, tol: 2e-5, "groupNorm variant \(variant) \(kernels)")
        }
    }

    @Test func referenceGroupRule() {
        #expect(referenceGroups(32) == 8 && referenceGroups(64) == 16 && referenceGroups(256) == 32)
        #expect(referenceGroups(96) == 24 && referenceGroups(192) == 32 && referenceGroups(6) == 1)
        #expect(referenceGroups(160) == 32 && referenceGroups(12) == 3)
    }

    @Test func expAndSiluAreAccurate() {
        var worst = 0.0
        for i in 0..<4000 {
            let v = Float(i - 2000) / 25      // -80 ... 80
            let got = exp16(SIMD16(repeating: v))[0]
            worst = max(worst, abs(Double(got) / Foundation.exp(Double(v)) - 1))
            let s = siluScalar(v), ref = Naive.silu(v)
            #expect(abs(s - ref) <= 1e-6 * max(1, abs(ref)), "silu(\(v)) = \(s), want \(ref)")
        }
        #expect(worst < 5e-7, "exp16 max relative error \(worst)")
    }

    /// (heads, threads, side): side 32 gives 1024 positions, several query blocks per thread.
    @Test(arguments: [(1, 2, 4), (2, 1, 4), (2, 2, 4), (2, 2, 32), (1, 1, 32)])
    func attentionMatchesNaive(heads: Int, threads: Int, side: Int) {
        let n = side > 4 ? 1 : 2, c = 8, h = side, w = side + 1
        var rng = Rng(UInt64(heads * 7 + threads + side))
        let x = rng.array(n * c * h * w), nw = rng.array(c), nb = rng.array(c)
        let nin = (0..<4).map { _ in (rng.array(c * c, scale: 0.5), rng.array(c)) }
        let want = Naive.attention(x, n: n, c: c, h: h, w: w, normWeight: nw, normBias: nb, nin: nin, heads: heads,
                                   skipRescale: true)
        let xo = Owned(n, c, h, w, x), yo = Owned(n, c, h, w)
        let owned = ([nw, nb] + nin.flatMap { [$0.0, $0.1] }).map { a -> UnsafeMutablePointer<Float> in
            let p = UnsafeMutablePointer<Float>.allocate(capacity: a.count); p.update(from: a, count: a.count); return p
        }
        defer { owned.forEach { $0.deallocate() } }
        let weights = AttentionWeights(normWeight: owned[0], normBias: owned[1],
                                       nin: (0..<4).map { (UnsafePointer(owned[2 + 2 * $0]), UnsafePointer(owned[3 + 2 * $0])) })
        withEachKernelSet { kernels in
            yo.t.data.update(repeating: .nan, count: yo.t.count)
            withThreads(threads) {
                attentionBlock(xo.t, weights, heads: heads, skipRescale: true, into: yo.t, arena: Arena())
            }
            expectClose(yo.array, want, tol: 1e-5, "attention heads \(heads) \(kernels)")
        }
    }

    @Test(arguments: [1, 2, 3])
    func firResamplingMatchesUpfirdn(threads: Int) {
        let n = 1, c = 3, h = 6, w = 8
        var rng = Rng(5)
        let x = rng.array(n * c * h * w)
        let xo = Owned(n, c, h, w, x), down = Owned(n, c, h / 2, w / 2), up = Owned(n, c, 2 * h, 2 * w)
        withThreads(threads) {
            firDownsample2x(xo.t, into: down.t)
            firUpsample2x(xo.t, into: up.t)
        }
        var wantDown: [Float] = [], wantUp: [Float] = []
        for pl in 0..<(n * c) {
            let plane = Array(x[(pl * h * w)..<((pl + 1) * h * w)])
            // downsample_2d: p = 4 - 2, pad ((p+1)/2, p/2); upsample_2d: gain 4, pad ((p+1)/2 + 1, p/2).
            let d = Naive.upfirdn2d(plane, h: h, w: w, kernel: Naive.firKernel(gain: 1), kSize: 4, up: 1, down: 2, pad: (1, 1))
            let u = Naive.upfirdn2d(plane, h: h, w: w, kernel: Naive.firKernel(gain: 4), kSize: 4, up: 2, down: 1, pad: (2, 1))
            #expect(d.h == h / 2 && d.w == w / 2 && u.h == 2 * h && u.w == 2 * w)
            wantDown += d.out; wantUp += u.out
        }
        expectClose(down.array, wantDown, tol: 1e-6, "fir down")
        expectClose(up.array, wantUp, tol: 1e-6, "fir up")
    }

    @Test func timestepEmbeddingMatchesFormula() {
        let t: [Float] = [0, 1, 17.5, 999]
        let dim = 32
        var e = [Float](repeating: 0, count: t.count * dim)
        timestepEmbedding(t, dim: dim, into: &e)
        for (i, ti) in t.enumerated() {
            for k in 0..<(dim / 2) {
                let f = Foundation.exp(-Double(k) * Foundation.log(10000.0) / Double(dim / 2 - 1))
                // float32 phase rounding at t = 999 is up to ~1e-4 rad: the tolerance covers it.
                #expect(abs(Double(e[i * dim + k]) - Foundation.sin(Double(ti) * f)) < 2e-4)
                #expect(abs(Double(e[i * dim + dim / 2 + k]) - Foundation.cos(Double(ti) * f)) < 2e-4)
            }
        }
    }
}
