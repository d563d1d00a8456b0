// Running a model on frames: conditioning blocks from planar frames (past/future counts, the model's
// condition stride), the sampler (Diffusion's sampleBlock: DDPM/DDIM, steps, eta, warm start, residual
// base b + r, b the model's diffusion.base: MotionBase's ResidualBase, the trainer's function), and the three uses built on it — interpolation of a sequence, extension by block-wise
// autoregression (forward or backward in time), unconditional generation. Frames are planar (C, H, W)
// floats in the model's range (FrameMapping.swift). All noise is named by (seed, block), so a seed gives
// the same frames on every run and thread count.
import Diffusion
import MotionBase
import Tensor

/// How to sample: everything but the model and the frames.
public struct SamplingSettings: Sendable, Equatable {
    public var sampler: SamplerKind
    /// nil: the model's default (`Model.defaultSteps`).
    public var steps: Int?
    /// DDIM eta: 0 deterministic, 1 DDPM-like noise.
    public var eta: Double
    /// Start from the task's cheap estimate noised to this level in (0, 1] instead of pure noise.
    public var warmStart: Double?
    /// Starting noise or none (`StartPoint`); nil: the model's default (`Model.defaultStart`).
    public var start: StartPoint?
    public var seed: UInt64
    /// Test-time ensemble: 1 off; 2 the estimate averaged with the model's estimate of the left-right
    /// mirrored input, mirrored back; 4 also of the time-reversed input (past and future swapped) and its
    /// mirror: interpolation by a model with k = f; other tasks take the mirror only. Made for the
    /// noise-free one-step sampler (an estimate of the conditional mean, which averaging sharpens); with
    /// noise it averages independent samples (a blur). Costs that many network runs (one batch).
    /// nil: the model's default for the task (`Model.defaultEnsemble`).
    public var ensemble: Int?

    public init(sampler: SamplerKind = .ddim, steps: Int? = nil, eta: Double = 0, warmStart: Double? = nil,
                start: StartPoint? = nil, seed: UInt64 = 0, ensemble: Int? = nil) {
        self.sampler = sampler; self.steps = steps; self.eta = eta; self.warmStart = warmStart; self.start = start
        self.seed = seed; self.ensemble = ensemble
    }
}

extension SamplingSettings {
    /// What these settings come to for `model`, its defaults filling what they leave open: the sampler
    /// steps, the start and the test-time ensemble of `task` (Generator's and `mcvd eval`'s one rule).
    public func steps(for model: Model) -> Int { steps ?? model.defaultSteps }
    public func start(for model: Model) -> StartPoint { start ?? model.defaultStart(steps: steps(for: model)) }
    public func ensemble(for model: Model, task: Task) -> Int {
        ensemble ?? model.defaultEnsemble(task: task, sampler: sampler, steps: steps(for: model), start: start(for: model),
                                          warmStart: warmStart)
    }
}

/// One block's given frames, planar: the k past frames oldest first, the f future frames nearest first.
public struct BlockCondition {
    public var past: [[Float]]
    public var future: [[Float]]
    public init(past: [[Float]] = [], future: [[Float]] = []) { self.past = past; self.future = future }
}

/// One view of a block's input for the test-time ensemble: left-right mirrored, and/or time-reversed (the
/// future frames become the past, nearest last, and the past the future, nearest first).
struct EnsembleView {
    var mirror = false
    var reverse = false

    func apply(_ c: BlockCondition, width: Int) -> BlockCondition {
        var out = reverse ? BlockCondition(past: c.future.reversed(), future: c.past.reversed()) : c
        if mirror {
            out.past = out.past.map { Self.mirrored($0, width: width) }
            out.future = out.future.map { Self.mirrored($0, width: width) }
        }
        return out
    }

    /// A planar frame (rows of `width` values) mirrored left-right.
    static func mirrored(_ frame: [Float], width: Int) -> [Float] {
        var out = frame
        for row in stride(from: 0, to: frame.count, by: width) {
            for x in 0..<width { out[row + x] = frame[row + width - 1 - x] }
        }
        return out
    }
}

