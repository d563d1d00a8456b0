// The training step: example (Objective.swift) -> U-Net forward with dropout -> loss -> backward ->
// gradient-norm clip -> Adam/AdamW at the warmed-up rate -> EMA. All state that a resumed run needs
// (weights, EMA, Adam moments, step) is in `Trainer`; every random draw is named by (seed, step), so
// the RNG position is the step. Checkpoints: Checkpoint.swift. Data loading is the caller's.
import Diffusion
import MotionBase
import Tensor
import UNet

public struct TrainingOptions: Sendable, Codable, Equatable {
    public var seed: UInt64
    public var parameterization: Parameterization
    /// Diffuse x0 - b over the task's baseline b (model metadata `diffusion.residual`).
    public var residual: Bool
    /// The base b of residual mode (model metadata `diffusion.base`); nil = blend, today's per-task
    /// base (a missing field in older checkpoints' options reads as nil).
    public var base: ResidualBase?
    public var masking: MaskingOptions
    /// Spacing of the conditioning frames in the training clips (nil = 1, consecutive): not used by the
    /// trainer itself, recorded in the model's config as data.condition_stride for those who sample it.
    public var conditionStride: Int?
    /// Dropout probability in the res blocks (reference `model.dropout`), before their Conv_1.
    public var dropout: Double
    public var adam: AdamOptions
    /// EMA rate (reference `model.ema_rate`, 0.999); nil = no EMA.
    public var emaRate: Double?
    /// Linear schedule (reference: 1000 steps, 1e-4 .. 0.02) or cosine.
    public var cosineSchedule: Bool
    public var steps: Int
    public var betaMin: Double, betaMax: Double
    /// Fraction of samples trained as the noise-free one-step sampler runs the network (x = 0 at the top
    /// level, target = the clean x0's v; Objective.swift); nil = 0. v parameterisation only.
    public var oneStepFraction: Double?

    public init(seed: UInt64 = 0, parameterization: Parameterization = .eps, residual: Bool = false,
                conditionStride: Int? = nil, masking: MaskingOptions = MaskingOptions(), dropout: Double = 0, adam: AdamOptions = AdamOptions(),
                emaRate: Double? = 0.999, cosineSchedule: Bool = false, steps: Int = 1000, betaMin: Double = 1e-4,
                betaMax: Double = 0.02, base: ResidualBase? = nil, oneStepFraction: Double? = nil) {
        self.seed = seed; self.parameterization = parameterization; self.residual = residual; self.base = base
        self.conditionStride = conditionStride
        self.masking = masking; self.dropout = dropout; self.adam = adam; self.emaRate = emaRate
        self.cosineSchedule = cosineSchedule; self.steps = steps; self.betaMin = betaMin; self.betaMax = betaMax
        self.oneStepFraction = oneStepFraction
    }

    public var schedule: NoiseSchedule {
        cosineSchedule ? .cosine(steps: steps) : .linear(steps: steps, betaMin: betaMin, betaMax: betaMax)
    }
}

/// What one step reports.
public struct StepStats: Sendable, Equatable {
    public var step: Int
    public var loss: Double
    /// Global gradient norm before clipping.
    public var gradNorm: Double
    public var learningRate: Double
}

public final class Trainer: @unchecked Sendable {
    public let model: UNet
    public let options: TrainingOptions
    public let schedule: NoiseSchedule
    public let pass: UNetTraining
    public let adam: Adam
    public let ema: EMA?
    /// Updates done so far; the next step's draws are named by it.
    public internal(set) var step = 0

    public init(model: UNet, options: TrainingOptions) {
        self.model = model
        self.options = options
        schedule = options.schedule
        pass = UNetTraining(model: model)
        // The training forward reads the packed 3x3 weights that `model.prepare()` derives; every
        // parameter change here (Adam, checkpoint load) is followed by prepare().
        model.prepare()
        pass.usePackedWeights = true
        adam = Adam(count: model.parameterStorageCount, options: options.adam)
        ema = options.emaRate.map { EMA(copying: model.parameterStorage, count: model.parameterStorageCount, rate: $0) }
    }

    /// The block shape of clips of height x width for this model.
    public func shape(height: Int, width: Int) -> BlockShape {
        let c = model.config
        return BlockShape(channels: c.channels, height: height, width: width, frames: c.numFrames,
                          past: c.numFramesCond, future: c.numFramesFuture)
    }

