// The training objective of MCVD (Voleti, Jolicoeur-Martineau & Pal 2022; the reference's
// conditioning_fn + anneal_dsm_score_estimation): split clips into past / current / future frames,
// zero ALL past frames with probability p_mask and independently ALL future frames (or with the same
// coin when synchronised), draw t uniformly and eps ~ N(0, I), noise x0 (or x0 - b in residual mode)
// and regress eps (or v): loss = mean over the batch of 1/2 ||target - output||^2.
// Every draw comes from a named Philox stream (seed, step, purpose), so a step is reproducible alone.
import Diffusion
import Motion
import MotionBase

/// Stream families of the trainer's draws (NoiseStream.block). Distinct from the samplers' block ids.
public enum TrainingStream: UInt32, Sendable {
    case level = 0x7472_0001, mask, noise, dropout, oneStep
}

public struct MaskingOptions: Sendable, Codable, Equatable {
    /// Probability of zeroing all past frames of a sample (reference `data.prob_mask_cond`).
    public var past: Double
    /// Probability of zeroing all future frames (reference `data.prob_mask_future`).
    public var future: Double
    /// The future block uses the past block's coin (reference `data.prob_mask_sync`).
    public var synchronised: Bool
    public init(past: Double = 0, future: Double = 0, synchronised: Bool = false) {
        self.past = past; self.future = future; self.synchronised = synchronised
    }
}

/// One batch turned into the network's regression problem.
public struct TrainingExample: Sendable {
    /// x_t: (N, n, C, H, W), the network input.
    public var xt: [Float]
    /// The regression target (eps or v), same shape.
    public var target: [Float]
    /// The conditioning after masking (past and future blocks, given flags).
    public var cond: Conditioning
    /// Levels t (paper index: 0 = least noisy) and the network's time input per sample.
    public var levels: [Int]
    public var timeCond: [Float]
}

/// Builds the training example of step `step` from clips (N, k + n + f, C, H, W): frames 0 ..< k are the
/// past, k ..< k + n the frames to denoise, then f future frames (the reference's X[:, :cond],
/// X[:, cond:cond+n], X[:, cond+n:]).
public func makeExample(clips: [Float], shape: BlockShape, samples n: Int, schedule: NoiseSchedule,
                        parameterization: Parameterization, residual: Bool, base: ResidualBase = .blend,
                        conditionStride: Int = 1, masking: MaskingOptions, oneStepFraction: Double = 0,
                        seesBase: Bool = false, baseViews: Int = 1, contexts: [BaseContext?]? = nil, seed: UInt64,
                        step: Int) -> TrainingExample {
    let fs = shape.frameSize, k = shape.past, nf = shape.frames, f = shape.future, perClip = (k + nf + f) * fs
    precondition(clips.count == n * perClip, "clips: \(clips.count) values for \(n) clips of \(k + nf + f) frames")
    let s = UInt32(truncatingIfNeeded: step)
    func stream(_ purpose: TrainingStream, sample: UInt32 = 0) -> NoiseStream {
        NoiseStream(seed: seed, sample: sample, block: purpose.rawValue, step: s)
    }
    // 1. Masking coins: a block is zeroed when its uniform falls below p (the reference keeps it when
    //    rand > p).
    let coins = stream(.mask).bits(2 * n)
    func below(_ bits: UInt32, _ p: Double) -> Bool { Double(bits) < p * 4_294_967_296.0 }
    var past = [Float](), x0 = [Float](), future = [Float]()
    past.reserveCapacity(n * k * fs); x0.reserveCapacity(n * nf * fs); future.reserveCapacity(n * f * fs)
    var pastGiven = [Bool](), futureGiven = [Bool]()
    for i in 0..<n {
        let base = i * perClip
        let pastMasked = below(coins[i], masking.past)
        let futureMasked = masking.synchronised ? pastMasked : below(coins[n + i], masking.future)
        pastGiven.append(!pastMasked || k == 0); futureGiven.append(!futureMasked || f == 0)
        past += pastMasked ? [Float](repeating: 0, count: k * fs) : Array(clips[base ..< base + k * fs])
        x0 += clips[base + k * fs ..< base + (k + nf) * fs]
        let fb = base + (k + nf) * fs
        future += futureMasked ? [Float](repeating: 0, count: f * fs) : Array(clips[fb ..< fb + f * fs])
    }
    var cond = Conditioning(past: past, future: future, pastGiven: pastGiven, futureGiven: futureGiven)

    // 2. Residual mode: diffuse x0 - b, b the base of the task the masks leave (clips in [-1, 1]); a
    //    network that sees its base gets b as n more conditioning frames (`seesBase`, residual only), or
    //    with `baseViews` 2 the motion base's two sides as 2n (ResidualBase.seen).
    precondition(!seesBase || residual, "a network that sees its base needs residual mode")
    if residual {
        let (b, seen) = sampleBases(cond: cond, shape: shape, base: base, conditionStride: conditionStride, contexts: contexts,
                                    views: seesBase ? baseViews : 0)
        for j in x0.indices { x0[j] -= b[j] }
        if seesBase { cond.base = seen }
    }

    // 3. Levels and noise, then x_t and the target (Diffusion's addNoise).
    var levels = stream(.level).uniformInts(n, below: schedule.count)
    var eps = [Float](repeating: 0, count: x0.count)
    eps.withUnsafeMutableBufferPointer { e in
        for i in 0..<n {
            stream(.noise, sample: UInt32(i)).fill(UnsafeMutableBufferPointer(rebasing: e[i * nf * fs ..< (i + 1) * nf * fs]))
        }
    }
    var xt = [Float](repeating: 0, count: x0.count), target = xt
    x0.withUnsafeBufferPointer { xp in
        eps.withUnsafeBufferPointer { ep in
            xt.withUnsafeMutableBufferPointer { out in
                target.withUnsafeMutableBufferPointer { tg in
                    schedule.addNoise(x0: xp, eps: ep, t: levels, into: out, target: tg, parameterization: parameterization)
                }
            }
        }
    }
    // 4. One-step samples (v only): the input the noise-free one-step sampler gives the network, x = 0
    //    at the top level T - 1, with the target whose x0 estimate is the clean x0 (x0 = -sqrt(1 - abar) v
    //    at x = 0). Drawn from their own stream, so a fraction of 0 leaves every other draw unchanged.
    if oneStepFraction > 0 {
        precondition(parameterization == .v, "one-step samples need the v parameterisation")
        let top = schedule.count - 1
        let scale = Float(-1 / (1 - schedule.alphaBar(top)).squareRoot())
        let coins = stream(.oneStep).bits(n)
        for i in 0..<n where below(coins[i], oneStepFraction) {
            levels[i] = top
            for j in i * nf * fs ..< (i + 1) * nf * fs { xt[j] = 0; target[j] = scale * x0[j] }
        }
    }
    return TrainingExample(xt: xt, target: target, cond: cond, levels: levels,
                           timeCond: levels.map { schedule.timeCond($0) })
}

