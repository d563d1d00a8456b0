// Noise schedules as data (betas, alpha-bars) made by small static makers, the forward process used by
// training (`addNoise`), and the eps <-> v <-> x0 conversions. Samplers live in DDPM.swift / DDIM.swift;
// this file knows nothing about networks or frames.
//
// Index convention. Arrays here are in the paper's order: index t = 0 ..< T is DDPM's t = 1 ... T, so
// alphaBar[0] is the least noisy level and alphaBar[T-1] the noisiest. The reference (mcvd-pytorch) stores
// the same numbers reversed and feeds the network that reversed index (its "labels": 0 = noisiest); the
// value a network must embed is `timeCond(t)`, never t itself.
import Foundation

/// How the network output is read (Salimans & Ho 2022, "Progressive Distillation", sec. 4 and app. D).
public enum Parameterization: String, Sendable, CaseIterable, Codable {
    /// The network predicts the added noise eps (Ho et al. 2020; the reference's choice).
    case eps
    /// The network predicts v = sqrt(abar) eps - sqrt(1 - abar) x0.
    case v
}

/// A discrete variance schedule: beta_t and its running products, in the paper's index order.
public struct NoiseSchedule: Sendable, Equatable {
    /// beta_t, t = 0 ..< T (DDPM's beta_1 ... beta_T).
    public let betas: [Double]
    /// alpha_t = 1 - beta_t.
    public let alphas: [Double]
    /// abar_t = prod_{s <= t} alpha_s (DDPM eq. 4's bar-alpha).
    public let alphaBars: [Double]

    /// T, the number of diffusion steps.
    public var count: Int { betas.count }

    /// Builds a schedule from its betas; alphas and alpha-bars follow (DDPM sec. 2).
    public init(betas: [Double]) {
        precondition(!betas.isEmpty && betas.allSatisfy { $0 > 0 && $0 < 1 }, "betas must lie in (0, 1)")
        self.betas = betas
        self.alphas = betas.map { 1 - $0 }
        var product = 1.0
        self.alphaBars = alphas.map { product *= $0; return product }
    }

    /// Linear betas from `betaMin` to `betaMax` over `steps` (Ho, Jain & Abbeel 2020, "Denoising
    /// Diffusion Probabilistic Models", sec. 4: T = 1000, beta_1 = 1e-4 .. beta_T = 0.02; the reference's
    /// `sigma_dist: linear`, `sigma_begin: 0.02`, `sigma_end: 0.0001`).
    public static func linear(steps: Int = 1000, betaMin: Double = 1e-4, betaMax: Double = 0.02) -> NoiseSchedule {
        precondition(steps >= 2, "a linear schedule needs at least 2 steps")
        let betas = (0..<steps).map { betaMin + (betaMax - betaMin) * Double($0) / Double(steps - 1) }
        return NoiseSchedule(betas: betas)
    }

    /// Cosine schedule (Nichol & Dhariwal 2021, "Improved Denoising Diffusion Probabilistic Models",
    /// eq. 17): abar_t = f(t) / f(0), f(t) = cos^2(((t/T + s) / (1 + s)) * pi/2), with the paper's offset
    /// s = 0.008 and beta_t = 1 - abar_t / abar_{t-1} clipped to at most `maxBeta` = 0.999 (sec. 3.2) so
    /// that abar_T stays above zero. The reference's `sigma_dist: cosine` uses f(t)/f(0) unclipped; the
    /// two differ only at the very last step.
    public static func cosine(steps: Int = 1000, offset s: Double = 0.008, maxBeta: Double = 0.999) -> NoiseSchedule {
        precondition(steps >= 2, "a cosine schedule needs at least 2 steps")
        func f(_ t: Double) -> Double {
            let c = cos((t / Double(steps) + s) / (1 + s) * Double.pi / 2)
            return c * c
        }
        // Paper t = 1 ... T is our index t - 1.
        let betas = (1...steps).map { t in min(1 - f(Double(t)) / f(Double(t - 1)), maxBeta) }
        return NoiseSchedule(betas: betas)
    }

    /// The value the network's time embedding takes at level t: the reference's label T - 1 - t
    /// (its `time_cond`; 0 = noisiest). Float so that a continuous-time network fits the same slot.
    public func timeCond(_ t: Int) -> Float { Float(count - 1 - t) }

    /// Inverse of `timeCond` for integer labels.
    public func step(forTimeCond label: Float) -> Int { count - 1 - Int(label.rounded()) }

    /// abar at level t, with the convention abar_{-1} = 1 (the clean data) used by samplers' last step.
    @inline(__always)
    public func alphaBar(_ t: Int) -> Double { t < 0 ? 1 : alphaBars[t] }
}

// MARK: - Forward process and conversions

