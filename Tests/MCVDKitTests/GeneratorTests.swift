// The generator against Diffusion's own primitives assembled by hand (conditioning, sampleBlock,
// autoregress): same frames for the same seed; the condition stride picks the frames docs/model-format.md
// says; determinism; errors on bad requests. Tiny random-weight models (Support.swift), 16x16.
import Diffusion
import Foundation
import MCVDKit
import MotionBase
import Testing

/// n planar frames of a moving gradient, C x 16 x 16 in [-1, 1].
func clip(_ n: Int, channels c: Int = 1, size: Int = 16) -> [[Float]] {
    (0..<n).map { t in
        (0..<(c * size * size)).map { i in
            let x = i % size, y = (i / size) % size, ch = i / (size * size)
            return Float(sin(Double(x + 2 * t) * 0.4 + Double(y) * 0.2 + Double(ch))) * 0.8
        }
    }
}

@Suite struct GeneratorTests {
    @Test(arguments: [false, true])
    func interpolationMatchesSampleBlock(residual: Bool) throws {
        let model = try tinyModel("interp-\(residual)", tinyConfig(past: 2, future: 1, residual: residual, parameterization: "v"))
        let settings = SamplingSettings(sampler: .ddim, steps: 3, eta: 0.5, warmStart: residual ? nil : 0.6, seed: 9)
        let g = try Generator(model: model, height: 16, width: 16, settings: settings)
        let frames = clip(6)
        let sequence = try g.interpolate(frames)
        // k = 2, f = 1: gaps after frames 1...4, one frame each, originals untouched in order.
        #expect(sequence.count == 10 && sequence.filter(\.generated).count == 4)
        #expect(sequence.filter { !$0.generated }.map(\.pixels) == frames)
        #expect(sequence.map(\.generated) == [false, false, true, false, true, false, true, false, true, false])
        // By hand: all gaps in one batch, noise block 0.
        let shape = BlockShape(channels: 1, height: 16, width: 16, frames: 1, past: 2, future: 1)
        let gaps = [1, 2, 3, 4]
        let cond = try Task.interpolate.conditioning(shape: shape, samples: 4, past: gaps.flatMap { frames[$0 - 1] + frames[$0] },
                                                     future: gaps.flatMap { frames[$0 + 1] })
        let options = BlockOptions(sampler: .ddim, steps: 3, eta: 0.5, residual: residual, warmStart: residual ? nil : 0.6,
                                   noise: NoiseSource(seed: 9, block: 0))
        let x = try sampleBlock(network: conditionalNetwork(model.unet, height: 16, width: 16), schedule: .linear(),
                                parameterization: .v, shape: shape, task: .interpolate, cond: cond, options: options)
        #expect(sequence.filter(\.generated).flatMap(\.pixels) == x)
        // Batches of 3 gaps: blocks 0 and 1, the first batch's frames unchanged.
        let batched = try g.interpolate(frames, batch: 3).filter(\.generated).map(\.pixels)
        #expect(batched.count == 4)
        let firstThree = try g.sample(task: .interpolate, conditions: [1, 2, 3].map {
            BlockCondition(past: [frames[$0 - 1], frames[$0]], future: [frames[$0 + 1]]) })
        #expect(Array(batched.prefix(3)) == firstThree.map { $0[0] })
    }

