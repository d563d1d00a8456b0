// The objective (masking, residual baseline, levels, targets), one step's loss/gradient bookkeeping,
// overfitting one batch, and resume == uninterrupted run, bit for bit.
import Foundation
import Testing
import Diffusion
import Tensor
import UNet
@testable import Training

@Suite(.serialized) struct TrainerTests {
    static let shape = BlockShape(channels: 1, height: 8, width: 8, frames: 1, past: 2, future: 1)

    @Test func maskingFollowsProbabilities() {
        let n = 400, fs = 64
        let clips = (0..<(n * 4 * fs)).map { Float($0 % 97) / 97 + 0.01 }    // no zero values
        let schedule = NoiseSchedule.linear()
        for (p, sync) in [(0.0, false), (1.0, false), (0.3, false), (0.5, true)] {
            let ex = makeExample(clips: clips, shape: Self.shape, samples: n, schedule: schedule, parameterization: .eps,
                                 residual: false, masking: MaskingOptions(past: p, future: p, synchronised: sync),
                                 seed: 9, step: 4)
            let pastMasked = ex.cond.pastGiven.filter { !$0 }.count, futureMasked = ex.cond.futureGiven.filter { !$0 }.count
            for i in 0..<n {
                let past = ex.cond.past[i * 2 * fs ..< (i + 1) * 2 * fs], fut = ex.cond.future[i * fs ..< (i + 1) * fs]
                #expect(past.allSatisfy { $0 == 0 } == !ex.cond.pastGiven[i], "p=\(p): past block of \(i) vs its flag")
                #expect(fut.allSatisfy { $0 == 0 } == !ex.cond.futureGiven[i], "p=\(p): future block of \(i) vs its flag")
                if sync { #expect(ex.cond.pastGiven[i] == ex.cond.futureGiven[i]) }
            }
            // Binomial(400, p): 4 standard deviations at most.
            let sd = (Double(n) * p * (1 - p)).squareRoot()
            #expect(abs(Double(pastMasked) - Double(n) * p) <= 4 * sd + 0.5, "p=\(p): \(pastMasked) past blocks masked")
            #expect(abs(Double(futureMasked) - Double(n) * p) <= 4 * sd + 0.5, "p=\(p): \(futureMasked) future blocks masked")
            if p == 0.3 { #expect(zip(ex.cond.pastGiven, ex.cond.futureGiven).contains { $0 != $1 }, "independent coins") }
        }
    }

    /// One-step samples: with fraction 0 the example is exactly the one without the option (its coins
    /// have their own stream); with 1 every sample is x_t = 0 at the top level with the target whose
    /// noise-free x0 estimate (x0 = -sqrt(1 - abar) v at x = 0) is the clean residual; with 0.5 about half
    /// are, the rest keep their draws.
    @Test func oneStepSamples() {
        let n = 200, fs = 64
        let clips = MovingShapes.clips(count: n, frames: 4, size: 8, seed: 5)
        let schedule = NoiseSchedule.linear()
        let masking = MaskingOptions(past: 0.25, future: 0.25)
        func example(_ fraction: Double) -> TrainingExample {
            makeExample(clips: clips, shape: Self.shape, samples: n, schedule: schedule, parameterization: .v,
                        residual: true, masking: masking, oneStepFraction: fraction, seed: 4, step: 7)
        }
        let none = example(0), all = example(1), half = example(0.5)
        let plain = makeExample(clips: clips, shape: Self.shape, samples: n, schedule: schedule, parameterization: .v,
                                residual: true, masking: masking, seed: 4, step: 7)
        #expect(none.xt == plain.xt && none.target == plain.target && none.levels == plain.levels)
        let top = schedule.count - 1
        let sb = (1 - schedule.alphaBar(top)).squareRoot()
        let b = baselines(cond: all.cond, shape: Self.shape)
        #expect(all.levels.allSatisfy { $0 == top } && all.xt.allSatisfy { $0 == 0 })
        #expect(all.cond == plain.cond)
        for i in 0..<n {
            let x0 = clips[(i * 4 + 2) * fs ..< (i * 4 + 3) * fs]
            for (j, v) in x0.enumerated() {
                let estimate = Float(-sb) * all.target[i * fs + j]     // what the sampler makes of the target
                #expect(abs(estimate - (v - b[i * fs + j])) <= 1e-5, "sample \(i) value \(j)")
            }
        }
        var chosen = 0
        for i in 0..<n {
            let slice = i * fs ..< (i + 1) * fs
            if half.levels[i] == top && half.xt[slice].allSatisfy({ $0 == 0 }) {
                chosen += 1
                #expect(half.target[slice] == all.target[slice])
            } else {
                #expect(half.levels[i] == plain.levels[i] && half.xt[slice] == plain.xt[slice] && half.target[slice] == plain.target[slice])
            }
        }
        #expect(abs(Double(chosen) - 100) <= 4 * 50.0.squareRoot(), "\(chosen) of 200 one-step samples at fraction 0.5")
    }

    @Test(arguments: [Parameterization.eps, .v])
    func targetsAndResidual(_ param: Parameterization) {
        let n = 64, fs = 64
        let clips = MovingShapes.clips(count: n, frames: 4, size: 8, seed: 3)
        let schedule = NoiseSchedule.linear()
        let masking = MaskingOptions(past: 0.5, future: 0.5)
        let plain = makeExample(clips: clips, shape: Self.shape, samples: n, schedule: schedule, parameterization: param,
                                residual: false, masking: masking, seed: 1, step: 2)
        let res = makeExample(clips: clips, shape: Self.shape, samples: n, schedule: schedule, parameterization: param,
                              residual: true, masking: masking, seed: 1, step: 2)
        #expect(plain.levels == res.levels && plain.cond == res.cond)
        #expect(Set(plain.levels).count > 40, "levels should spread over 0..<1000")
        #expect(plain.timeCond == plain.levels.map { Float(999 - $0) })
        let b = baselines(cond: plain.cond, shape: Self.shape)
        for i in 0..<n {
            let a = schedule.alphaBar(plain.levels[i]), sa = Float(a.squareRoot()), sb = Float((1 - a).squareRoot())
            let x0 = Array(clips[(i * 4 + 2) * fs ..< (i * 4 + 3) * fs])
            let lastPast = Array(clips[(i * 4 + 1) * fs ..< (i * 4 + 2) * fs]), next = Array(clips[(i * 4 + 3) * fs ..< (i * 4 + 4) * fs])
            for j in 0..<fs {
                // Recover eps from the plain example, check target and the residual example's x_t.
                let eps = (plain.xt[i * fs + j] - sa * x0[j]) / sb
                let want = param == .eps ? eps : sa * eps - sb * x0[j]
                #expect(abs(plain.target[i * fs + j] - want) <= 1e-3, "target \(i), \(j)")
                let bb: Float
                switch (plain.cond.pastGiven[i], plain.cond.futureGiven[i]) {
                case (true, true): bb = (lastPast[j] + next[j]) / 2
                case (true, false): bb = lastPast[j]
                case (false, true): bb = next[j]
                case (false, false): bb = 0
                }
                #expect(abs(b[i * fs + j] - bb) <= 1e-6)
                #expect(abs(res.xt[i * fs + j] - (sa * (x0[j] - bb) + sb * eps)) <= 1e-4, "residual x_t \(i), \(j)")
            }
        }
    }

    static func options(dropout: Double = 0.1) -> TrainingOptions {
        TrainingOptions(seed: 42, parameterization: .v, residual: true, masking: MaskingOptions(past: 0.5, future: 0.5),
                        dropout: dropout, adam: AdamOptions(lr: 1e-3, weightDecay: 0.01, decoupled: true, warmup: 2,
                                                            gradClip: 1), emaRate: 0.9)
    }

    /// The weights of the input convolution that read its last `channels` input channels (every output).
    static func lastInputWeights(_ model: UNet, channels c: Int) -> [Float] {
        let input = model.parameterLayout.first { $0.shape.count == 4 && $0.shape[1] == model.config.inputChannels }!
        let (o, i, k) = (input.shape[0], input.shape[1], input.shape[2] * input.shape[3])
        return (0..<o).flatMap { r in (0..<(c * k)).map { model.parameterStorage[input.offset + (r * i + i - c) * k + $0] } }
    }

    static func batch(_ step: Int, n: Int = 3) -> [Float] {
        MovingShapes.clips(count: n, frames: 4, size: 8, seed: 1000 + UInt64(step))
    }

    @Test func overfitsOneBatch() throws {
        let model = try UNet(config: Tiny.config())
        model.randomize(seed: 1)
        var o = Self.options(dropout: 0)
        o.adam = AdamOptions(lr: 3e-3, warmup: 0, gradClip: 1)
        o.masking = MaskingOptions()
        let trainer = Trainer(model: model, options: o)
        let clips = Self.batch(0, n: 4)
        // Same clips, same draws (evaluate at draw step 0): the loss must fall as the model fits them.
        let before = trainer.evaluate(clips: clips, samples: 4, height: 8, width: 8, drawStep: 0)
        for _ in 0..<30 {
            let stats = trainer.trainStep(clips: clips, samples: 4, height: 8, width: 8)
            #expect(stats.loss.isFinite && stats.gradNorm.isFinite)
        }
        let after = trainer.evaluate(clips: clips, samples: 4, height: 8, width: 8, drawStep: 0)
        print("overfit one batch: loss \(before) -> \(after)")
        #expect(after < 0.7 * before, "loss \(before) -> \(after)")
    }

    static func snapshot(_ t: Trainer) -> [[UInt32]] {
        let n = t.model.parameterStorageCount
        func bits(_ p: UnsafeMutablePointer<Float>) -> [UInt32] { (0..<n).map { p[$0].bitPattern } }
        return [bits(t.model.parameterStorage), bits(t.ema!.shadow), bits(t.adam.m), bits(t.adam.v)]
    }

    @Test(arguments: [false, true])
    func resumeIsBitIdentical(spade: Bool) throws {
        let steps = 6
        func fresh() throws -> Trainer {
            let model = try UNet(config: Tiny.config(spade: spade))
            model.randomize(seed: 2)
            return Trainer(model: model, options: Self.options())
        }
        let straight = try fresh()
        var lossesA: [Double] = []
        for s in 0..<steps { lossesA.append(straight.trainStep(clips: Self.batch(s), samples: 3, height: 8, width: 8).loss) }

        let first = try fresh()
        var lossesB: [Double] = []
        for s in 0..<(steps / 2) { lossesB.append(first.trainStep(clips: Self.batch(s), samples: 3, height: 8, width: 8).loss) }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("mcvd-resume-\(spade)-\(getpid()).safetensors").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try first.save(path: path)
        let resumed = try Trainer(checkpoint: path)
        #expect(resumed.step == steps / 2 && resumed.options == first.options)
        #expect(Self.snapshot(resumed) == Self.snapshot(first), "state after load differs from state saved")
        for s in (steps / 2)..<steps { lossesB.append(resumed.trainStep(clips: Self.batch(s), samples: 3, height: 8, width: 8).loss) }

        #expect(lossesA == lossesB, "losses \(lossesA) vs \(lossesB)")
        #expect(Self.snapshot(resumed) == Self.snapshot(straight), "weights/EMA/moments differ after resume")
        #expect(resumed.step == straight.step)

        // The checkpoint is also a model file: its unet.* tensors (the EMA weights) load as a model.
        let asModel = try UNet(path: path)
        let ema = first.ema!.shadow
        for spec in asModel.parameterLayout.prefix(5) {
            #expect(asModel.parameter(spec.name)! == Array(UnsafeBufferPointer(start: ema + spec.offset, count: spec.shape.reduce(1, *))))
        }
    }

    /// A model file with the training record but no optimiser state (what `mcvd export --keep-training`
    /// writes, here in F16) resumes lightly: its weights become raw and EMA weights, Adam starts at update
    /// 0 with zero moments, the step continues; two such resumes train identically and the loss stays
    /// finite. Without train.options it is refused.
    @Test func lightResumeFromExportedWeights() throws {
        let model = try UNet(config: Tiny.config())
        model.randomize(seed: 2)
        let first = Trainer(model: model, options: Self.options())
        for s in 0..<3 { first.trainStep(clips: Self.batch(s), samples: 3, height: 8, width: 8) }
        let dir = FileManager.default.temporaryDirectory.path
        let full = "\(dir)/mcvd-light-full-\(getpid()).safetensors", light = "\(dir)/mcvd-light-\(getpid()).safetensors"
        let bare = "\(dir)/mcvd-light-bare-\(getpid()).safetensors"
        defer { for p in [full, light, bare] { try? FileManager.default.removeItem(atPath: p) } }
        try first.save(path: full)
        let file = try SafeTensors(path: full)
        let weights = try first.model.parameterLayout.map { ("unet." + $0.name, $0.shape, try file.floats("unet." + $0.name)) }
        let keep = file.metadata.filter { !$0.key.hasPrefix("train.") || $0.key == "train.options" }
        try SafeTensors.write(path: light, tensors: weights, metadata: keep, as: .f16)
        try SafeTensors.write(path: bare, tensors: weights, metadata: keep.filter { $0.key != "train.options" }, as: .f16)

        let a = try Trainer(checkpoint: light), b = try Trainer(checkpoint: light)
        #expect(a.step == 3 && a.options == first.options && a.adam.updates == 0)
        let stored = try SafeTensors(path: light)
        for spec in a.model.parameterLayout {
            let want = try stored.floats("unet." + spec.name)
            let count = spec.shape.reduce(1, *)
            #expect(Array(UnsafeBufferPointer(start: a.model.parameterStorage + spec.offset, count: count)) == want)
            #expect(Array(UnsafeBufferPointer(start: a.ema!.shadow + spec.offset, count: count)) == want)
            #expect(Array(UnsafeBufferPointer(start: a.adam.m + spec.offset, count: count)).allSatisfy { $0 == 0 })
        }
        for s in 3..<5 {
            let la = a.trainStep(clips: Self.batch(s), samples: 3, height: 8, width: 8).loss
            let lb = b.trainStep(clips: Self.batch(s), samples: 3, height: 8, width: 8).loss
            #expect(la == lb && la.isFinite)
        }
        #expect(Self.snapshot(a) == Self.snapshot(b) && a.step == 5)
        #expect(throws: CheckpointError.self) { _ = try Trainer(checkpoint: bare) }
    }

    /// Widening a residual model to see its base (`Trainer(checkpoint:seeBase:)`): the file's weights with
    /// zero weights for the base's input channels, so the widened network gives the same output with any
    /// base; the example carries b = the residual base; one step moves the new weights (the base is used).
    @Test func widenedModelSeesItsBase() throws {
        let model = try UNet(config: Tiny.config())
        model.randomize(seed: 5)
        let first = Trainer(model: model, options: Self.options(dropout: 0))
        for s in 0..<2 { first.trainStep(clips: Self.batch(s), samples: 3, height: 8, width: 8) }
        let path = FileManager.default.temporaryDirectory.path + "/mcvd-widen-\(getpid()).safetensors"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try first.save(path: path)
        let wide = try Trainer(checkpoint: path, seeBase: 1)
        #expect(wide.model.config.numFramesBase == 1 && wide.step == 2 && wide.adam.updates == 0)
        #expect(wide.model.config.inputChannels == first.model.config.inputChannels + 1)
        let saved = try UNet(file: SafeTensors(path: path), config: first.model.config)
        let shape = first.shape(height: 8, width: 8)
        func example(_ sees: Bool) -> TrainingExample {
            makeExample(clips: Self.batch(7), shape: shape, samples: 3, schedule: first.schedule, parameterization: .v,
                        residual: true, masking: first.options.masking, seesBase: sees, seed: 42, step: 7)
        }
        let narrow = example(false), seeing = example(true)
        #expect(narrow.cond.base.isEmpty && seeing.cond.base == baselines(cond: narrow.cond, shape: shape))
        #expect(seeing.xt == narrow.xt && seeing.target == narrow.target)
        let a = saved.forward(x: narrow.xt, t: narrow.timeCond, cond: narrow.cond.stacked(shape: shape), n: 3, h: 8, w: 8)
        let b = wide.model.forward(x: seeing.xt, t: seeing.timeCond, cond: seeing.cond.stacked(shape: shape), n: 3, h: 8, w: 8)
        #expect(zip(a, b).allSatisfy { abs($0 - $1) <= 1e-5 })
        // The base's input channels (the last one of the input conv) start at zero and train.
        func baseWeights() -> [Float] { Self.lastInputWeights(wide.model, channels: 1) }
        #expect(baseWeights().allSatisfy { $0 == 0 })
        let loss = wide.trainStep(clips: Self.batch(8), samples: 3, height: 8, width: 8).loss
        #expect(loss.isFinite && baseWeights().contains { $0 != 0 })
        #expect(throws: CheckpointError.self) {
            let plain = Trainer(model: try UNet(config: Tiny.config()), options: TrainingOptions(seed: 1, residual: false))
            try plain.save(path: path)
            _ = try Trainer(checkpoint: path, seeBase: 1)
        }
    }

    /// A resumed run may change its mask probabilities (which tasks the draws train) and nothing else with
    /// them: masks 0 / 0 make every draw interpolation; out-of-range values are refused.
    @Test func resumeChangesTheMasks() throws {
        let model = try UNet(config: Tiny.config())
        model.randomize(seed: 8)
        let first = Trainer(model: model, options: Self.options(dropout: 0))
        first.trainStep(clips: Self.batch(0), samples: 3, height: 8, width: 8)
        let path = FileManager.default.temporaryDirectory.path + "/mcvd-masks-\(getpid()).safetensors"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try first.save(path: path)
        let kept = try Trainer(checkpoint: path)
        let interp = try Trainer(checkpoint: path, masking: MaskingOptions(past: 0, future: 0))
        #expect(kept.options.masking == first.options.masking && interp.options.masking == MaskingOptions(past: 0, future: 0))
        var expected = first.options
        expected.masking = MaskingOptions(past: 0, future: 0)
        #expect(interp.options == expected && interp.step == 1)
        let ex = makeExample(clips: Self.batch(3), shape: interp.shape(height: 8, width: 8), samples: 3, schedule: interp.schedule,
                             parameterization: .v, residual: true, masking: interp.options.masking, seed: 42, step: interp.step)
        #expect(ex.cond.pastGiven.allSatisfy { $0 } && ex.cond.futureGiven.allSatisfy { $0 })
        #expect(throws: CheckpointError.self) { _ = try Trainer(checkpoint: path, masking: MaskingOptions(past: 1.5, future: 0)) }
    }

    /// Widening a model over the motion base to see its two sides (`seeBase: 2`, data.num_frames_base = 2n):
    /// two more input channels at zero, the same output as the file's network, the example carries the
    /// sides (sampleBases with 2 views: twice the base's size, the base itself for samples that are not
    /// interpolation), and one step trains the new weights. A model over the blend cannot.
    @Test func widenedModelSeesBothSidesOfTheMotionBase() throws {
        let model = try UNet(config: Tiny.config(size: 16))
        model.randomize(seed: 6)
        var options = Self.options(dropout: 0)
        options.base = .motion
        let first = Trainer(model: model, options: options)
        func clips(_ s: Int) -> [Float] { MovingShapes.clips(count: 3, frames: 4, size: 16, seed: 2000 + UInt64(s)) }
        first.trainStep(clips: clips(0), samples: 3, height: 16, width: 16)
        let path = FileManager.default.temporaryDirectory.path + "/mcvd-sides-\(getpid()).safetensors"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try first.save(path: path)
        let wide = try Trainer(checkpoint: path, seeBase: 2)
        #expect(wide.model.config.numFramesBase == 2 && wide.adam.updates == 0)
        #expect(wide.model.config.inputChannels == first.model.config.inputChannels + 2)
        let shape = first.shape(height: 16, width: 16)
        func example(_ sees: Bool) -> TrainingExample {
            makeExample(clips: clips(7), shape: shape, samples: 3, schedule: first.schedule, parameterization: .v,
                        residual: true, base: .motion, masking: MaskingOptions(past: 0.3, future: 0.3), seesBase: sees,
                        baseViews: 2, seed: 42, step: 7)
        }
        let narrow = example(false), seeing = example(true)
        let b = baselines(cond: narrow.cond, shape: shape, base: .motion)
        #expect(seeing.cond.base == sampleBases(cond: narrow.cond, shape: shape, base: .motion, views: 2).seen)
        #expect(seeing.cond.base.count == 2 * b.count && seeing.xt == narrow.xt && seeing.target == narrow.target)
        let fs = shape.frameSize
        for i in 0..<3 where !(narrow.cond.pastGiven[i] && narrow.cond.futureGiven[i]) {
            let own = Array(b[i * fs ..< (i + 1) * fs])
            #expect(Array(seeing.cond.base[2 * i * fs ..< (2 * i + 2) * fs]) == own + own)
        }
        let saved = try UNet(file: SafeTensors(path: path), config: first.model.config)
        let x = saved.forward(x: narrow.xt, t: narrow.timeCond, cond: narrow.cond.stacked(shape: shape), n: 3, h: 16, w: 16)
        let y = wide.model.forward(x: seeing.xt, t: seeing.timeCond, cond: seeing.cond.stacked(shape: shape), n: 3, h: 16, w: 16)
        #expect(zip(x, y).allSatisfy { abs($0 - $1) <= 1e-5 })
        // The sides' input channels (the last two of the input conv) start at zero and train.
        func sideWeights() -> [Float] { Self.lastInputWeights(wide.model, channels: 2) }
        #expect(sideWeights().allSatisfy { $0 == 0 })
        let loss = wide.trainStep(clips: clips(8), samples: 3, height: 16, width: 16).loss
        #expect(loss.isFinite && sideWeights().contains { $0 != 0 })
        #expect(throws: CheckpointError.self) {
            let blend = Trainer(model: try UNet(config: Tiny.config()), options: Self.options())
            try blend.save(path: path)
            _ = try Trainer(checkpoint: path, seeBase: 2)
        }
    }

