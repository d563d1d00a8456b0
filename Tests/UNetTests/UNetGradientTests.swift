// The full U-Net backward against central finite differences on tiny configs (concat and SPATIN,
// attention on, with and without dropout): one seeded element of every parameter tensor.
// Numeric side: central differences at eps = 5e-3 and 1e-2 combined by Richardson extrapolation (the
// eps^2 truncation of a plain quotient reached 4% on conv biases feeding a group norm at eps = 1e-2).
// The whole network runs in Float, so the loss carries ~1e-7 relative rounding per output, which the
// quotient divides by 2 eps; entries below 1% of the largest gradient compare on that absolute scale.
// Max relative error allowed: 2e-2 (the measured values are printed).
import Foundation
import Testing
import Tensor
@testable import UNet

@Suite(.serialized) struct UNetGradientTests {
    static func tiny(spade: Bool, spadeDim: Int = 16) -> UNetConfig {
        UNetConfig(ngf: 8, chMult: [1, 2], numResBlocks: 1, attnResolutions: [4], nHeadChannels: -1, spade: spade,
                   spadeDim: spadeDim, imageSize: 8, channels: 1, numFrames: 1, numFramesCond: 2, numFramesFuture: 1)
    }

    struct Seeded {
        var s: UInt64
        mutating func next() -> Float {
            s ^= s << 13; s ^= s >> 7; s ^= s << 17
            return Float(s >> 40) / Float(1 << 24) * 2 - 1
        }
        mutating func array(_ n: Int) -> [Float] { (0..<n).map { _ in next() } }
    }

    /// spade_dim 8 takes conv2d's im2col path for SPADE's gamma/beta (fewer than 16 input channels).
    @Test func trainingForwardMatchesInference() throws {
        for (spade, dim) in [(false, 16), (true, 16), (true, 8)] {
            let c = Self.tiny(spade: spade, spadeDim: dim), n = 2, h = 8, w = 8
            let model = try UNet(config: c)
            model.randomize(seed: 3)
            var g = Seeded(s: 99)
            let x = g.array(n * c.outputChannels * h * w), cond = g.array(n * c.condChannels * h * w)
            let t: [Float] = [37, 812]
            let ref = model.forward(x: x, t: t, cond: cond, n: n, h: h, w: w)
            let train = UNetTraining(model: model)
            var out = [Float](repeating: 0, count: ref.count)
            train.forward(x: x, t: t, cond: cond, n: n, h: h, w: w, into: &out)
            let diff = zip(out, ref).map { abs($0 - $1) }.max()!
            #expect(diff <= 1e-5 * max(1, ref.map { abs($0) }.max()!), "spade=\(spade) dim=\(dim): training forward differs by \(diff)")
        }
    }

    @Test(arguments: [(false, Float(0)), (true, Float(0)), (false, Float(0.3))])
    func fullGradient(spade: Bool, dropout: Float) throws {
        let c = Self.tiny(spade: spade), n = 2, h = 8, w = 8
        let model = try UNet(config: c)
        model.randomize(seed: 5)
        var g = Seeded(s: 7)
        let x = g.array(n * c.outputChannels * h * w), cond = g.array(n * c.condChannels * h * w)
        let r = g.array(x.count)
        let t: [Float] = [37, 812]
        let train = UNetTraining(model: model)
        // A fixed mask per layer, so every forward of the check sees the same dropout.
        let fill: DropoutFill? = dropout == 0 ? nil : { layer, mask in
            var s = Seeded(s: 1000 + UInt64(layer))
            for i in mask.indices { mask[i] = (s.next() + 1) / 2 < dropout ? 0 : 1 / (1 - dropout) }
        }
        var out = [Float](repeating: 0, count: x.count)
        func loss() -> Double {
            train.forward(x: x, t: t, cond: cond, n: n, h: h, w: w, into: &out, dropout: fill)
            return zip(out, r).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        }
        _ = loss()
        train.zeroGradients()
        train.backward(dOut: r)
        let grads = train.gradients, params = model.parameterStorage
        let scale = Double((0..<train.storageCount).map { abs(grads[$0]) }.max()!)
        #expect(scale > 0)
        var worst = 0.0, worstName = "", pair = (0.0, 0.0)
        var pick = Seeded(s: 11)
        let eps: Float = 5e-3
        for (name, shape, offset) in model.parameterLayout {
            let count = shape.reduce(1, *)
            let i = offset + min(count - 1, Int((pick.next() + 1) / 2 * Float(count)))
            let saved = params[i]
            func quotient(_ e: Float) -> Double {
                params[i] = saved + e; let up = Double(params[i]); let lp = loss()
                params[i] = saved - e; let down = Double(params[i]); let lm = loss()
                params[i] = saved
                return (lp - lm) / (up - down)
            }
            // Richardson: (4 D(e) - D(2e)) / 3 cancels the e^2 term of the central difference.
            let numeric = (4 * quotient(eps) - quotient(2 * eps)) / 3, a = Double(grads[i])
            let err = abs(a - numeric) / max(abs(a), abs(numeric), 1e-2 * scale)
            if err > worst { worst = err; worstName = "\(name)[\(i - offset)]"; pair = (a, numeric) }
        }
        print("gradcheck unet spade=\(spade) dropout=\(dropout): \(model.parameterLayout.count) tensors, max rel err "
              + "\(String(format: "%.2e", worst)) at \(worstName) (analytic \(pair.0), numeric \(pair.1)), grad scale \(scale)")
        #expect(worst <= 2e-2, "max relative error \(worst) at \(worstName): analytic \(pair.0) vs numeric \(pair.1)")
    }

    /// The backward splits the batch into two fixed halves whatever the thread count (conv/NIN weight
    /// gradients of half 1 go to a partial summed last), so 1, 2 and 3 threads give the same bits.
    /// Batch 5: uneven halves (3 + 2). One forward, then the backward at each thread count.
    @Test func backwardIsThreadIndependent() throws {
        for spade in [false, true] {
            let c = Self.tiny(spade: spade), n = 5, h = 8, w = 8
            let model = try UNet(config: c)
            model.randomize(seed: 8)
            var g = Seeded(s: 21)
            let x = g.array(n * c.outputChannels * h * w), cond = g.array(n * c.condChannels * h * w)
            let r = g.array(x.count)
            let train = UNetTraining(model: model)
            var out = [Float](repeating: 0, count: x.count)
            train.forward(x: x, t: [5, 400, 990, 61, 777], cond: cond, n: n, h: h, w: w, into: &out)
            var results: [[Float]] = []
            for threads in [1, 2, 3] {
                Engine.$threadsInTask.withValue(threads) {
                    #expect(Parallel.shared.threads == threads)
                    train.zeroGradients()
                    train.backward(dOut: r)
                }
                results.append(Array(UnsafeBufferPointer(start: train.gradients, count: train.storageCount)))
            }
            #expect(results[0].contains { $0 != 0 })
            for (i, threads) in [2, 3].enumerated() {
                let differing = zip(results[0], results[i + 1]).filter { $0.0 != $0.1 }.count
                #expect(differing == 0, "spade=\(spade): \(differing) gradient entries differ between 1 and \(threads) threads")
            }
        }
    }
}
