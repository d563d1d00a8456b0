// Tasks by masking (DESIGN.md sec. 2): which conditioning blocks are given, the cheap baseline b of
// residual mode, and `sampleBlock`, which runs one block end to end (conditioning, baseline, starting
// noise or warm start, sampler, b + r). Multi-block videos are in Autoregression.swift.

/// What the model is asked to do; decided by which conditioning blocks are given.
///
/// | task          | past  | future | residual baseline b                                  |
/// | ------------- | ----- | ------ | ---------------------------------------------------- |
/// | interpolate   | given | given  | blend of the last past and first future frame        |
/// | predict       | given | zeros  | the last past frame (copy-last)                      |
/// | predictPast   | zeros | given  | the first future frame                               |
/// | generate      | zeros | zeros  | zeros                                                |
public enum Task: String, Sendable, CaseIterable, Codable {
    case interpolate
    case predict
    case predictPast = "predict-past"
    case generate

    public var usesPast: Bool { self == .interpolate || self == .predict }
    public var usesFuture: Bool { self == .interpolate || self == .predictPast }

    /// Builds the conditioning of N samples: given blocks copied, the others zeroed and flagged masked.
    /// - past: (N, k, C, H, W), required when the task uses the past (k > 0); ignored otherwise.
    /// - future: (N, f, C, H, W), required when the task uses the future (f > 0); ignored otherwise.
    public func conditioning(shape: BlockShape, samples n: Int, past: [Float]? = nil,
                             future: [Float]? = nil) throws -> Conditioning {
        let p = n * shape.past * shape.frameSize, f = n * shape.future * shape.frameSize
        func block(_ given: Bool, _ frames: [Float]?, _ size: Int, _ name: String, _ k: Int) throws -> [Float] {
            guard given else { return [Float](repeating: 0, count: size) }
            guard k > 0 else { throw TaskError.missingBlock("task \(rawValue) needs \(name) frames; the model has none") }
            guard let frames else { throw TaskError.missingBlock("task \(rawValue) needs the \(name) block") }
            guard frames.count == size else {
                throw TaskError.badShape("\(name) block has \(frames.count) values, expected \(size)")
            }
            return frames
        }
        return Conditioning(
            past: try block(usesPast, past, p, "past", shape.past),
            future: try block(usesFuture, future, f, "future", shape.future),
            pastGiven: [Bool](repeating: usesPast, count: n),
            futureGiven: [Bool](repeating: usesFuture, count: n))
    }

    /// The residual baseline b: (N, n, C, H, W), from the given blocks of `cond`.
    /// Interpolation blends linearly in time: frame j of n (0-based) sits at w = (j + 1) / (n + 1)
    /// between the last past frame P and the first future frame Q, b_j = (1 - w) P + w Q (n = 1: the
    /// average). Prediction copies P into every frame; past prediction copies Q; generation is zeros.
    public func baseline(shape: BlockShape, cond: Conditioning) -> [Float] {
        let n = cond.samples, fs = shape.frameSize, frames = shape.frames
        var b = [Float](repeating: 0, count: n * shape.sampleSize)
        for i in 0..<n {
            let lastPast = usesPast && shape.past > 0 ? ((i * shape.past + shape.past - 1) * fs) : nil
            let firstFuture = usesFuture && shape.future > 0 ? (i * shape.future * fs) : nil
            for j in 0..<frames {
                let dst = (i * frames + j) * fs
                switch (lastPast, firstFuture) {
                case let (p?, q?):
                    let w = Float(j + 1) / Float(frames + 1)
                    for e in 0..<fs { b[dst + e] = (1 - w) * cond.past[p + e] + w * cond.future[q + e] }
                case let (p?, nil):
                    for e in 0..<fs { b[dst + e] = cond.past[p + e] }
                case let (nil, q?):
                    for e in 0..<fs { b[dst + e] = cond.future[q + e] }
                case (nil, nil):
                    break
                }
            }
        }
        return b
    }
}

/// A residual base computed outside Diffusion (e.g. motion-compensated, which needs the Motion module):
/// for `task` and the conditioning of N samples, b as (N, n, C, H, W). Training and sampling pass the
/// same function, so a model is sampled over the base it was trained over.
public typealias BaselineFunction = @Sendable (_ task: Task, _ shape: BlockShape, _ cond: Conditioning) throws -> [Float]
/// What a network that sees its base gets as conditioning, from the base b of the same task: (N, v * n, C,
/// H, W) for data.num_frames_base = v * n (MotionBase's ResidualBase.seen; nil in BlockOptions = b itself).
public typealias SeenBaseFunction = @Sendable (_ task: Task, _ shape: BlockShape, _ cond: Conditioning, _ b: [Float]) throws -> [Float]

public enum TaskError: Error, Equatable {
    case missingBlock(String)
    case badShape(String)
    case unsupported(String)
}

/// Where a block's sampler starts: pure noise x_T (the sampler of the papers) or x = 0 (no noise at
/// all: with one step of a v model the network's conditional mean, the estimate a training run's one-step
/// samples teach; with a warm start, the guess unnoised, sqrt(abar) x_guess).
public enum StartPoint: String, Sendable, CaseIterable, Codable {
    case noise
    case zero
}

