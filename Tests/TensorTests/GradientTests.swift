// Every backward op against central finite differences of its forward (GradCheck.swift).
// Tolerances: the forwards run in Float, so the loss (a Double sum of Float outputs) carries rounding
// of ~1e-7 relative per output. Linear ops (conv, linear, NIN, FIR) have no truncation error: with
// eps = 1e-2 the difference quotient is exact up to that rounding, tol 1e-3. Smooth non-linear ops
// (group norm, SiLU, attention) add eps^2 f''' / 6 truncation, and their Float forwards (exp16,
// two-pass moments) round at ~1e-7 per output, which the quotient divides by 2 eps: about 2e-5 of the
// gradient's scale at eps = 1e-2, hence tol 1e-2 there (GradCheck compares entries below 1% of the
// tensor's largest gradient on that absolute scale).
import Testing
@testable import Tensor
import VectorMath

@Suite(.serialized) struct GradientTests {
    @Test(arguments: [(3, 1, 1), (1, 1, 0), (3, 2, 1)])
    func conv2dGrad(kernel: Int, stride: Int, pad: Int) {
        let n = 2, c = 3, o = 4, h = 6, w = 5
        let s = ConvShape(inChannels: c, outChannels: o, kernel: kernel, stride: stride, pad: pad)
        let (oh, ow) = s.outSize(h, w)
        let x = Buffer(n * c * h * w, seed: 1), wt = Buffer(o * c * kernel * kernel, seed: 2, scale: 0.5)
        let b = Buffer(o, seed: 3, scale: 0.1), y = Buffer(n * o * oh * ow, seed: 0)
        let proj = Projection(count: y.count, seed: 4)
        let arena = Arena()
        func loss() -> Double {
            conv2d(Tensor(x.p, n, c, h, w), weight: wt.p, bias: b.p, shape: s, into: Tensor(y.p, n, o, oh, ow), arena: arena)
            return proj.loss(y.p)
        }
        withEachKernelSet { kernels in
            let dx = Buffer(zeros: x.count), dw = Buffer(zeros: wt.count), db = Buffer(zeros: o)
            proj.r.withUnsafeBufferPointer { r in
                conv2dBackward(Tensor(x.p, n, c, h, w), weight: wt.p, shape: s,
                               dy: Tensor(UnsafeMutablePointer(mutating: r.baseAddress!), n, o, oh, ow),
                               dx: Tensor(dx.p, n, c, h, w), dWeight: dw.p, dBias: db.p, arena: arena)
            }
            let tag = "conv\(kernel)x\(kernel)/s\(stride) \(kernels)"
            gradCheck("\(tag) dx", param: x.p, count: x.count, analytic: dx.array, tol: 1e-3, loss: loss)
            gradCheck("\(tag) dW", param: wt.p, count: wt.count, analytic: dw.array, tol: 1e-3, loss: loss)
            gradCheck("\(tag) db", param: b.p, count: o, analytic: db.array, tol: 1e-3, loss: loss)
        }
    }

    @Test func linearLayer() {
        let n = 3, i = 5, o = 4
        let x = Buffer(n * i, seed: 1), wt = Buffer(o * i, seed: 2), b = Buffer(o, seed: 3), y = Buffer(n * o, seed: 0)
        let proj = Projection(count: y.count, seed: 4)
        func loss() -> Double {
            linear(x.p, n: n, inFeatures: i, weight: wt.p, bias: b.p, outFeatures: o, into: y.p)
            return proj.loss(y.p)
        }
        let dx = Buffer(zeros: x.count), dw = Buffer(zeros: wt.count), db = Buffer(zeros: o)
        linearBackward(x.p, n: n, inFeatures: i, weight: wt.p, outFeatures: o, dy: proj.r, dx: dx.p, dWeight: dw.p,
                       dBias: db.p)
        gradCheck("linear dx", param: x.p, count: x.count, analytic: dx.array, tol: 1e-3, loss: loss)
        gradCheck("linear dW", param: wt.p, count: wt.count, analytic: dw.array, tol: 1e-3, loss: loss)
        gradCheck("linear db", param: b.p, count: o, analytic: db.array, tol: 1e-3, loss: loss)
    }

    @Test func siluOp() {
        let x = Buffer(64, seed: 1, scale: 4), y = Buffer(zeros: 64)
        let proj = Projection(count: 64, seed: 2)
        func loss() -> Double { silu(x.p, count: 64, into: y.p); return proj.loss(y.p) }
        let dx = Buffer(zeros: 64)
        siluBackward(x.p, dy: proj.r, count: 64, into: dx.p)
        gradCheck("silu dx", param: x.p, count: 64, analytic: dx.array, samples: 64, tol: 1e-2, loss: loss)
    }

    enum NormCase: String, CaseIterable { case affine, timeSiLU, spadeTimeSiLU }

