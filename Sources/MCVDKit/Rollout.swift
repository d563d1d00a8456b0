// Block-wise autoregression one block at a time: what `Generator.generate` and `extend` run, and what a
// source element pulls from (an unbounded stream keeps only the frames later blocks condition on), plus
// the check that a model was trained for generation from nothing. Sampling itself is Generator.sample.
import Diffusion

public final class Rollout {
    public let generator: any BlockSampler
    public let backward: Bool
    /// Blocks made so far; block i used noise block `firstNoiseBlock + i`.
    public private(set) var blocks = 0
    /// The noise block of the first block (the element's predict mode numbers its model calls).
    public let firstNoiseBlock: UInt32
    /// The frames later blocks may condition on, in time order (given and made), trimmed to the span the
    /// conditioning reaches: (k - 1) s + 1 frames at the end (backward: (f - 1) s + 1 at the start).
    private var window: [[Float]]

    /// `given`: the frames to continue (none for generation); `extend` checks there are enough.
    public init(generator: any BlockSampler, given: [[Float]] = [], backward: Bool = false, firstNoiseBlock: UInt32 = 0) {
        self.firstNoiseBlock = firstNoiseBlock
        self.generator = generator
        self.backward = backward
        window = given
    }

    /// The next block's n frames in time order: after those made so far, conditioned on the k frames
    /// before it at the condition stride (unconditional while there are fewer than (k - 1) s + 1); backward,
    /// the block just before, conditioned on the f frames after it. When sampling throws (also a
    /// cancellation from `Generator.progress`), nothing changes: the next call makes the same block.
    public func next() throws -> [[Float]] {
        let g = generator, n = g.model.frames, k = g.model.past
        let offsets = g.model.conditionOffsets
        let noise = firstNoiseBlock &+ UInt32(truncatingIfNeeded: blocks)
        let out: [[Float]]
        if backward {
            // The new block starts n frames before window[0]; its future frame j is window[j s].
            out = try g.sample(task: .predictPast, conditions: [BlockCondition(future: offsets.future.map { window[$0 - n] })],
                               noiseBlock: noise)[0]
            window.insert(contentsOf: out, at: 0)
            let span = g.model.span(g.model.future)
            if window.count > span { window.removeLast(window.count - span) }
        } else {
            if k > 0 && window.count >= g.model.span(k) {
                let t = window.count
                out = try g.sample(task: .predict, conditions: [BlockCondition(past: offsets.past.map { window[t + $0] })],
                                   noiseBlock: noise)[0]
            } else {
                out = try g.sample(task: .generate, conditions: [BlockCondition()], noiseBlock: noise)[0]
            }
            window.append(contentsOf: out)
            let span = g.model.span(k)
            if window.count > span { window.removeFirst(window.count - span) }
        }
        blocks += 1
        return out
    }
}

extension Model {
    /// Throws when the model was not trained for generation from nothing, or (for `count` above its n
    /// frames per block; nil = an unbounded stream) for continuing a video block by block: the first block
    /// needs training samples with every conditioning frame masked (data.prob_mask_cond, and
    /// prob_mask_future or prob_mask_sync), later blocks samples with the past given and the future
    /// masked, and past frames at all (k >= 1).
    public func checkGeneration(count: Int?) throws {
        let d = config.data
        let futureMasked = d.probMaskSync ? d.probMaskCond : d.probMaskFuture
        if past > 0 && d.probMaskCond == 0 {
            throw MCVDKitError("the model was trained without masking its past frames (data.prob_mask_cond 0): it never "
                               + "learnt to start a video from nothing; train with --p-mask-past P, P > 0 (mcvd train's default 0.5)")
        }
        if future > 0 && futureMasked == 0 {
            throw MCVDKitError("the model was trained without masking its future frames (data.prob_mask_future 0): it never "
                               + "learnt to make frames without them; train with --p-mask-future P, P > 0 (mcvd train's default 0.5)")
        }
        guard count.map({ $0 > frames }) ?? true else { return }
        if past == 0 {
            throw MCVDKitError("the model has no past frames: it makes \(frames) frame(s) from nothing and cannot continue a "
                               + "video past them; train with --past K (K >= 1) for longer videos")
        }
        if future > 0 && d.probMaskSync {
            throw MCVDKitError("the model was trained with prob_mask_sync (past and future masked together): it never saw "
                               + "the past given with the future masked, which continuing a video needs; train with --no-synchronised")
        }
        if d.probMaskCond >= 1 {
            throw MCVDKitError("the model was trained with every past frame masked (data.prob_mask_cond 1): it cannot "
                               + "continue a video from its past frames")
        }
    }
}
