// Adam/AdamW, warm-up, clipping and EMA against the torch formulas written out in Double.
import Foundation
import Testing
@testable import Training

@Suite struct OptimizerTests {
    /// torch.optim.Adam / AdamW for one parameter over the given gradients, in Double.
    static func reference(p0: Double, grads: [Double], lrs: [Double], o: AdamOptions) -> Double {
        var p = p0, m = 0.0, v = 0.0
        for (t, (g0, lr)) in zip(grads, lrs).enumerated() {
            var g = g0
            if o.decoupled { p *= 1 - lr * o.weightDecay } else { g += o.weightDecay * p }
            m = o.beta1 * m + (1 - o.beta1) * g
            v = o.beta2 * v + (1 - o.beta2) * g * g
            let bc1 = 1 - pow(o.beta1, Double(t + 1)), bc2 = 1 - pow(o.beta2, Double(t + 1))
            p -= lr / bc1 * m / (v.squareRoot() / bc2.squareRoot() + o.eps)
        }
        return p
    }

    @Test(arguments: [false, true])
    func adamMatchesTorchFormula(decoupled: Bool) {
        let o = AdamOptions(lr: 0.05, weightDecay: 0.1, decoupled: decoupled, warmup: 3, gradClip: nil)
        let p0: [Float] = [0.5, -1.2, 2.0, 0.0]
        let grads: [[Float]] = [[0.3, -0.1, 1.5, 0.0], [-0.2, 0.4, 1.0, 1e-3], [0.1, 0.1, -2.0, -1e-3], [0.7, -0.5, 0.2, 0.5]]
        let adam = Adam(count: 4, options: o)
        var p = p0
        var lrs: [Double] = []
        for (s, g) in grads.enumerated() {
            let lr = o.learningRate(atUpdate: s)
            lrs.append(lr)
            g.withUnsafeBufferPointer { adam.update(params: &p, grads: $0.baseAddress!, lr: lr) }
        }
        #expect(lrs == [0, 0.05 / 3, 0.1 / 3, 0.05])
        for i in 0..<4 {
            let want = Self.reference(p0: Double(p0[i]), grads: grads.map { Double($0[i]) }, lrs: lrs, o: o)
            #expect(abs(Double(p[i]) - want) <= 1e-6 * max(1, abs(want)), "param \(i): \(p[i]) vs \(want)")
        }
    }

    @Test func clipping() {
        var g: [Float] = [3, 4]
        let norm = clipGradientNorm(&g, count: 2, maxNorm: 1)
        #expect(norm == 5)
        #expect(abs(g[0] - 0.6) < 1e-6 && abs(g[1] - 0.8) < 1e-6)
        var h: [Float] = [0.3, 0.4]
        #expect(abs(clipGradientNorm(&h, count: 2, maxNorm: 1) - 0.5) < 1e-7)
        #expect(h == [0.3, 0.4])
    }

    @Test func emaFollowsReference() {
        var p: [Float] = [1, 2]
        let ema = EMA(copying: p, count: 2, rate: 0.9)
        p = [2, 0]
        ema.update(p)
        #expect(abs(ema.shadow[0] - 1.1) < 1e-6 && abs(ema.shadow[1] - 1.8) < 1e-6)
    }
}