    @Test(arguments: NormCase.allCases)
    func groupNormGrad(_ kind: NormCase) {
        let n = 2, c = 8, h = 4, w = 3, groups = 2, count = n * c * h * w
        let x = Buffer(count, seed: 1, scale: 2, offset: 0.5), y = Buffer(zeros: count)
        let gamma = Buffer(c, seed: 2, scale: 0.3, offset: 1), beta = Buffer(c, seed: 3, scale: 0.2)
        let sg = Buffer(count, seed: 4, scale: 0.5), sb = Buffer(count, seed: 5, scale: 0.5)
        let ss = Buffer(n * 2 * c, seed: 6, scale: 0.5)
        var m = NormModulation()
        switch kind {
        case .affine: m.gamma = UnsafePointer(gamma.p); m.beta = UnsafePointer(beta.p)
        case .timeSiLU: m.scaleShift = UnsafePointer(ss.p)
        case .spadeTimeSiLU:
            m.scaleShift = UnsafePointer(ss.p)
            m.spadeGamma = Tensor(sg.p, n, c, h, w); m.spadeBeta = Tensor(sb.p, n, c, h, w)
        }
        let act: Activation = kind == .affine ? .none : .silu
        let proj = Projection(count: count, seed: 7)
        let eps: Float = 1e-5
        func loss() -> Double {
            groupNorm(Tensor(x.p, n, c, h, w), groups: groups, eps: eps, m, activation: act, into: Tensor(y.p, n, c, h, w))
            return proj.loss(y.p)
        }
        withEachKernelSet { kernels in
            let dx = Buffer(zeros: count), dg = Buffer(zeros: c), db = Buffer(zeros: c)
            let dsg = Buffer(zeros: count), dsb = Buffer(zeros: count), dss = Buffer(zeros: n * 2 * c)
            var grads = NormGradients()
            switch kind {
            case .affine: grads.gamma = dg.p; grads.beta = db.p
            case .timeSiLU: grads.scaleShift = dss.p
            case .spadeTimeSiLU:
                grads.scaleShift = dss.p
                grads.spadeGamma = Tensor(dsg.p, n, c, h, w); grads.spadeBeta = Tensor(dsb.p, n, c, h, w)
            }
            proj.r.withUnsafeBufferPointer { r in
                groupNormBackward(Tensor(x.p, n, c, h, w), groups: groups, eps: eps, m, activation: act,
                                  dy: Tensor(UnsafeMutablePointer(mutating: r.baseAddress!), n, c, h, w),
                                  dx: Tensor(dx.p, n, c, h, w), grads)
            }
            let tag = "groupNorm/\(kind.rawValue) \(kernels)"
            gradCheck("\(tag) dx", param: x.p, count: count, analytic: dx.array, tol: 1e-2, loss: loss)
            switch kind {
            case .affine:
                gradCheck("\(tag) dgamma", param: gamma.p, count: c, analytic: dg.array, tol: 1e-2, loss: loss)
                gradCheck("\(tag) dbeta", param: beta.p, count: c, analytic: db.array, tol: 1e-2, loss: loss)
            case .timeSiLU:
                gradCheck("\(tag) dscaleShift", param: ss.p, count: ss.count, analytic: dss.array, tol: 1e-2, loss: loss)
            case .spadeTimeSiLU:
                gradCheck("\(tag) dscaleShift", param: ss.p, count: ss.count, analytic: dss.array, tol: 1e-2, loss: loss)
                gradCheck("\(tag) dspadeGamma", param: sg.p, count: count, analytic: dsg.array, tol: 1e-2, loss: loss)
                gradCheck("\(tag) dspadeBeta", param: sb.p, count: count, analytic: dsb.array, tol: 1e-2, loss: loss)
            }
        }
    }

    @Test func ninMap() {
        let n = 2, c = 3, o = 5, h = 2, w = 3
        let x = Buffer(n * c * h * w, seed: 1), wt = Buffer(c * o, seed: 2), b = Buffer(o, seed: 3)
        let y = Buffer(zeros: n * o * h * w), proj = Projection(count: n * o * h * w, seed: 4)
        func loss() -> Double {
            nin(Tensor(x.p, n, c, h, w), weight: wt.p, bias: b.p, outChannels: o, into: Tensor(y.p, n, o, h, w))
            return proj.loss(y.p)
        }
        withEachKernelSet { kernels in
            let dx = Buffer(zeros: x.count), dw = Buffer(zeros: wt.count), db = Buffer(zeros: o)
            proj.r.withUnsafeBufferPointer { r in
                ninBackward(Tensor(x.p, n, c, h, w), weight: wt.p, outChannels: o,
                            dy: Tensor(UnsafeMutablePointer(mutating: r.baseAddress!), n, o, h, w),
                            dx: Tensor(dx.p, n, c, h, w), dWeight: dw.p, dBias: db.p)
            }
            gradCheck("nin dx \(kernels)", param: x.p, count: x.count, analytic: dx.array, tol: 1e-3, loss: loss)
            gradCheck("nin dW \(kernels)", param: wt.p, count: wt.count, analytic: dw.array, tol: 1e-3, loss: loss)
            gradCheck("nin db \(kernels)", param: b.p, count: o, analytic: db.array, tol: 1e-3, loss: loss)
        }
    }

