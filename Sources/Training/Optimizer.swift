// Adam / AdamW with the reference's linear warm-up, gradient-norm clipping and EMA of the weights,
// over flat Float buffers (the model's parameter layout). Semantics follow torch.optim.Adam/AdamW,
// torch.nn.utils.clip_grad_norm_ and the reference's EMAHelper; no randomness here.
import Foundation

public struct AdamOptions: Sendable, Codable, Equatable {
    /// Peak learning rate (reference `optim.lr`, 2e-4).
    public var lr: Double
    public var beta1: Double
    public var beta2: Double
    public var eps: Double
    /// L2 penalty added to the gradient (Adam) or decoupled decay of the weights (AdamW).
    public var weightDecay: Double
    /// AdamW (Loshchilov & Hutter 2019) instead of Adam's coupled L2 term.
    public var decoupled: Bool
    /// Linear warm-up steps: update s (0-based) uses lr * min(1, s / warmup), as the reference's
    /// `warmup_lr` (so with warm-up the very first update has lr 0).
    public var warmup: Int
    /// Max global gradient norm (reference `optim.grad_clip`); nil = no clipping.
    public var gradClip: Double?

    public init(lr: Double = 2e-4, beta1: Double = 0.9, beta2: Double = 0.999, eps: Double = 1e-8,
                weightDecay: Double = 0, decoupled: Bool = false, warmup: Int = 1000, gradClip: Double? = 1) {
        self.lr = lr; self.beta1 = beta1; self.beta2 = beta2; self.eps = eps; self.weightDecay = weightDecay
        self.decoupled = decoupled; self.warmup = warmup; self.gradClip = gradClip
    }

    public func learningRate(atUpdate s: Int) -> Double {
        warmup > 0 ? lr * min(1, Double(s) / Double(warmup)) : lr
    }
}

/// Adam moments for `count` floats; `updates` is the bias-correction step count.
public final class Adam: @unchecked Sendable {
    public let options: AdamOptions
    public let count: Int
    public let m: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>
    public internal(set) var updates = 0

    public init(count: Int, options: AdamOptions) {
        self.options = options
        self.count = count
        m = .allocate(capacity: count); v = .allocate(capacity: count)
        m.update(repeating: 0, count: count); v.update(repeating: 0, count: count)
    }
    deinit { m.deallocate(); v.deallocate() }

    /// One update of `params` from `grads` (both `count` floats) at learning rate `lr`
    /// (torch.optim.Adam / AdamW: bias-corrected moments, eps outside the square root).
    public func update(params p: UnsafeMutablePointer<Float>, grads g: UnsafePointer<Float>, lr: Double) {
        updates += 1
        let o = options
        let b1 = Float(o.beta1), b2 = Float(o.beta2)
        let bc1 = 1 - pow(o.beta1, Double(updates)), bc2 = 1 - pow(o.beta2, Double(updates))
        let stepSize = Float(lr / bc1), rbc2 = Float(1 / bc2.squareRoot()), eps = Float(o.eps)
        let wd = Float(o.weightDecay), decay = Float(1 - lr * o.weightDecay)
        let coupled = !o.decoupled && o.weightDecay != 0, decoupled = o.decoupled && o.weightDecay != 0
        for i in 0..<count {
            var gi = g[i]
            if coupled { gi += wd * p[i] }
            if decoupled { p[i] *= decay }
            m[i] = b1 * m[i] + (1 - b1) * gi
            v[i] = b2 * v[i] + (1 - b2) * gi * gi
            p[i] -= stepSize * m[i] / (v[i].squareRoot() * rbc2 + eps)
        }
    }
}

/// Global L2 norm of `count` floats (in Double), and in-place scaling to `maxNorm` when above it
/// (clip_grad_norm_: factor maxNorm / (norm + 1e-6)). Returns the norm before clipping.
@discardableResult
public func clipGradientNorm(_ g: UnsafeMutablePointer<Float>, count: Int, maxNorm: Double?) -> Double {
    var s = 0.0
    for i in 0..<count { s += Double(g[i]) * Double(g[i]) }
    let norm = s.squareRoot()
    if let maxNorm {
        let coef = maxNorm / (norm + 1e-6)
        if coef < 1 { let c = Float(coef); for i in 0..<count { g[i] *= c } }
    }
    return norm
}

/// Exponential moving average of the weights (the reference's EMAHelper):
/// shadow = (1 - mu) * param + mu * shadow after every update; starts as a copy of the weights.
public final class EMA: @unchecked Sendable {
    public let rate: Double
    public let count: Int
    public let shadow: UnsafeMutablePointer<Float>

    public init(copying p: UnsafePointer<Float>, count: Int, rate: Double) {
        self.rate = rate; self.count = count
        shadow = .allocate(capacity: count)
        shadow.update(from: p, count: count)
    }
    deinit { shadow.deallocate() }

    public func update(_ p: UnsafePointer<Float>) {
        let mu = Float(rate), a = 1 - mu
        for i in 0..<count { shadow[i] = a * p[i] + mu * shadow[i] }
    }
}