/// The residual base of each sample for the task its given blocks define (`base.values` per sample, on
/// frames in [-1, 1]: the trainer's data range). With `contexts`, a sample that has one gets the motion
/// base computed on its whole frames and cropped (BaseContext; the pixelwise bases need no context). The
/// motion base cannot fail on the trainer's 1- or 3-channel clips; another channel count stops with a
/// message (the CLI checks it first).
public func baselines(cond: Conditioning, shape: BlockShape, base: ResidualBase = .blend, conditionStride: Int = 1,
                      contexts: [BaseContext?]? = nil) -> [Float] {
    sampleBases(cond: cond, shape: shape, base: base, conditionStride: conditionStride, contexts: contexts, views: 0).base
}

/// `baselines` and, in the same pass (one base per sample), what a network that sees the base is given
/// of it (views v >= 1: ResidualBase.seen, per sample (N, v * n, C, H, W); empty for views 0), on the
/// whole frames where a sample has a context.
public func sampleBases(cond: Conditioning, shape: BlockShape, base: ResidualBase = .blend, conditionStride: Int = 1,
                        contexts: [BaseContext?]? = nil, views: Int) -> (base: [Float], seen: [Float]) {
    let fs = shape.frameSize
    let interpolator = base == .motion ? MotionInterpolator() : nil
    var out = [Float](), seenOut = [Float]()
    out.reserveCapacity(cond.samples * shape.sampleSize)
    seenOut.reserveCapacity(views * cond.samples * shape.sampleSize)
    for i in 0..<cond.samples {
        let p = cond.pastGiven[i] && shape.past > 0, f = cond.futureGiven[i] && shape.future > 0
        let task: Task = p ? (f ? .interpolate : .predict) : (f ? .predictPast : .generate)
        let one = Conditioning(past: Array(cond.past[i * shape.past * fs ..< (i + 1) * shape.past * fs]),
                               future: Array(cond.future[i * shape.future * fs ..< (i + 1) * shape.future * fs]),
                               pastGiven: [p], futureGiven: [f])
        do {
            // The base (and what is seen of it) on the frames it is computed on, then cropped where those
            // are the whole frames.
            var (onShape, onCond, crop): (BlockShape, Conditioning, BaseContext?) = (shape, one, nil)
            if base == .motion, let c = contexts?[i] {
                onShape = BlockShape(channels: shape.channels, height: c.height, width: c.width, frames: shape.frames,
                                     past: shape.past, future: shape.future)
                onCond = Conditioning(past: p ? c.past : [Float](repeating: 0, count: shape.past * onShape.frameSize),
                                      future: f ? c.future : [Float](repeating: 0, count: shape.future * onShape.frameSize),
                                      pastGiven: [p], futureGiven: [f])
                crop = c
            }
            func cropped(_ x: [Float]) -> [Float] { crop?.crop(x, channels: shape.channels, size: shape.width) ?? x }
            let b = try base.values(task: task, shape: onShape, cond: onCond, symmetric: true, conditionStride: conditionStride,
                                    interpolator: interpolator)
            out += cropped(b)
            if views > 0 {
                seenOut += cropped(try base.seen(views: views, b: b, task: task, shape: onShape, cond: onCond, symmetric: true,
                                                 interpolator: interpolator))
            }
        } catch {
            fatalError("residual base \(base.rawValue): \(error)")
        }
    }
    return (out, seenOut)
}

/// loss = mean_i 1/2 sum_j (output - target)^2 over sample i; writes dLoss/dOutput into `grad`.
public func denoisingLoss(output: UnsafePointer<Float>, target: [Float], samples n: Int,
                          grad: UnsafeMutablePointer<Float>) -> Double {
    var total = 0.0
    let scale = 1 / Float(n)
    for j in target.indices {
        let d = output[j] - target[j]
        total += 0.5 * Double(d) * Double(d)
        grad[j] = d * scale
    }
    return total / Double(n)
}