    /// ngf 16, so the 3x3 convolutions take the packed-weight path: after some updates, the training
    /// forward on the model's prepared weights equals the one that packs per call, bit for bit.
    @Test func packedWeightsMatchPackingPerCall() throws {
        var config = Tiny.config()
        config.ngf = 16
        let model = try UNet(config: config)
        model.randomize(seed: 4)
        let trainer = Trainer(model: model, options: Self.options())
        for s in 0..<3 { trainer.trainStep(clips: Self.batch(s), samples: 3, height: 8, width: 8) }
        let n = 2, x = (0..<(n * 64)).map { Float($0 % 13) / 13 - 0.5 }
        let cond = (0..<(n * 3 * 64)).map { Float($0 % 7) / 7 - 0.5 }
        var outs: [[Float]] = []
        for packed in [true, false] {
            trainer.pass.usePackedWeights = packed
            var out = [Float](repeating: 0, count: x.count)
            trainer.pass.forward(x: x, t: [10, 900], cond: cond, n: n, h: 8, w: 8, into: &out)
            outs.append(out)
        }
        trainer.pass.usePackedWeights = true
        #expect(outs[0].contains { $0 != 0 })
        let differing = zip(outs[0], outs[1]).filter { $0.0 != $0.1 }.count
        #expect(differing == 0, "\(differing) outputs differ between prepared packed weights and packing per call")
    }

    /// The dropout masks are the keep/drop decisions of NoiseStream(seed, layer, .dropout, step).bits,
    /// whatever the thread count (they are drawn over both threads).
    @Test func dropoutMaskFollowsItsStream() throws {
        let model = try UNet(config: Tiny.config())
        let trainer = Trainer(model: model, options: Self.options(dropout: 0.25))
        let count = 1001, layer = 3, step = 7
        let bits = NoiseStream(seed: 42, sample: UInt32(layer), block: TrainingStream.dropout.rawValue, step: UInt32(step))
            .bits(count)
        let want = bits.map { Double($0) < 0.25 * 4_294_967_296.0 ? Float(0) : Float(1 / 0.75) }
        for threads in [1, 2, 3] {
            var mask = [Float](repeating: -1, count: count)
            Engine.$threadsInTask.withValue(threads) {
                mask.withUnsafeMutableBufferPointer { trainer.dropoutFill(step: step)!(layer, $0) }
            }
            #expect(mask == want, "threads \(threads)")
        }
        let dropped = want.filter { $0 == 0 }.count
        #expect(dropped > 180 && dropped < 320, "\(dropped) of \(count) dropped at p = 0.25")
    }
}
