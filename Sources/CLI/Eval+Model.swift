// The model side of `mcvd eval`: loads the model (MCVDKit's Model) and estimates the eval's target frames
// as the element's method=diffusion fills their gaps (GapChoice: scene cuts, static pairs, the fallback, the
// model with the element's noise numbering) with MCVDKit's FrameGenerator (`--processing-size`: the model
// at about that many rows, its correction upsampled over the full-size base; 0 = the frames' own size),
// one target per network call by default (`--batch`).
// Interpolation conditions on the kept frames (every other one) around each dropped frame; prediction on
// the frames just before the target. A 1-channel model on --rgb frames works on their luma and keeps the
// colour of the frame it is written over (MCVDKit's keepColour), as the element does: for interpolation
// by a model over the motion base, the motion-compensated RGB frame (the `motion` method's); else the frame
// before the target (the element's earlier original).
import Diffusion
import Foundation
import MCVDKit
import Motion
import VideoData

/// What method=diffusion (mode=interpolate, fallback=blend) puts in the gap of an interpolation target:
/// MCVDKit's GapDecision on the kept frames, as the element decides it on its input frames.
enum GapChoice: Equatable {
    /// The model's frame; `block`: the element's noise block, the count of gaps the model filled before it.
    case model(block: UInt32)
    /// A scene cut between the gap's two originals: the earlier one repeated (frames-scene-cut).
    case sceneCut
    /// A static pair: their blend, no model (frames-static).
    case still
    /// A cut among the model's conditioning frames: the fallback, blend (frames-fallback).
    case fallback

    /// The element's choices for 2x interpolation targets of a video whose kept frames are those at even
    /// offsets from `rangeStart` (the element's input: kept frame j is frame rangeStart + 2j, target t lies
    /// in gap (t - 1 - rangeStart) / 2), with scene-threshold / static-threshold (0 = off) and a model of k
    /// past and f future frames. The pair tests are the element's: Motion's SceneCut score of the estimate
    /// method=motion renders from, and StaticContent. `known`: scores already made (Evaluation.pairScores),
    /// by the frame index of a pair's later frame; the other pairs are scored here.
    static func choose(frames: [[UInt8]], width: Int, height: Int, channels: Int, rangeStart: Int, targets: [Int],
                       k: Int, f: Int, sceneThreshold: Float, staticThreshold: Float,
                       known: [Int: (scene: Float, staticDifference: Float)] = [:]) throws -> [GapChoice] {
        let kept = stride(from: rangeStart, to: frames.count, by: 2).map { frames[$0] }
        let interpolator = MotionInterpolator()
        var scores: [Int: (scene: Float, staticDifference: Float)] = [:]   // by the later kept frame of a pair
        for (frame, s) in known where frame > rangeStart && (frame - rangeStart) % 2 == 0 { scores[(frame - rangeStart) / 2] = s }
        func pair(_ later: Int) throws -> (scene: Float, staticDifference: Float) {
            if let known = scores[later] { return known }
            let s = try Evaluation.pairScores(kept[later - 1], kept[later], width: width, height: height,
                                              channels: channels, interpolator: interpolator)
            scores[later] = s
            return s
        }
        func cutBefore(_ i: Int) throws -> Bool {
            guard sceneThreshold > 0, i >= 1 else { return false }
            return SceneCut.isCut(score: try pair(i).scene, threshold: sceneThreshold)
        }
        var block: UInt32 = 0
        return try targets.map { t in
            let g = (t - 1 - rangeStart) / 2
            let isStatic = { () throws -> Bool in
                guard staticThreshold > 0 else { return false }
                return StaticContent.isStatic(difference: try pair(g + 1).staticDifference, threshold: staticThreshold)
            }
            switch try GapDecision.decide(gap: g, past: k, ahead: f, available: 0...(kept.count - 1),
                                          cutBefore: cutBefore, isStatic: isStatic) {
            case .sceneCut: return .sceneCut
            case .still: return .still
            case .fallback: return .fallback
            case .model:
                defer { block &+= 1 }
                return .model(block: block)
            }
        }
    }
}

struct ModelRunner {
    let model: Model
    var k: Int { model.past }
    var f: Int { model.future }
    /// data.condition_stride of the model's training clips (1 when absent): prediction spaces the past
    /// frames by it; interpolation always conditions on the kept frames, two apart.
    var conditionStride: Int { model.conditionStride }
    let settings: SamplingSettings
    let batch: Int
    let processingSize: Int
    /// Channels of the eval's frames (1 gray, 3 RGB).
    let frameChannels: Int
    /// Seconds spent in the model (all videos), and targets made.
    final class Clock { var seconds = 0.0; var frames = 0 }
    let clock = Clock()
    /// Interpolation by a 1-channel model over the motion base on RGB frames: colour from motion's frame.
    var colourFromMotion: Bool { model.channels == 1 && frameChannels == 3 && model.base == .motion }

