// What all samplers share: one signature (model, x, timesteps, knobs, progress), the knobs, the step
// that turns a network output into a clipped x0 estimate, and the warm start. The update rules are in
// DDPM.swift and DDIM.swift.

/// Knobs common to the samplers (k-diffusion style: one struct, unused fields ignored).
public struct SamplerKnobs: Sendable {
    /// Where x starts.
    public enum Start: Sendable, Equatable {
        /// x already is x at level timesteps[0] (pure noise: `NoiseSource.initialNoise`).
        case noise
        /// x is a clean guess x_init; it is first noised to level timesteps[0] with the stream's
        /// `NoiseStream.initial` noise: x = sqrt(abar) x_init + sqrt(1 - abar) z (warm start; the
        /// reference's `init_prev_t`, which does the same at its first kept step).
        case guess
    }

    /// DDIM's eta (Song et al. 2021 eq. 16): 0 = deterministic, 1 = DDPM-like variance. DDPM ignores it.
    public var eta: Double
    /// Clip the predicted x0 to `clipRange` (the reference's `clip_before`, data rescaled to [-1, 1]).
    public var clip: Bool
    public var clipRange: ClosedRange<Float>
    /// Residual mode: a per-value offset b (same count as x); the clip applies to x0 + b, i.e. the
    /// sampler's residual x0 is kept in [lo - b, hi - b].
    public var clipOffset: [Float]?
    public var start: Start
    /// Seed and per-sample stream ids of all noise drawn by the sampler.
    public var noise: NoiseSource
    /// The reference's extra last step (`sampling.denoise: true`): x <- x - sqrt(1 - abar_last) *
    /// eps(x, label L - 1), L = number of steps. Off by default: it is not part of DDPM or DDIM, and with
    /// subsampled steps the label L - 1 is not the last step's. Kept for parity with reference outputs.
    public var referenceFinalDenoise: Bool

    public init(eta: Double = 0, clip: Bool = true, clipRange: ClosedRange<Float> = -1...1,
                clipOffset: [Float]? = nil, start: Start = .noise, noise: NoiseSource = NoiseSource(),
                referenceFinalDenoise: Bool = false) {
        self.eta = eta
        self.clip = clip
        self.clipRange = clipRange
        self.clipOffset = clipOffset
        self.start = start
        self.noise = noise
        self.referenceFinalDenoise = referenceFinalDenoise
    }
}

/// Called after each step with (steps done, total steps). An error it throws stops the sampler there and
/// is rethrown (how a caller cancels a long run between network evaluations).
public typealias SamplerProgress = (_ done: Int, _ total: Int) throws -> Void

/// The shared sampler signature: x (N samples of `model.sampleSize`) is overwritten with the sample.
public typealias SamplerFunction = (
    _ model: Denoiser, _ x: inout [Float], _ timesteps: [Int], _ knobs: SamplerKnobs,
    _ progress: SamplerProgress?
) throws -> Void

/// The samplers by name (for properties and command-line options).
public enum SamplerKind: String, Sendable, CaseIterable, Codable {
    case ddpm
    case ddim

    public var function: SamplerFunction {
        switch self {
        case .ddpm: return sampleDDPM
        case .ddim: return sampleDDIM
        }
    }
}

public enum SamplerError: Error, Equatable {
    case badTimesteps(String)
    case badShape(String)
}

// MARK: - Shared pieces

/// Checks the inputs every sampler needs; returns N.
func validate(model: Denoiser, x: [Float], timesteps: [Int], knobs: SamplerKnobs) throws -> Int {
    guard model.sampleSize > 0, !x.isEmpty, x.count % model.sampleSize == 0 else {
        throw SamplerError.badShape("x has \(x.count) values, not a multiple of \(model.sampleSize)")
    }
    guard !timesteps.isEmpty else { throw SamplerError.badTimesteps("no timesteps") }
    for (i, t) in timesteps.enumerated() {
        guard t >= 0 && t < model.schedule.count else {
            throw SamplerError.badTimesteps("timestep \(t) outside 0 ..< \(model.schedule.count)")
        }
        guard i == 0 || t < timesteps[i - 1] else {
            throw SamplerError.badTimesteps("timesteps must strictly decrease (noisiest first)")
        }
    }
    if let offset = knobs.clipOffset, offset.count != x.count {
        throw SamplerError.badShape("clipOffset has \(offset.count) values, x has \(x.count)")
    }
    return x.count / model.sampleSize
}

/// Warm start: noise a clean guess to level t (see `SamplerKnobs.Start.guess`).
func warmStart(_ x: inout [Float], to t: Int, model: Denoiser, knobs: SamplerKnobs) {
    guard knobs.start == .guess else { return }
    let c = Conversion(alphaBar: model.schedule.alphaBar(t))
    var z = [Float](repeating: 0, count: x.count)
    z.withUnsafeMutableBufferPointer { knobs.noise.fill($0, perSample: model.sampleSize, step: NoiseStream.initial) }
    for j in x.indices { x[j] = c.sqrtAlphaBar * x[j] + c.sqrtOneMinusAlphaBar * z[j] }
}

/// From the network output at level t: x0 estimate (clipped if asked) into `x0`, eps estimate into
/// `eps` (unclipped, as the reference's DDIM uses it). `out` may alias neither.
func estimate(x: [Float], output: [Float], t: Int, model: Denoiser, knobs: SamplerKnobs,
              x0: inout [Float], eps: inout [Float]) {
    let c = Conversion(alphaBar: model.schedule.alphaBar(t))
    let lo = knobs.clipRange.lowerBound, hi = knobs.clipRange.upperBound
    let p = model.parameterization
    for j in x.indices {
        var (a, e) = c.x0AndEps(x: x[j], output: output[j], p)
        if knobs.clip {
            let b = knobs.clipOffset?[j] ?? 0
            a = min(max(a, lo - b), hi - b)
        }
        x0[j] = a
        eps[j] = e
    }
}

/// The reference's final denoise step (see `SamplerKnobs.referenceFinalDenoise`).
func referenceFinalDenoise(_ x: inout [Float], steps: Int, lastT: Int, model: Denoiser) throws {
    let n = x.count / model.sampleSize
    let label = Float(steps - 1)
    var out = [Float](repeating: 0, count: x.count)
    try x.withUnsafeBufferPointer { xp in
        try out.withUnsafeMutableBufferPointer {
            try model.network(xp, [Float](repeating: label, count: n), $0)
        }
    }
    let scale = Float((1 - model.schedule.alphaBar(lastT)).squareRoot())
    let c = Conversion(alphaBar: model.schedule.alphaBar(model.schedule.step(forTimeCond: label)))
    for j in x.indices {
        let e = c.x0AndEps(x: x[j], output: out[j], model.parameterization).eps
        x[j] -= scale * e
    }
}
