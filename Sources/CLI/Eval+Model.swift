// The model side of `mcvd eval`: loads a model like `mcvd sample` and estimates the eval's target frames
// with Diffusion's sampleBlock, batches of targets as samples. Interpolation conditions on the kept frames
// (every other one) around each dropped frame; prediction on the frames just before the target.
import Diffusion
import Foundation
import Training
import UNet
import VideoData

struct ModelRunner {
    let net: UNet
    let diffusion: DiffusionSettings
    let k: Int, n: Int, f: Int, channels: Int
    /// data.condition_stride of the model's training clips (1 when absent): prediction spaces the past
    /// frames by it; interpolation always conditions on the kept frames, two apart.
    let conditionStride: Int
    let multiple: Int
    let steps: Int, sampler: SamplerKind, eta: Double, warmStart: Double?, batch: Int, seed: UInt64

    init(path: String, options o: Mcvd.Eval) throws {
        let file = try SafeTensors(path: path)
        net = try UNet(file: file)
        diffusion = try DiffusionSettings(json: file.metadata["mcvd.config"] ?? "")
        let cfg = net.config
        (k, n, f, channels) = (cfg.numFramesCond, cfg.numFrames, cfg.numFramesFuture, cfg.channels)
        let root = (try? JSONSerialization.jsonObject(with: Data((file.metadata["mcvd.config"] ?? "").utf8))) as? [String: Any]
        conditionStride = max(1, ((root?["data"] as? [String: Any])?["condition_stride"] as? NSNumber)?.intValue ?? 1)
        multiple = 1 << (cfg.chMult.count - 1)
        steps = o.sampling.steps(for: diffusion.parameterization)
        (sampler, eta, warmStart) = (o.sampling.sampler, o.sampling.eta, o.sampling.warmStart)
        (batch, seed) = (o.batch, o.common.seed ?? 0)
        guard channels == o.colour.count else {
            throw CLIError("the model has \(channels) channel(s); pass --\(channels == 1 ? "gray" : "rgb")")
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
        print("# model: \(cfg.summary) stride \(conditionStride) \(diffusion.parameterization.rawValue)\(diffusion.residual ? " residual" : ""), "
              + "\(sampler.rawValue) \(steps) step(s) eta \(eta)\(warmStart.map { " warm start \($0)" } ?? "") seed \(seed)")
    }

    /// The model's estimate of every target frame (HWC bytes). Interpolation: past = the k kept frames
    /// t-2k+1, ..., t-3, t-1, future = t+1, t+3, ..., t+2f-1; prediction: past = t-1-(k-1)s, ..., t-1-s, t-1
    /// (s = the model's condition stride; consecutive for 1), first frame of n.
    func run(video v: DecodedVideo, targets: [Int], task: EvalTask, seedBlock: UInt32) throws -> [[UInt8]] {
        guard v.height % multiple == 0 && v.width % multiple == 0 else {
            throw CLIError("\(v.path): frames of \(v.width)x\(v.height) are not multiples of \(multiple), as the model needs")
        }
        let shape = BlockShape(channels: channels, height: v.height, width: v.width, frames: n, past: k, future: f)
        let network = conditionalNetwork(net, height: v.height, width: v.width)
        let planes = v.frames.map { planarFrame($0, channels: channels, width: v.width, height: v.height) }
        let fs = shape.frameSize
        var out: [[UInt8]] = []
        for (chunk, start) in stride(from: 0, to: targets.count, by: batch).enumerated() {
            let ts = Array(targets[start ..< min(start + batch, targets.count)])
            let diffusionTask: Diffusion.Task = task == .interpolate ? .interpolate : .predict
            let past: [Float], future: [Float]?
            if task == .interpolate {
                past = ts.flatMap { t in (0..<k).reversed().flatMap { planes[t - 1 - 2 * $0] } }
                future = ts.flatMap { t in (0..<f).flatMap { planes[t + 1 + 2 * $0] } }
            } else {
                let back: [Int] = (0..<k).reversed().map { 1 + $0 * conditionStride }   // oldest first
                past = ts.flatMap { t in back.flatMap { planes[t - $0] } }
                future = nil
            }
            let cond = try diffusionTask.conditioning(shape: shape, samples: ts.count, past: past, future: future)
            let options = BlockOptions(sampler: sampler, steps: steps, eta: eta, residual: diffusion.residual, warmStart: warmStart,
                                       noise: NoiseSource(seed: seed, block: seedBlock &* 65_536 &+ UInt32(chunk)))
            let x = try sampleBlock(network: network, schedule: diffusion.schedule, parameterization: diffusion.parameterization,
                                    shape: shape, task: diffusionTask, cond: cond, options: options)
            for i in ts.indices {
                out.append(toBytes(Array(x[(i * n) * fs ..< (i * n + 1) * fs]), channels: channels, width: v.width, height: v.height))
            }
        }
        return out
    }
}

/// HWC bytes -> (C, H, W) in [-1, 1].
func planarFrame(_ bytes: [UInt8], channels c: Int, width: Int, height: Int) -> [Float] {
    var out = [Float](repeating: 0, count: c * height * width)
    for ch in 0..<c {
        for i in 0..<(height * width) { out[ch * height * width + i] = Float(bytes[i * c + ch]) / 127.5 - 1 }
    }
    return out
}