    /// The dropout masks of step `step`: layer l's mask from stream (seed, sample l, dropout, step).
    func dropoutFill(step: Int) -> DropoutFill? {
        let p = options.dropout
        guard p > 0 else { return nil }
        let seed = options.seed, s = UInt32(truncatingIfNeeded: step), keep = Float(1 / (1 - p))
        let threshold = p * 4_294_967_296.0
        let key = (UInt32(truncatingIfNeeded: seed), UInt32(truncatingIfNeeded: seed >> 32))
        // Word i of the mask is word i % 4 of Philox block i / 4 of the stream
        // NoiseStream(seed, sample: layer, block: .dropout, step) — the values of its `bits` — drawn here
        // per block, straight into the mask, over both threads.
        return { layer, mask in
            let base = mask.baseAddress!, count = mask.count
            Parallel.shared.split((count + 3) / 4) { blocks in
                for b in blocks {
                    let r = Philox.block((UInt32(truncatingIfNeeded: b), s, UInt32(layer), TrainingStream.dropout.rawValue),
                                         key: key)
                    let i = 4 * b
                    base[i] = Double(r.0) < threshold ? 0 : keep
                    if i + 1 < count { base[i + 1] = Double(r.1) < threshold ? 0 : keep }
                    if i + 2 < count { base[i + 2] = Double(r.2) < threshold ? 0 : keep }
                    if i + 3 < count { base[i + 3] = Double(r.3) < threshold ? 0 : keep }
                }
            }
        }
    }

    /// One optimisation step on N clips (N, k + n + f, C, H, W) of `height` x `width` (crops may be
    /// smaller than the model's image size; H, W divisible by 2^(levels-1)). `contexts`: the whole frames
    /// the motion base of each sample is computed on (makeExample).
    @discardableResult
    public func trainStep(clips: [Float], samples n: Int, height: Int, width: Int, contexts: [BaseContext?]? = nil) -> StepStats {
        let shape = shape(height: height, width: width)
        let ex = makeExample(clips: clips, shape: shape, samples: n, schedule: schedule,
                             parameterization: options.parameterization, residual: options.residual,
                             base: options.base ?? .blend, conditionStride: options.conditionStride ?? 1, masking: options.masking,
                             oneStepFraction: options.oneStepFraction ?? 0, seesBase: model.config.numFramesBase > 0,
                             baseViews: model.config.baseViews, contexts: contexts, seed: options.seed, step: step)
        let cond = ex.cond.stacked(shape: shape)
        var out = [Float](repeating: 0, count: ex.xt.count), dOut = out
        out.withUnsafeMutableBufferPointer { o in
            ex.xt.withUnsafeBufferPointer { x in
                cond.withUnsafeBufferPointer { c in
                    pass.forward(x: x.baseAddress!, t: ex.timeCond, cond: c.isEmpty ? nil : c.baseAddress!, n: n,
                                 h: height, w: width, into: o.baseAddress!, dropout: dropoutFill(step: step))
                }
            }
        }
        let loss = out.withUnsafeBufferPointer { o in
            dOut.withUnsafeMutableBufferPointer { denoisingLoss(output: o.baseAddress!, target: ex.target, samples: n, grad: $0.baseAddress!) }
        }
        pass.zeroGradients()
        dOut.withUnsafeBufferPointer { pass.backward(dOut: $0.baseAddress!) }
        let count = model.parameterStorageCount
        let norm = clipGradientNorm(pass.gradients, count: count, maxNorm: options.adam.gradClip)
        let lr = options.adam.learningRate(atUpdate: step)
        adam.update(params: model.parameterStorage, grads: pass.gradients, lr: lr)
        model.prepare()     // packed weight copies, read by the next step's forward and by inference
        ema?.update(model.parameterStorage)
        let stats = StepStats(step: step, loss: loss, gradNorm: norm, learningRate: lr)
        step += 1
        return stats
    }

    /// The loss on clips without updating anything (no dropout; the draws of step `drawStep`), e.g. a
    /// validation loss with a fixed `drawStep` so that successive evaluations compare.
    public func evaluate(clips: [Float], samples n: Int, height: Int, width: Int, drawStep: Int,
                         contexts: [BaseContext?]? = nil) -> Double {
        let shape = shape(height: height, width: width)
        let ex = makeExample(clips: clips, shape: shape, samples: n, schedule: schedule,
                             parameterization: options.parameterization, residual: options.residual,
                             base: options.base ?? .blend, conditionStride: options.conditionStride ?? 1, masking: options.masking,
                             oneStepFraction: options.oneStepFraction ?? 0, seesBase: model.config.numFramesBase > 0,
                             baseViews: model.config.baseViews, contexts: contexts, seed: options.seed, step: drawStep)
        let out = model.forward(x: ex.xt, t: ex.timeCond, cond: model.config.condFrames > 0 ? ex.cond.stacked(shape: shape) : nil,
                                n: n, h: height, w: width)
        var grad = [Float](repeating: 0, count: out.count)
        return out.withUnsafeBufferPointer { o in
            grad.withUnsafeMutableBufferPointer { denoisingLoss(output: o.baseAddress!, target: ex.target, samples: n, grad: $0.baseAddress!) }
        }
    }

    /// Copies the EMA weights (or the raw ones without EMA) into `target`, a model of the same config.
    public func copyWeights(ema useEMA: Bool = true, into target: UNet) {
        precondition(target.config == model.config, "copyWeights: different architectures")
        let src = useEMA ? (ema?.shadow ?? model.parameterStorage) : model.parameterStorage
        target.parameterStorage.update(from: src, count: model.parameterStorageCount)
        target.prepare()
    }
}