/// A frame of a sequence and whether the model made it.
public struct SequenceFrame {
    public var pixels: [Float]
    public var generated: Bool
    public init(pixels: [Float], generated: Bool) { self.pixels = pixels; self.generated = generated }
}

public final class Generator {
    public let model: Model
    public let height: Int, width: Int
    public let settings: SamplingSettings
    /// Called after each sampler step with (noise block, steps done, total steps). An error it throws
    /// stops sampling there and is rethrown by the call that was sampling (cancellation).
    public var progress: ((_ block: Int, _ done: Int, _ total: Int) throws -> Void)?
    public let shape: BlockShape
    private let network: ConditionalNetwork

    public init(model: Model, height: Int, width: Int, settings: SamplingSettings = SamplingSettings()) throws {
        Engine.configure()  // BLAS single-threaded: the same bits in every process (docs/library.md)
        let m = model.sizeMultiple
        guard height >= m, width >= m, height % m == 0, width % m == 0 else {
            throw MCVDKitError("frames of \(width)x\(height): the model needs width and height multiples of \(m)")
        }
        if let steps = settings.steps, steps < 1 { throw MCVDKitError("steps must be >= 1 (got \(steps))") }
        guard settings.eta >= 0 else { throw MCVDKitError("eta must be >= 0 (got \(settings.eta))") }
        if let w = settings.warmStart, !(w > 0 && w <= 1) { throw MCVDKitError("warm start must lie in (0, 1] (got \(w))") }
        if let e = settings.ensemble, ![1, 2, 4].contains(e) { throw MCVDKitError("ensemble must be 1, 2 or 4 (got \(e))") }
        self.model = model; self.height = height; self.width = width; self.settings = settings
        shape = model.shape(height: height, width: width)
        network = model.network(height: height, width: width)
    }

    public var steps: Int { settings.steps(for: model) }
    public var start: StartPoint { settings.start(for: model) }
    /// The views a sample of `task` averages over: the settings' count, else the model's default.
    public func ensemble(for task: Task) -> Int { settings.ensemble(for: model, task: task) }

    /// Samples one batch: for each condition, the model's n frames for `task`. The noise is stream
    /// `noiseBlock` of the seed (one stream per sample within it).
    public func sample(task: Task, conditions: [BlockCondition], noiseBlock: UInt32 = 0) throws -> [[[Float]]] {
        try sample(task: task, conditions: conditions, noise: NoiseSource(seed: settings.seed, block: noiseBlock))
    }

    /// The same with one noise block per condition: condition i gets the frames a batch of one with block
    /// `noiseBlocks[i]` gets (mcvd eval batches the gaps the element samples one by one).
    public func sample(task: Task, conditions: [BlockCondition], noiseBlocks: [UInt32]) throws -> [[[Float]]] {
        guard noiseBlocks.count == conditions.count else {
            throw MCVDKitError("\(noiseBlocks.count) noise blocks for \(conditions.count) conditions")
        }
        return try sample(task: task, conditions: conditions,
                          noise: NoiseSource(seed: settings.seed, block: noiseBlocks.first ?? 0, slotBlocks: noiseBlocks))
    }

    /// The views of the input a sample averages over (`SamplingSettings.ensemble`).
    func ensembleViews(task: Task) -> [EnsembleView] {
        switch ensemble(for: task) {
        case 4 where task == .interpolate && shape.past == shape.future:
            return [EnsembleView(), EnsembleView(mirror: true), EnsembleView(reverse: true), EnsembleView(mirror: true, reverse: true)]
        case 2, 4: return [EnsembleView(), EnsembleView(mirror: true)]
        default: return [EnsembleView()]
        }
    }