    init(path: String, options o: Mcvd.Eval) throws {
        model = try Model(pathOrDefault: path, task: o.task.task)
        settings = SamplingSettings(sampler: o.sampling.sampler, steps: o.sampling.steps, eta: o.sampling.eta,
                                    warmStart: o.sampling.warmStart, start: o.sampling.start, seed: o.common.seed ?? 0, ensemble: o.sampling.ensemble)
        batch = o.batch
        processingSize = o.processingSize
        frameChannels = o.colour.count
        let (k, n, f, channels) = (model.past, model.frames, model.future, model.channels)
        guard channels == frameChannels || channels == 1 else {
            throw CLIError("the model has \(channels) channels (RGB); pass --rgb")
        }
        switch o.task {
        case .interpolate where k == 0 || f == 0 || n != 1:
            throw CLIError("eval interpolates one dropped frame between kept ones: the model needs past and future "
                           + "frames and n = 1 (it has k=\(k) n=\(n) f=\(f))")
        case .predict where k == 0:
            throw CLIError("the model has no past frames: it cannot predict")
        default: break
        }
        if o.task == .interpolate && conditionStride != 2 {
            print("# note: the model was trained on conditioning frames \(conditionStride) apart; interpolation conditions on the "
                  + "kept frames, 2 apart (train with --condition-stride 2 for this task)")
        }
        let steps = settings.steps(for: model), start = settings.start(for: model)
        let ensemble = settings.ensemble(for: model, task: o.task.task)
        print("# model: \(model.summary), "
              + "\(settings.sampler.rawValue) \(steps) step(s) ensemble \(ensemble)\(settings.ensemble == nil ? " (default)" : "") eta \(settings.eta)\(settings.warmStart.map { " warm start \($0)" } ?? "") start \(start.rawValue) seed \(settings.seed), "
              + "processing size \(processingSize == 0 ? "native" : "\(processingSize) rows")"
              + (channels == 1 && frameChannels == 3
                 ? ", luma of the RGB frames (colour of the \(model.base == .motion && o.task == .interpolate ? "motion-compensated frame" : "frame before"))" : ""))
    }

    /// The model's estimate of every target frame (HWC bytes). Interpolation: past = the k kept frames
    /// t-2k+1, ..., t-3, t-1, future = t+1, t+3, ..., t+2f-1; prediction: past = t-1-(k-1)s, ..., t-1-s, t-1
    /// (s = the model's condition stride; consecutive for 1), first frame of n.
    /// `motion`: the `motion` method's estimate of each target (interpolation; eval computes it anyway),
    /// the frame a 1-channel model over the motion base takes its colour from.
    /// `choices`: interpolation, what the element puts in each target's gap (GapChoice; the model runs on
    /// the .model ones with their noise blocks); nil: the model on every target, target j with noise block j
    /// (prediction: each target as a lone missing frame of a stream, which the element predicts with the
    /// next block of its count).
    func run(video v: DecodedVideo, targets: [Int], task: EvalTask, choices: [GapChoice]? = nil,
             motion: [[UInt8]]? = nil) throws -> [[UInt8]] {
        let generator: FrameGenerator
        do {
            generator = try FrameGenerator(model: model, height: v.height, width: v.width, processingSize: processingSize, settings: settings)
        } catch {
            throw CLIError("\(v.path): \(error)")
        }
        if generator.scaled { print("#   model at \(generator.workingWidth)x\(generator.workingHeight)") }
        let format: PixelFormat = frameChannels == 1 ? .gray8 : .rgb
        let planes = try v.frames.map {
            try FrameBuffer(format: format, width: v.width, height: v.height, bytes: $0).view.planar(channels: model.channels, range: model.range)
        }
        let began = Date()
        defer { clock.seconds += Date().timeIntervalSince(began); clock.frames += targets.count }
        let choices = choices ?? targets.indices.map { .model(block: UInt32($0)) }
        guard choices.count == targets.count else { throw CLIError("\(choices.count) gap choices for \(targets.count) targets") }
        var out = choices.indices.map { i -> [UInt8] in
            let t = targets[i]
            switch choices[i] {
            case .model: return []
            case .sceneCut: return v.frames[t - 1]  // exactly halfway: the earlier original, as the element
            case .still, .fallback: return Evaluation.blend(v.frames[t - 1], v.frames[t + 1])
            }
        }
        let modelled = choices.indices.compactMap { i -> (index: Int, block: UInt32)? in
            if case .model(let block) = choices[i] { return (i, block) } else { return nil }
        }
        for start in stride(from: 0, to: modelled.count, by: batch) {
            let part = modelled[start ..< min(start + batch, modelled.count)]
            let conditions = part.map { m in
                let t = targets[m.index]
                return task == .interpolate
                    ? BlockCondition(past: (0..<k).reversed().map { planes[t - 1 - 2 * $0] }, future: (0..<f).map { planes[t + 1 + 2 * $0] })
                    : BlockCondition(past: model.conditionOffsets.past.map { planes[t + $0] })   // t-1-(k-1)s, ..., t-1
            }
            let overMotion = task == .interpolate && colourFromMotion
            let made = try generator.sample(task: task == .interpolate ? .interpolate : .predict, conditions: conditions,
                                            noiseBlocks: part.map(\.block), output: overMotion ? .corrections : .frames)
            for (m, block) in zip(part, made) {
                let t = targets[m.index]
                if overMotion && motion == nil { throw CLIError("a gray motion-base model on RGB frames needs the motion method's frames") }
                // The model's correction added to the luma of motion's colour frame (as the element), or its
                // frame written over the frame whose colour a 1-channel model keeps (the file header).
                let buffer = try FrameBuffer(format: format, width: v.width, height: v.height,
                                             bytes: overMotion ? motion![m.index] : v.frames[t - 1])
                if overMotion {
                    try buffer.view.addLuma(block[0], range: model.range)
                } else {
                    try buffer.view.write(block[0], channels: model.channels, range: model.range, keepColour: true)
                }
                out[m.index] = buffer.bytes
            }
        }
        return out
    }
}