    /// A model over the motion base that sees its two sides (data.num_frames_base = 2n): the generator
    /// gives the network the sides MotionBase makes (by hand: sampleBlock with ResidualBase.seen), so its
    /// frames are those; the same weights given the base twice instead make other frames (the sides count).
    @Test func sidesModelSeesMotionsTwoSides() throws {
        var config = tinyConfig(past: 2, future: 1, residual: true, parameterization: "v", base: "motion")
        var data = config["data"] as! [String: Any]
        data["num_frames_base"] = 2
        config["data"] = data
        let model = try tinyModel("sides", config)
        #expect(model.baseViews == 2 && model.summary.contains("sees-sides"))
        let settings = SamplingSettings(sampler: .ddim, steps: 1, seed: 3, ensemble: 1)
        let g = try Generator(model: model, height: 16, width: 16, settings: settings)
        let frames = clip(5)
        let made = try g.interpolate(frames).filter(\.generated).flatMap(\.pixels)
        let shape = BlockShape(channels: 1, height: 16, width: 16, frames: 1, past: 2, future: 1)
        let gaps = [1, 2, 3]
        let cond = try Task.interpolate.conditioning(shape: shape, samples: 3, past: gaps.flatMap { frames[$0 - 1] + frames[$0] },
                                                     future: gaps.flatMap { frames[$0 + 1] })
        func byHand(_ seen: @escaping SeenBaseFunction) throws -> [Float] {
            let options = BlockOptions(sampler: .ddim, steps: 1, residual: true, noise: NoiseSource(seed: 3, block: 0),
                                       baseline: ResidualBase.motion.function(symmetric: true), start: .zero, seesBase: true,
                                       seenBase: seen)
            return try sampleBlock(network: conditionalNetwork(model.unet, height: 16, width: 16), schedule: .linear(),
                                   parameterization: .v, shape: shape, task: .interpolate, cond: cond, options: options)
        }
        #expect(made == (try byHand(ResidualBase.motion.seenFunction(views: 2, symmetric: true))))
        let twice: SeenBaseFunction = { _, _, _, b in
            var out: [Float] = []
            for i in 0..<3 {
                let own = Array(b[i * 256 ..< (i + 1) * 256])
                out += own
                out += own
            }
            return out
        }
        #expect(made != (try byHand(twice)))
    }