    /// One batch holding every view of every condition (each view with the noise its condition would
    /// draw alone), then per condition the mean of its views mapped back, in a fixed order.
    func sample(task: Task, conditions: [BlockCondition], noise: NoiseSource) throws -> [[[Float]]] {
        let views = ensembleViews(task: task)
        guard views.count > 1, !conditions.isEmpty else { return try sampleBatch(task: task, conditions: conditions, noise: noise) }
        let count = conditions.count, (w, n, fs) = (width, shape.frames, shape.frameSize)
        func repeated<T>(_ a: [T]) -> [T] { Array(views.map { _ in a }.joined()) }
        var wide = noise
        if let ids = noise.sampleIDs {
            wide.sampleIDs = repeated(ids)
        } else if noise.slotBlocks == nil {
            wide.sampleIDs = repeated((0..<count).map { UInt32($0) })
        }
        wide.slotBlocks = noise.slotBlocks.map(repeated)
        let made = try sampleBatch(task: task, conditions: Array(views.map { v in conditions.map { v.apply($0, width: w) } }.joined()),
                                   noise: wide)
        let scale = 1 / Float(views.count)
        return (0..<count).map { i in
            (0..<n).map { j in
                var mean = [Float](repeating: 0, count: fs)
                for (v, view) in views.enumerated() {
                    let frame = view.mirror ? EnsembleView.mirrored(made[v * count + i][view.reverse ? n - 1 - j : j], width: w)
                                            : made[v * count + i][view.reverse ? n - 1 - j : j]
                    for e in 0..<fs { mean[e] += frame[e] }
                }
                for e in 0..<fs { mean[e] *= scale }
                return mean
            }
        }
    }

    func sampleBatch(task: Task, conditions: [BlockCondition], noise: NoiseSource) throws -> [[[Float]]] {
        guard !conditions.isEmpty else { return [] }
        let (k, f, fs) = (shape.past, shape.future, shape.frameSize)
        func stack(_ blocks: [[[Float]]], count: Int, name: String) throws -> [Float] {
            var out: [Float] = []
            out.reserveCapacity(blocks.count * count * fs)
            for frames in blocks {
                guard frames.count == count else { throw MCVDKitError("task \(task.rawValue) needs \(count) \(name) frame(s), got \(frames.count)") }
                for frame in frames {
                    guard frame.count == fs else {
                        throw MCVDKitError("a frame has \(frame.count) values; \(model.channels)x\(height)x\(width) needs \(fs)")
                    }
                    out += frame
                }
            }
            return out
        }
        try model.check(task: task)
        let past = task.usesPast ? try stack(conditions.map(\.past), count: k, name: "past") : nil
        let future = task.usesFuture ? try stack(conditions.map(\.future), count: f, name: "future") : nil
        let cond = try task.conditioning(shape: shape, samples: conditions.count, past: past, future: future)
        let options = BlockOptions(sampler: settings.sampler, steps: steps, eta: settings.eta, residual: model.residual,
                                   warmStart: settings.warmStart, noise: noise,
                                   baseline: model.base == .blend ? nil : model.base.function(symmetric: model.range == .symmetric,
                                                                                          conditionStride: model.conditionStride),
                                   start: start, seesBase: model.seesBase,
                                   seenBase: model.baseViews > 1 ? model.base.seenFunction(views: model.baseViews, symmetric: model.range == .symmetric) : nil)
        let report: SamplerProgress? = progress.map { p in { done, total in try p(Int(noise.block), done, total) } }
        let x = try sampleBlock(network: network, schedule: model.schedule, parameterization: model.parameterization,
                                shape: shape, task: task, cond: cond, options: options, progress: report)
        let n = shape.frames
        return conditions.indices.map { i in (0..<n).map { j in Array(x[(i * n + j) * fs ..< (i * n + j + 1) * fs]) } }
    }
}

/// Samples blocks of the model's n frames for a task: the Generator (frames at the size the model runs
/// at) and the FrameGenerator (frames of any size). Interpolation, extension and generation are built on it.
public protocol BlockSampler: AnyObject {
    var model: Model { get }
    func sample(task: Task, conditions: [BlockCondition], noiseBlock: UInt32) throws -> [[[Float]]]
}

extension Generator: BlockSampler {}