/// How one block is sampled: everything but the network and the frames.
public struct BlockOptions: Sendable {
    public var sampler: SamplerKind
    /// Sampler steps S (DDPM with S = T is the reference's full chain).
    public var steps: Int
    public var spacing: TimestepSpacing
    public var eta: Double
    public var clip: Bool
    /// Residual mode (model metadata): the sampler runs on r = x0 - b; the result is b + r.
    public var residual: Bool
    /// Warm start strength in (0, 1]: start from the task's baseline b noised to level
    /// strength * (T - 1), keeping only the scheduled levels at or below it. nil = start from noise.
    public var warmStart: Double?
    /// noise: x_T ~ N(0, I) (or the warm-start guess noised); zero: no starting noise (`StartPoint`).
    public var start: StartPoint
    public var noise: NoiseSource
    /// The base b of residual mode and of a warm start; nil = `Task.baseline` (blend / last / first / zeros).
    public var baseline: BaselineFunction?
    /// The network sees the base b as n more conditioning frames (`Conditioning.base`; residual mode only).
    public var seesBase: Bool
    /// With `seesBase`: what it sees, made from b (nil: b itself).
    public var seenBase: SeenBaseFunction?

    public init(sampler: SamplerKind = .ddim, steps: Int = 100, spacing: TimestepSpacing = .skip, eta: Double = 0,
                clip: Bool = true, residual: Bool = false, warmStart: Double? = nil, noise: NoiseSource = NoiseSource(),
                baseline: BaselineFunction? = nil, start: StartPoint = .noise, seesBase: Bool = false,
                seenBase: SeenBaseFunction? = nil) {
        self.sampler = sampler
        self.seesBase = seesBase
        self.seenBase = seenBase
        self.start = start
        self.steps = steps
        self.spacing = spacing
        self.eta = eta
        self.clip = clip
        self.residual = residual
        self.warmStart = warmStart
        self.noise = noise
        self.baseline = baseline
    }

    /// The levels this block visits, noisiest first.
    public func timesteps(_ schedule: NoiseSchedule) -> [Int] {
        var ts = schedule.timesteps(steps, spacing: spacing)
        if let s = warmStart {
            let top = Int((min(max(s, 0), 1) * Double(schedule.count - 1)).rounded())
            ts = ts.filter { $0 <= top }
            if ts.isEmpty { ts = [top] }
        }
        return ts
    }
}

/// Samples one block of N samples for `task` given its conditioning; returns (N, n, C, H, W).
///
/// Steps: 1. b = the task's baseline (`options.baseline` when given; residual mode) or zeros; 2. the start: noise x_T, or with a warm
/// start the guess (the baseline; in residual mode r = 0) noised to the first level; with `start == .zero` no noise (x = 0); 3. the sampler on
/// x (= r in residual mode) with x0 clipped so that b + x0 stays in the data range; 4. b + x.
public func sampleBlock(network: @escaping ConditionalNetwork, schedule: NoiseSchedule,
                        parameterization: Parameterization, shape: BlockShape, task: Task, cond: Conditioning,
                        options: BlockOptions, progress: SamplerProgress? = nil) throws -> [Float] {
    let n = cond.samples
    guard !options.seesBase || options.residual else {
        throw TaskError.badShape("a network that sees its base needs residual mode")
    }
    // 1. Baseline.
    func base() throws -> [Float] {
        guard let f = options.baseline else { return task.baseline(shape: shape, cond: cond) }
        let b = try f(task, shape, cond)
        guard b.count == n * shape.sampleSize else {
            throw TaskError.badShape("the residual base has \(b.count) values, expected \(n * shape.sampleSize)")
        }
        return b
    }
    let b = options.residual ? try base() : nil
    var seen = cond
    if options.seesBase, let b { seen.base = try options.seenBase.map { try $0(task, shape, cond, b) } ?? b }
    let model = Denoiser(schedule: schedule, parameterization: parameterization, shape: shape,
                         network: network, cond: seen)
    // 2. Start.
    var knobs = SamplerKnobs(eta: options.eta, clip: options.clip, clipOffset: b, noise: options.noise)
    var x: [Float]
    if options.start == .zero {
        // No starting noise: r = 0 (residual), else 0 or, with a warm start, the guess at its level's scale.
        x = [Float](repeating: 0, count: n * shape.sampleSize)
        if !options.residual, options.warmStart != nil {
            let scale = Float(schedule.alphaBar(options.timesteps(schedule)[0]).squareRoot())
            x = try base().map { scale * $0 }
        }
    } else if options.warmStart != nil {
        knobs.start = .guess
        x = options.residual ? [Float](repeating: 0, count: n * shape.sampleSize)
                             : try base()
    } else {
        x = options.noise.initialNoise(samples: n, perSample: shape.sampleSize)
    }
    // 3. Sampler.
    try options.sampler.function(model, &x, options.timesteps(schedule), knobs, progress)
    // 4. Back from the residual.
    if let b { for j in x.indices { x[j] += b[j] } }
    return x
}