extension NoiseSchedule {
    /// Forward process q(x_t | x_0) (DDPM eq. 4, reparameterized):
    /// x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps, one level per sample.
    /// - x0, eps, out: (N, P) flat, P = values per sample; t: N levels in 0 ..< T.
    /// Also returns the regression target for the given parameterization through `target` when non-nil
    /// (eps itself, or v = sqrt(abar) eps - sqrt(1 - abar) x0).
    public func addNoise(x0: UnsafeBufferPointer<Float>, eps: UnsafeBufferPointer<Float>, t: [Int],
                         into out: UnsafeMutableBufferPointer<Float>,
                         target: UnsafeMutableBufferPointer<Float>? = nil,
                         parameterization: Parameterization = .eps) {
        let n = t.count
        precondition(n > 0 && x0.count % n == 0 && eps.count == x0.count && out.count == x0.count)
        let p = x0.count / n
        for i in 0..<n {
            let a = alphaBar(t[i])
            let sa = Float(a.squareRoot()), sb = Float((1 - a).squareRoot())
            for j in i * p ..< (i + 1) * p {
                out[j] = sa * x0[j] + sb * eps[j]
                if let target {
                    target[j] = parameterization == .eps ? eps[j] : sa * eps[j] - sb * x0[j]
                }
            }
        }
    }

    /// Array convenience for `addNoise`; returns x_t.
    public func addNoise(x0: [Float], eps: [Float], t: [Int]) -> [Float] {
        var out = [Float](repeating: 0, count: x0.count)
        x0.withUnsafeBufferPointer { x in
            eps.withUnsafeBufferPointer { e in
                out.withUnsafeMutableBufferPointer { addNoise(x0: x, eps: e, t: t, into: $0) }
            }
        }
        return out
    }
}

/// The coefficients that turn a network output at level abar into (x0, eps), Salimans & Ho 2022 app. D:
///   eps-model: x0 = (x_t - sqrt(1-abar) eps) / sqrt(abar)
///   v-model:   x0 = sqrt(abar) x_t - sqrt(1-abar) v,   eps = sqrt(1-abar) x_t + sqrt(abar) v,
///              v  = sqrt(abar) eps - sqrt(1-abar) x0.
public struct Conversion: Sendable {
    public let sqrtAlphaBar: Float
    public let sqrtOneMinusAlphaBar: Float

    public init(alphaBar: Double) {
        sqrtAlphaBar = Float(alphaBar.squareRoot())
        sqrtOneMinusAlphaBar = Float((1 - alphaBar).squareRoot())
    }

    /// (x0, eps) from x_t and the network output under `parameterization`.
    @inline(__always)
    public func x0AndEps(x: Float, output: Float, _ parameterization: Parameterization) -> (x0: Float, eps: Float) {
        switch parameterization {
        case .eps:
            return ((x - sqrtOneMinusAlphaBar * output) / sqrtAlphaBar, output)
        case .v:
            return (sqrtAlphaBar * x - sqrtOneMinusAlphaBar * output, sqrtOneMinusAlphaBar * x + sqrtAlphaBar * output)
        }
    }

    /// eps from x_t and x0.
    @inline(__always)
    public func eps(x: Float, x0: Float) -> Float { (x - sqrtAlphaBar * x0) / sqrtOneMinusAlphaBar }

    /// v from eps and x0.
    @inline(__always)
    public func v(eps: Float, x0: Float) -> Float { sqrtAlphaBar * eps - sqrtOneMinusAlphaBar * x0 }

    /// x0 from x_t and v.
    @inline(__always)
    public func x0(x: Float, v: Float) -> Float { sqrtAlphaBar * x - sqrtOneMinusAlphaBar * v }

    /// eps from x_t and v.
    @inline(__always)
    public func eps(x: Float, v: Float) -> Float { sqrtOneMinusAlphaBar * x + sqrtAlphaBar * v }
}

// MARK: - Sampling timesteps

/// How a sampler with S < T steps picks its levels. Timesteps are returned noisiest first.
public enum TimestepSpacing: String, Sendable, CaseIterable, Codable {
    /// The reference's "skip" rule (after DDIM's code): skip = T / S (integer division), levels
    /// T-1, T-1-skip, ... while >= 0 in our index. Starts at the noisiest level; may yield more than S
    /// steps when S does not divide T (T = 1000, S = 3 gives 4 steps). Needed for parity with the reference.
    case skip
    /// Exactly S levels, evenly spaced from T-1 down to 0 and rounded (S = 1: just T-1).
    case linspace
}

extension NoiseSchedule {
    /// Sampling levels for `steps` steps, noisiest first, strictly decreasing, all in 0 ..< T.
    public func timesteps(_ steps: Int, spacing: TimestepSpacing = .skip) -> [Int] {
        let T = count
        let s = max(1, min(steps, T))
        switch spacing {
        case .skip:
            let skip = T / s
            return stride(from: 0, to: T, by: skip).map { T - 1 - $0 }
        case .linspace:
            if s == 1 { return [T - 1] }
            var out: [Int] = []
            for i in 0..<s {
                let t = Int((Double(T - 1) * Double(s - 1 - i) / Double(s - 1)).rounded())
                if out.last != t { out.append(t) }
            }
            return out
        }
    }
}
