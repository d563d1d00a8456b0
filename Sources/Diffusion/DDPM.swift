// DDPM ancestral sampling (Ho, Jain & Abbeel 2020, Algorithm 2), written in the x0-form the reference
// uses: predict x0, clip it, then draw from the posterior q(x_{t-1} | x_t, x0).

/// DDPM ancestral sampler.
///
/// | name here        | paper (Ho et al. 2020)                          |
/// | ---------------- | ----------------------------------------------- |
/// | `a`, `aPrev`     | bar-alpha_t, bar-alpha_{t-1} (eq. 4)            |
/// | `beta`           | beta_t = 1 - bar-alpha_t / bar-alpha_{t-1}      |
/// | `x0`             | x_0 estimate from eps_theta (eq. 15), clipped   |
/// | `mean`           | tilde-mu_t(x_t, x_0) (eq. 7)                    |
/// | `sigma`          | sqrt(tilde-beta_t), posterior variance (eq. 7)  |
/// | `z`              | z ~ N(0, I) (Algorithm 2, line 3)               |
///
/// With every level (`schedule.timesteps(T)`) this is Algorithm 2 with sigma_t^2 = tilde-beta_t, as
/// the reference's `ddpm_sampler`. With fewer levels, beta is recomputed between the kept levels
/// (the reference's `subsample`), which is the DDPM posterior of the subsampled chain. No noise is added
/// on the last step (bar-alpha_{-1} = 1 makes tilde-beta 0 there anyway).
///
/// - x: N samples of `model.sampleSize` values: the starting noise (or a clean guess, see
///   `SamplerKnobs.Start`); overwritten with the sample.
/// - timesteps: levels, noisiest first, strictly decreasing (`NoiseSchedule.timesteps`).
/// - knobs: clip, seed; eta is ignored.
public func sampleDDPM(model: Denoiser, x: inout [Float], timesteps: [Int], knobs: SamplerKnobs = SamplerKnobs(),
                       progress: SamplerProgress? = nil) throws {
    _ = try validate(model: model, x: x, timesteps: timesteps, knobs: knobs)
    warmStart(&x, to: timesteps[0], model: model, knobs: knobs)
    let count = x.count
    var out = [Float](repeating: 0, count: count)
    var x0 = [Float](repeating: 0, count: count)
    var eps = [Float](repeating: 0, count: count)
    var z = [Float](repeating: 0, count: count)

    for (i, t) in timesteps.enumerated() {
        let tPrev = i + 1 < timesteps.count ? timesteps[i + 1] : -1
        let a = model.schedule.alphaBar(t), aPrev = model.schedule.alphaBar(tPrev)
        let beta = 1 - a / aPrev
        // 1. eps_theta(x_t, t) (or v) and the clipped x0 estimate.
        try model.predict(x, t: t, into: &out)
        estimate(x: x, output: out, t: t, model: model, knobs: knobs, x0: &x0, eps: &eps)
        // 2. Posterior mean tilde-mu = sqrt(aPrev) beta / (1 - a) x0 + sqrt(1 - beta) (1 - aPrev) / (1 - a) x_t.
        let cx0 = Float(aPrev.squareRoot() * beta / (1 - a))
        let cxt = Float((1 - beta).squareRoot() * (1 - aPrev) / (1 - a))
        // 3. sigma = sqrt(tilde-beta) = sqrt((1 - aPrev) / (1 - a) * beta); 0 on the last step.
        let last = i + 1 == timesteps.count
        let sigma = last ? Float(0) : Float(((1 - aPrev) / (1 - a) * beta).squareRoot())
        if !last {
            z.withUnsafeMutableBufferPointer {
                knobs.noise.fill($0, perSample: model.sampleSize, step: UInt32(i))
            }
        }
        // 4. x_{t-1} = tilde-mu + sigma z.
        for j in 0..<count {
            x[j] = cx0 * x0[j] + cxt * x[j] + (last ? 0 : sigma * z[j])
        }
        try progress?(i + 1, timesteps.count)
    }
    if knobs.referenceFinalDenoise {
        try referenceFinalDenoise(&x, steps: timesteps.count, lastT: timesteps[timesteps.count - 1], model: model)
    }
}
