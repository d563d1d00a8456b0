// DDIM sampling with any number of steps and eta (Song, Meng & Ermon 2021, "Denoising Diffusion
// Implicit Models", eq. 12 and 16), and its deterministic inversion (eta = 0 run forwards in time).

/// DDIM sampler.
///
/// | name here        | paper (Song et al. 2021)                                              |
/// | ---------------- | --------------------------------------------------------------------- |
/// | `a`, `aPrev`     | alpha_t, alpha_{t-1} (their alpha is DDPM's bar-alpha)                |
/// | `x0`             | "predicted x_0" = (x_t - sqrt(1 - alpha_t) eps_theta) / sqrt(alpha_t) |
/// | `eps`            | eps_theta^(t)(x_t)                                                    |
/// | `sigma`          | sigma_t(eta) = eta sqrt((1 - alpha_{t-1}) / (1 - alpha_t)) sqrt(1 - alpha_t / alpha_{t-1}) (eq. 16) |
/// | `dir`            | "direction pointing to x_t" coefficient sqrt(1 - alpha_{t-1} - sigma_t^2) |
/// | `z`              | eps_t ~ N(0, I), the "random noise" term                              |
///
/// Eq. 12: x_{t-1} = sqrt(alpha_{t-1}) x0 + sqrt(1 - alpha_{t-1} - sigma_t^2) eps + sigma_t z, with
/// x0 clipped when asked and eps left as the network gave it (as the reference's `ddim_sampler`, which
/// is this rule with eta = 0). The last step goes to alpha_{-1} = 1: it returns the clipped x0.
///
/// - x: N samples of `model.sampleSize` values: starting noise or a clean guess (`SamplerKnobs.Start`);
///   overwritten with the sample.
/// - timesteps: levels, noisiest first (`NoiseSchedule.timesteps(S, spacing:)`).
/// - knobs: eta, clip, seed. With eta = 0 no noise is drawn after the start: the result is a
///   deterministic function of the starting x.
public func sampleDDIM(model: Denoiser, x: inout [Float], timesteps: [Int], knobs: SamplerKnobs = SamplerKnobs(),
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
        // 1. eps_theta(x_t) (or v), predicted x0 (clipped), eps.
        try model.predict(x, t: t, into: &out)
        estimate(x: x, output: out, t: t, model: model, knobs: knobs, x0: &x0, eps: &eps)
        // 2. sigma_t(eta), eq. 16.
        let sigma2 = knobs.eta * knobs.eta * (1 - aPrev) / (1 - a) * (1 - a / aPrev)
        let sigma = Float(sigma2.squareRoot())
        // 3. Coefficients of eq. 12.
        let cx0 = Float(aPrev.squareRoot())
        let dir = Float(max(0, 1 - aPrev - sigma2).squareRoot())
        if sigma > 0 {
            z.withUnsafeMutableBufferPointer {
                knobs.noise.fill($0, perSample: model.sampleSize, step: UInt32(i))
            }
        }
        // 4. x_{t-1} = sqrt(alpha_{t-1}) x0 + dir eps + sigma z.
        for j in 0..<count {
            x[j] = cx0 * x0[j] + dir * eps[j] + (sigma > 0 ? sigma * z[j] : 0)
        }
        try progress?(i + 1, timesteps.count)
    }
    if knobs.referenceFinalDenoise {
        try referenceFinalDenoise(&x, steps: timesteps.count, lastT: timesteps[timesteps.count - 1], model: model)
    }
}

/// DDIM inversion: the eta = 0 ODE of eq. 12 run from clean data up to level timesteps[0] (Song et al.
/// 2021 sec. 4.3 and eq. 13, "encoding" x_0 into x_T). Steps walk the same levels as `sampleDDIM`
/// backwards; each uses eps evaluated at the current (less noisy) point with the next level's time
/// input, the usual explicit approximation, so sample(invert(x)) == x up to O(step) error. No clipping.
///
/// | name here     | paper                                    |
/// | ------------- | ---------------------------------------- |
/// | `a`, `aNext`  | alpha_t, alpha_{t+1} (DDIM's alpha)      |
/// | `x0`          | predicted x_0 at the current point       |
/// | `eps`         | eps_theta^(t+1)(x_t)                     |
///
/// - x: clean data (N samples); overwritten with x at level timesteps[0].
public func invertDDIM(model: Denoiser, x: inout [Float], timesteps: [Int], progress: SamplerProgress? = nil) throws {
    let knobs = SamplerKnobs(clip: false)
    _ = try validate(model: model, x: x, timesteps: timesteps, knobs: knobs)
    var out = [Float](repeating: 0, count: x.count)
    let ascending = Array(timesteps.reversed())
    for (i, tNext) in ascending.enumerated() {
        let t = i == 0 ? -1 : ascending[i - 1]
        let a = model.schedule.alphaBar(t), aNext = model.schedule.alphaBar(tNext)
        // 1. Network at the current point, with the next level's time input.
        try model.predict(x, t: tNext, into: &out)
        let cNext = Conversion(alphaBar: aNext), cNow = Conversion(alphaBar: a)
        for j in x.indices {
            // 2. eps from the output (read at the level the network was told), x0 at the current level.
            let eps = cNext.x0AndEps(x: x[j], output: out[j], model.parameterization).eps
            let x0 = t < 0 ? x[j] : (x[j] - cNow.sqrtOneMinusAlphaBar * eps) / cNow.sqrtAlphaBar
            // 3. x_{t+1} = sqrt(alpha_{t+1}) x0 + sqrt(1 - alpha_{t+1}) eps.
            x[j] = cNext.sqrtAlphaBar * x0 + cNext.sqrtOneMinusAlphaBar * eps
        }
        try progress?(i + 1, ascending.count)
    }
}
