// Closed-form oracle for the sampler tests: data x0 ~ N(mu, s^2) independently per value.
//
// x_t = sqrt(abar) x0 + sqrt(1 - abar) eps is jointly Gaussian with eps, so the optimal (MSE) predictor
// is the conditional mean E[eps | x_t] = Cov(eps, x_t) / Var(x_t) * (x_t - E x_t)
//   = sqrt(1 - abar) / (abar s^2 + 1 - abar) * (x_t - sqrt(abar) mu),
// and the optimal v follows from v = sqrt(abar) eps - sqrt(1 - abar) x0 with x0 = E[x0 | x_t].
// Every sampler step is then affine in x with Gaussian noise, so the output's exact mean and variance
// follow from a scalar recursion (`predictedMoments`), written here from the papers' formulas.
import Foundation
@testable import Diffusion

struct GaussianOracle {
    var mu: Double
    var s: Double

    /// eps* and v* at level t for value x, in Double.
    func optimal(x: Double, t: Int, schedule: NoiseSchedule) -> (eps: Double, v: Double) {
        let a = schedule.alphaBar(t)
        let eps = (1 - a).squareRoot() / (a * s * s + 1 - a) * (x - a.squareRoot() * mu)
        let x0 = mu + a.squareRoot() * s * s / (a * s * s + 1 - a) * (x - a.squareRoot() * mu)
        return (eps, a.squareRoot() * eps - (1 - a).squareRoot() * x0)
    }

    /// A denoiser predicting eps* or v*; counts its calls in `calls` if given.
    func denoiser(_ schedule: NoiseSchedule, _ parameterization: Parameterization, sampleSize: Int,
                  calls: CallLog? = nil) -> Denoiser {
        Denoiser(schedule: schedule, parameterization: parameterization, sampleSize: sampleSize) { x, labels, out in
            calls?.labels.append(labels)
            for i in 0..<labels.count {
                let t = schedule.step(forTimeCond: labels[i])
                for j in i * sampleSize ..< (i + 1) * sampleSize {
                    let o = optimal(x: Double(x[j]), t: t, schedule: schedule)
                    out[j] = Float(parameterization == .eps ? o.eps : o.v)
                }
            }
        }
    }

    enum Kind { case ddpm, ddim(eta: Double) }

    /// Exact mean and variance of the sampler's output when it starts from x_T ~ N(0, 1) and runs
    /// `timesteps` with this oracle and no clipping. Tracks y = x - sqrt(abar_t) mu: each step maps
    /// y -> c y + sigma z, so mean -> c mean and var -> c^2 var + sigma^2.
    func predictedMoments(_ schedule: NoiseSchedule, _ timesteps: [Int], _ kind: Kind) -> (mean: Double, variance: Double) {
        var m = -schedule.alphaBar(timesteps[0]).squareRoot() * mu, v = 1.0
        for (i, t) in timesteps.enumerated() {
            let tp = i + 1 < timesteps.count ? timesteps[i + 1] : -1
            let a = schedule.alphaBar(t), ap = schedule.alphaBar(tp)
            let V = a * s * s + 1 - a
            // x0* - mu = sqrt(a) s^2 / V * y ; eps* = sqrt(1 - a) / V * y.
            let c: Double, sigma2: Double
            switch kind {
            case .ddim(let eta):
                // Song et al. eq. 12 and 16.
                sigma2 = eta * eta * (1 - ap) / (1 - a) * (1 - a / ap)
                let dir = max(0, 1 - ap - sigma2).squareRoot()
                c = (ap.squareRoot() * a.squareRoot() * s * s + dir * (1 - a).squareRoot()) / V
            case .ddpm:
                // Ho et al. eq. 7: mean = sqrt(ap) beta/(1-a) x0 + sqrt(1-beta)(1-ap)/(1-a) x_t.
                let beta = 1 - a / ap
                let cx0 = ap.squareRoot() * beta / (1 - a), cxt = (1 - beta).squareRoot() * (1 - ap) / (1 - a)
                c = cx0 * a.squareRoot() * s * s / V + cxt
                sigma2 = tp < 0 ? 0 : (1 - ap) / (1 - a) * beta
            }
            m = c * m
            v = c * c * v + sigma2
        }
        return (mu + m, v)
    }
}

/// Records the time inputs and x a network saw (reference type: closures append to it).
final class CallLog: @unchecked Sendable {
    var labels: [[Float]] = []
    var inputs: [[Float]] = []
}

func moments(_ x: [Float]) -> (mean: Double, variance: Double) {
    let n = Double(x.count)
    let mean = x.reduce(0.0) { $0 + Double($1) } / n
    let variance = x.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / (n - 1)
    return (mean, variance)
}