extension BlockSampler {
    /// Fills the model's n frames into every gap of `frames` that has k frames before and f after it,
    /// conditioning on those neighbours (the given frames are taken as consecutive kept frames: the
    /// inserted frames sit where training put them when the model's condition stride is n + 1). Gaps
    /// are sampled `batch` at a time (nil: all at once), batch i with noise block `noiseBlock + i`.
    /// Returns the whole sequence in time order.
    public func interpolate(_ frames: [[Float]], batch: Int? = nil, noiseBlock: UInt32 = 0) throws -> [SequenceFrame] {
        let (k, f) = (model.past, model.future)
        try model.check(task: .interpolate)
        guard frames.count >= k + f else {
            throw MCVDKitError("interpolation needs at least \(k + f) frames (\(k) before and \(f) after a gap), got \(frames.count)")
        }
        if let batch, batch < 1 { throw MCVDKitError("batch must be >= 1") }
        let gaps = Array((k - 1)..<(frames.count - f))
        let size = batch ?? gaps.count
        var made: [Int: [[Float]]] = [:]
        for (chunk, start) in stride(from: 0, to: gaps.count, by: size).enumerated() {
            let part = Array(gaps[start ..< min(start + size, gaps.count)])
            let conditions = part.map { i in BlockCondition(past: Array(frames[(i - k + 1)...i]), future: Array(frames[(i + 1)...(i + f)])) }
            let out = try sample(task: .interpolate, conditions: conditions, noiseBlock: noiseBlock &+ UInt32(chunk))
            for (i, block) in zip(part, out) { made[i] = block }
        }
        var sequence: [SequenceFrame] = []
        for (i, frame) in frames.enumerated() {
            sequence.append(SequenceFrame(pixels: frame, generated: false))
            for g in made[i] ?? [] { sequence.append(SequenceFrame(pixels: g, generated: true)) }
        }
        return sequence
    }

    /// `count` new frames after `frames` (or before them with `backward`), block by block: each block
    /// predicts the model's n frames from the k frames before it at the condition stride s (t - 1 -
    /// (k - 1) s, ..., t - 1), or backward from the f frames after it (t + n, t + n + s, ...); generated
    /// frames condition later blocks. Block i uses noise block `noiseBlock + i` (a caller that extends one
    /// stream in several calls, such as the element's live prediction, keeps the noise of its blocks apart).
    /// Returns the new frames in time order.
    public func extend(_ frames: [[Float]], count: Int, backward: Bool = false, noiseBlock: UInt32 = 0) throws -> [[Float]] {
        try model.check(task: backward ? .predictPast : .predict)
        let need = backward ? model.span(model.future) : model.span(model.past)
        guard frames.count >= need else {
            throw MCVDKitError("\(backward ? "past prediction" : "prediction") needs at least \(need) frames "
                               + "(\(backward ? model.future : model.past) at stride \(model.conditionStride)), got \(frames.count)")
        }
        return try autoregress(frames, count: count, backward: backward, noiseBlock: noiseBlock)
    }

    /// Model calls (noise blocks) `extend` or `generate` makes for `count` frames: ceil(count / n).
    public func blocks(for count: Int) -> Int { count <= 0 ? 0 : (count + model.frames - 1) / model.frames }

    /// `count` frames from nothing: the first block unconditional, later blocks predicted from the frames
    /// made so far once there are enough (as `extend`), unconditional until then. `Rollout` makes the
    /// same frames one block at a time (mcvdsrc); `Model.checkGeneration` says whether the model was
    /// trained for this.
    public func generate(count: Int) throws -> [[Float]] {
        try autoregress([], count: count, backward: false)
    }

    func autoregress(_ given: [[Float]], count: Int, backward: Bool, noiseBlock: UInt32 = 0) throws -> [[Float]] {
        guard count >= 0 else { throw MCVDKitError("frame count must be >= 0 (got \(count))") }
        let rollout = Rollout(generator: self, given: given, backward: backward, firstNoiseBlock: noiseBlock)
        var made: [[Float]] = []
        while made.count < count {
            let block = try rollout.next()
            if backward { made.insert(contentsOf: block, at: 0) } else { made.append(contentsOf: block) }
        }
        // The frames nearest the given ones (all of them for generation).
        return backward ? Array(made.suffix(count)) : Array(made.prefix(count))
    }
}