    @Test(arguments: [1, 2])
    func attention(heads: Int) {
        let n = 2, c = 8, h = 3, w = 4, count = n * c * h * w
        let x = Buffer(count, seed: 1), y = Buffer(zeros: count)
        let gw = Buffer(c, seed: 2, scale: 0.2, offset: 1), gb = Buffer(c, seed: 3, scale: 0.1)
        let ws = (0..<4).map { Buffer(c * c, seed: 10 + UInt64($0), scale: 0.6) }
        let bs = (0..<4).map { Buffer(c, seed: 20 + UInt64($0), scale: 0.1) }
        let p = AttentionWeights(normWeight: gw.p, normBias: gb.p, nin: (0..<4).map { (UnsafePointer(ws[$0].p), UnsafePointer(bs[$0].p)) })
        let proj = Projection(count: count, seed: 5)
        let arena = Arena()
        func loss() -> Double {
            attentionBlock(Tensor(x.p, n, c, h, w), p, heads: heads, skipRescale: true, into: Tensor(y.p, n, c, h, w), arena: arena)
            return proj.loss(y.p)
        }
        withEachKernelSet { kernels in
            let dx = Buffer(zeros: count), dgw = Buffer(zeros: c), dgb = Buffer(zeros: c)
            let dws = (0..<4).map { _ in Buffer(zeros: c * c) }, dbs = (0..<4).map { _ in Buffer(zeros: c) }
            let g = AttentionGradients(normWeight: dgw.p, normBias: dgb.p, nin: (0..<4).map { (dws[$0].p, dbs[$0].p) })
            proj.r.withUnsafeBufferPointer { r in
                attentionBlockBackward(Tensor(x.p, n, c, h, w), p, heads: heads, skipRescale: true,
                                       dy: Tensor(UnsafeMutablePointer(mutating: r.baseAddress!), n, c, h, w),
                                       dx: Tensor(dx.p, n, c, h, w), g, arena: arena)
            }
            let tag = "attention/\(heads)h \(kernels)"
            gradCheck("\(tag) dx", param: x.p, count: count, analytic: dx.array, tol: 1e-2, loss: loss)
            gradCheck("\(tag) dnorm.w", param: gw.p, count: c, analytic: dgw.array, tol: 1e-2, loss: loss)
            gradCheck("\(tag) dnorm.b", param: gb.p, count: c, analytic: dgb.array, tol: 1e-2, loss: loss)
            // The key bias shifts every score of a query row by the same q_i . b: softmax ignores it, so its
            // gradient is zero (up to rounding) and a difference quotient would only measure noise.
            let keyBias = dbs[1].array.map { abs($0) }.max()!, queryBias = dbs[0].array.map { abs($0) }.max()!
            #expect(keyBias <= 1e-5 * max(1, queryBias), "\(tag): key-bias gradient \(keyBias) should vanish")
            for i in 0..<4 {
                if i != 1 { gradCheck("\(tag) dNIN_\(i).W", param: ws[i].p, count: c * c, analytic: dws[i].array, tol: 1e-2, loss: loss)
                gradCheck("\(tag) dNIN_\(i).b", param: bs[i].p, count: c, analytic: dbs[i].array, tol: 1e-2, loss: loss) }
            }
        }
    }

    @Test(arguments: [true, false])
    func fir(up: Bool) {
        let n = 2, c = 2, h = 4, w = 6
        let (oh, ow) = up ? (2 * h, 2 * w) : (h / 2, w / 2)
        let x = Buffer(n * c * h * w, seed: 1), y = Buffer(zeros: n * c * oh * ow)
        let proj = Projection(count: y.count, seed: 2)
        func loss() -> Double {
            if up { firUpsample2x(Tensor(x.p, n, c, h, w), into: Tensor(y.p, n, c, oh, ow)) }
            else { firDownsample2x(Tensor(x.p, n, c, h, w), into: Tensor(y.p, n, c, oh, ow)) }
            return proj.loss(y.p)
        }
        let dx = Buffer(zeros: x.count)
        proj.r.withUnsafeBufferPointer { r in
            let dy = Tensor(UnsafeMutablePointer(mutating: r.baseAddress!), n, c, oh, ow)
            if up { firUpsample2xBackward(dy, into: Tensor(dx.p, n, c, h, w)) }
            else { firDownsample2xBackward(dy, into: Tensor(dx.p, n, c, h, w)) }
        }
        gradCheck("fir \(up ? "up" : "down") dx", param: x.p, count: x.count, analytic: dx.array, samples: 96, tol: 1e-3,
                  loss: loss)
    }
}