    /// The test-time ensemble against plain samples of the transformed inputs, assembled here: 2 = the mean
    /// of the sample and the mirrored-input sample mirrored back; 4 (interpolation, k = f) adds the
    /// time-reversed input (future as past, past as future) and its mirror. The noise of each view is the
    /// noise its condition draws alone (per-condition blocks kept). 3 is refused.
    @Test func ensembleAveragesMirroredAndReversedViews() throws {
        let model = try tinyModel("ensemble", tinyConfig(past: 2, future: 2, residual: true, parameterization: "v"))
        let frames = clip(6)
        func mirror(_ f: [Float]) -> [Float] { (0..<16).flatMap { y in (0..<16).reversed().map { x in f[y * 16 + x] } } }
        let conditions = [1, 2].map { BlockCondition(past: [frames[$0 - 1], frames[$0]], future: [frames[$0 + 1], frames[$0 + 2]]) }
        let plain = try Generator(model: model, height: 16, width: 16, settings: SamplingSettings(steps: 2, eta: 0.5, seed: 5))
        func views(_ c: BlockCondition) -> [BlockCondition] {
            let reversed = BlockCondition(past: c.future.reversed(), future: c.past.reversed())
            return [c, BlockCondition(past: c.past.map(mirror), future: c.future.map(mirror)),
                    reversed, BlockCondition(past: reversed.past.map(mirror), future: reversed.future.map(mirror))]
        }
        for count in [2, 4] {
            let g = try Generator(model: model, height: 16, width: 16, settings: SamplingSettings(steps: 2, eta: 0.5, seed: 5, ensemble: count))
            let made = try g.sample(task: .interpolate, conditions: conditions, noiseBlocks: [3, 7])
            for (i, c) in conditions.enumerated() {
                let each = try views(c).prefix(count).map { try plain.sample(task: .interpolate, conditions: [$0], noiseBlock: [3, 7][i])[0][0] }
                let back = each.enumerated().map { v, f in v % 2 == 1 ? mirror(f) : f }
                let mean = (0..<256).map { e in back.map { $0[e] }.reduce(0, +) / Float(count) }
                let worst = zip(made[i][0], mean).map { abs($0 - $1) }.max() ?? 1
                #expect(worst < 1e-4, "ensemble \(count), condition \(i): off by \(worst)")
                #expect(made[i][0] != each[0], "the ensemble differs from the plain sample")
            }
        }
        #expect(throws: MCVDKitError.self) {
            try Generator(model: model, height: 16, width: 16, settings: SamplingSettings(ensemble: 3))
        }
    }

    /// The default ensemble (`SamplingSettings.ensemble` nil, the element's ensemble=0): the mirror (2) for
    /// interpolation by the noise-free one-step sampler of a v model, exactly the frames of an explicit 2;
    /// none (1) for prediction, for several steps, a noise start, a warm start and eps models.
    @Test func defaultEnsembleIsTheMirrorForOneStepInterpolationOnly() throws {
        let model = try tinyModel("ensemble-default", tinyConfig(past: 2, future: 2, residual: true, parameterization: "v"))
        let frames = clip(6)
        let interpolation = [BlockCondition(past: [frames[0], frames[1]], future: [frames[2], frames[3]])]
        let prediction = [BlockCondition(past: [frames[0], frames[1]])]
        func made(_ settings: SamplingSettings, _ task: Task, _ conditions: [BlockCondition]) throws -> [Float] {
            try Generator(model: model, height: 16, width: 16, settings: settings).sample(task: task, conditions: conditions)[0][0]
        }
        let byDefault = try Generator(model: model, height: 16, width: 16, settings: SamplingSettings(seed: 2))
        #expect(byDefault.ensemble(for: .interpolate) == 2 && byDefault.ensemble(for: .predict) == 1 && byDefault.ensemble(for: .generate) == 1)
        let interpolated = try made(SamplingSettings(seed: 2), .interpolate, interpolation)
        #expect(interpolated == (try made(SamplingSettings(seed: 2, ensemble: 2), .interpolate, interpolation)))
        #expect(interpolated != (try made(SamplingSettings(seed: 2, ensemble: 1), .interpolate, interpolation)))
        #expect(try made(SamplingSettings(seed: 2), .predict, prediction) == (try made(SamplingSettings(seed: 2, ensemble: 1), .predict, prediction)))
        for other in [SamplingSettings(steps: 2, seed: 2), SamplingSettings(start: .noise, seed: 2), SamplingSettings(warmStart: 0.5, seed: 2),
                      SamplingSettings(sampler: .ddpm, seed: 2)] {
            #expect(try Generator(model: model, height: 16, width: 16, settings: other).ensemble(for: .interpolate) == 1, "\(other)")
        }
        let eps = try tinyModel("ensemble-eps", tinyConfig(past: 2, future: 2, residual: true, parameterization: "eps"))
        #expect(try Generator(model: eps, height: 16, width: 16, settings: SamplingSettings(steps: 1, start: .zero)).ensemble(for: .interpolate) == 1)
    }

    /// Stride 1: the same frames as Diffusion's autoregress around sampleBlock with block i's noise.
    @Test func extensionMatchesAutoregressAtStrideOne() throws {
        let model = try tinyModel("extend", tinyConfig(past: 2, frames: 2, future: 1, residual: true, parameterization: "v"))
        let g = try Generator(model: model, height: 16, width: 16, settings: SamplingSettings(steps: 2, seed: 4))
        let frames = clip(3)
        let shape = model.shape(height: 16, width: 16)
        let network = model.network(height: 16, width: 16)
        for (task, backward) in [(Task.predict, false), (.predictPast, true), (.generate, false)] {
            let mine = task == .generate ? try g.generate(count: 5) : try g.extend(frames, count: 5, backward: backward)
            let theirs = try autoregress(task: task, shape: shape, samples: 1, given: task == .generate ? [] : frames.flatMap { $0 },
                                         givenFrames: task == .generate ? 0 : 3, count: 5) { t, cond, block in
                try sampleBlock(network: network, schedule: model.schedule, parameterization: .v, shape: shape, task: t, cond: cond,
                                options: BlockOptions(steps: 2, residual: true, noise: NoiseSource(seed: 4, block: UInt32(block))))
            }
            #expect(mine.count == 5 && mine.flatMap { $0 } == theirs, "\(task)")
        }
    }

    /// Stride 3: block t's past is t-1-(k-1)3, ..., t-1 (given or generated), its future t+n, t+n+3, ...
    @Test func conditionStrideSpacesTheConditioningFrames() throws {
        let model = try tinyModel("stride", tinyConfig(past: 2, frames: 1, future: 2, stride: 3))
        #expect(model.conditionStride == 3 && model.span(2) == 4)
        #expect(model.conditionOffsets.past == [-4, -1] && model.conditionOffsets.future == [1, 4])
        let g = try Generator(model: model, height: 16, width: 16, settings: SamplingSettings(steps: 2, seed: 2))
        let frames = clip(5)
        let made = try g.extend(frames, count: 2)
        let first = try g.sample(task: .predict, conditions: [BlockCondition(past: [frames[1], frames[4]])], noiseBlock: 0)[0][0]
        let second = try g.sample(task: .predict, conditions: [BlockCondition(past: [frames[2], first])], noiseBlock: 1)[0][0]
        #expect(made == [first, second])
        let before = try g.extend(frames, count: 2, backward: true)
        let last = try g.sample(task: .predictPast, conditions: [BlockCondition(future: [frames[0], frames[3]])], noiseBlock: 0)[0][0]
        let earlier = try g.sample(task: .predictPast, conditions: [BlockCondition(future: [last, frames[2]])], noiseBlock: 1)[0][0]
        #expect(before == [earlier, last])
        // Too few frames for one block at stride 3.
        #expect(throws: MCVDKitError.self) { try g.extend(Array(frames.prefix(3)), count: 1) }
    }

    /// extend from noise block b: block i of the call uses noise block b + i (what the element's live
    /// prediction needs to keep its calls' noise apart); blocks(for:) counts the model calls.
    @Test func extendFromANoiseBlock() throws {
        let model = try tinyModel("noise-offset", tinyConfig(past: 2, frames: 2, future: 1))
        let g = try Generator(model: model, height: 16, width: 16, settings: SamplingSettings(steps: 2, seed: 6))
        let frames = clip(3)
        let made = try g.extend(frames, count: 3, noiseBlock: 5)
        let first = try g.sample(task: .predict, conditions: [BlockCondition(past: [frames[1], frames[2]])], noiseBlock: 5)[0]
        let second = try g.sample(task: .predict, conditions: [BlockCondition(past: [first[0], first[1]])], noiseBlock: 6)[0]
        #expect(made == [first[0], first[1], second[0]])
        #expect(try g.extend(frames, count: 3) != made)
        let before = try g.extend(frames, count: 2, backward: true, noiseBlock: 2)
        #expect(before == (try g.sample(task: .predictPast, conditions: [BlockCondition(future: [frames[0]])], noiseBlock: 2)[0]))
        #expect([0, 1, 2, 3, 4, 5].map { g.blocks(for: $0) } == [0, 1, 1, 2, 2, 3])
    }

    @Test func aSeedGivesTheSameFramesAndAnotherSeedOthers() throws {
        let model = try tinyModel("seed", tinyConfig(channels: 3, past: 1, future: 1))
        func run(_ seed: UInt64) throws -> [[Float]] {
            let g = try Generator(model: model, height: 16, width: 16, settings: SamplingSettings(sampler: .ddpm, steps: 3, seed: seed))
            return try g.extend(clip(2, channels: 3), count: 2)
        }
        let a = try run(1)
        #expect(try run(1) == a)
        #expect(try run(2) != a)
        #expect(a.allSatisfy { $0.count == 3 * 256 && $0.allSatisfy { $0.isFinite && abs($0) <= 1.0001 } })
    }

    @Test func badRequestsAreErrors() throws {
        let plain = try tinyModel("plain", tinyConfig(past: 0, frames: 2, future: 0))
        let g = try Generator(model: plain, height: 16, width: 16, settings: SamplingSettings(steps: 1))
        for (what, call) in [
            ("interpolate", { _ = try g.interpolate(clip(4)) }), ("predict", { _ = try g.extend(clip(4), count: 1) }),
            ("predict the past", { _ = try g.extend(clip(4), count: 1, backward: true) }),
        ] as [(String, () throws -> Void)] {
            do { try call(); Issue.record("\(what) ran") } catch { #expect("\(error)".contains("cannot \(what)"), "\(error)") }
        }
        #expect(try g.generate(count: 3).count == 3)
        let model = try tinyModel("errors", tinyConfig(past: 2, future: 1))
        #expect(throws: MCVDKitError.self) { try Generator(model: model, height: 17, width: 16) }        // not a multiple of 2
        #expect(throws: MCVDKitError.self) { try Generator(model: model, height: 16, width: 16, settings: SamplingSettings(steps: 0)) }
        #expect(throws: MCVDKitError.self) { try Generator(model: model, height: 16, width: 16, settings: SamplingSettings(warmStart: 1.5)) }
        let h = try Generator(model: model, height: 16, width: 16, settings: SamplingSettings(steps: 1))
        #expect(throws: MCVDKitError.self) { try h.interpolate(clip(2)) }                                // needs k + f = 3
        #expect(throws: MCVDKitError.self) { try h.interpolate(clip(4, size: 8)) }                       // wrong frame size
        #expect(throws: MCVDKitError.self) { try h.sample(task: .predict, conditions: [BlockCondition(past: clip(1))]) }
        #expect(throws: MCVDKitError.self) { try h.extend(clip(4), count: -1) }
    }
}
