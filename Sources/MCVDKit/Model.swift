// A model ready to run: the network with its weights, its config read by the one strict reader
// (UNet's ModelConfig), and what sampling needs from it (schedule, parameterization, residual mode,
// frame counts, condition stride, the range of its frames). `network(height:width:)` is the U-Net as
// Diffusion's conditional network, the closure the samplers call.
import Diffusion
import Foundation
import MotionBase
import UNet

/// Not for concurrent sampling: the U-Net's forward works in the network's own arena, so one thread at
/// a time runs a model (the engine parallelises inside a forward; `Engine.setThreads`).
public final class Model: @unchecked Sendable {
    public let config: ModelConfig
    public let unet: UNet
    public let schedule: NoiseSchedule
    public let parameterization: Parameterization
    /// Where the weights came from (a path, or "memory").
    public let source: String

    /// Loads a model file (safetensors, F32/F16/BF16 weights; docs/model-format.md). Every error names
    /// the file and what is wrong with it (a field of the config, a tensor).
    public convenience init(path: String) throws {
        let file: SafeTensors
        do { file = try SafeTensors(path: path) } catch { throw MCVDKitError("\(error)") }    // names the file
        try self.init(file: file, source: path)
    }

    public convenience init(file: SafeTensors, source: String = "memory") throws {
        guard let json = file.metadata["mcvd.config"] else {
            throw MCVDKitError("\(source): no \"mcvd.config\" metadata: not an mcvd model file")
        }
        let config: ModelConfig
        do { config = try ModelConfig(json: json) } catch { throw MCVDKitError("\(source): \(error)") }
        try Self.checkChannels(config, source)
        let net: UNet
        do { net = try UNet(file: file, config: config.unet) } catch { throw MCVDKitError("\(source): \(error)") }
        try self.init(unet: net, config: config, source: source)
    }

    /// A network already in memory (e.g. a trainer's EMA copy) with the config it was built from.
    public init(unet: UNet, config: ModelConfig, source: String = "memory") throws {
        guard unet.config == config.unet else { throw MCVDKitError("\(source): the network's architecture differs from the config's") }
        try Self.checkChannels(config, source)
        self.unet = unet
        self.config = config
        self.source = source
        let d = config.diffusion
        schedule = d.schedule == "cosine" ? .cosine(steps: d.numSteps) : .linear(steps: d.numSteps, betaMin: d.betaMin, betaMax: d.betaMax)
        parameterization = Parameterization(rawValue: d.parameterization)!    // checked by the reader
    }

    static func checkChannels(_ config: ModelConfig, _ source: String) throws {
        guard config.unet.channels == 1 || config.unet.channels == 3 else {
            throw MCVDKitError("\(source): model config: data.channels is \(config.unet.channels); frames map to 1 (gray) or 3 (RGB) channels")
        }
    }

    public var channels: Int { config.unet.channels }
    /// k, n, f: past frames, frames made per block, future frames.
    public var past: Int { config.unet.numFramesCond }
    public var frames: Int { config.unet.numFrames }
    public var future: Int { config.unet.numFramesFuture }
    public var conditionStride: Int { config.data.conditionStride }
    public var residual: Bool { config.diffusion.residual }
    /// The base a residual model refines (diffusion.base; checked by the reader).
    public var base: ResidualBase { ResidualBase(rawValue: config.diffusion.base)! }
    /// The network sees the residual base as n more conditioning frames (data.num_frames_base).
    public var seesBase: Bool { config.unet.numFramesBase > 0 }
    /// How it sees it (data.num_frames_base / n): 1 the base itself, 2 the motion base's two sides
    /// (MotionBase's ResidualBase.seen); 0 not at all.
    public var baseViews: Int { config.unet.baseViews }
    /// The frame size the model was trained at (square).
    public var imageSize: Int { config.unet.imageSize }
    /// Frame heights and widths must be multiples of this (2^(levels - 1)).
    public var sizeMultiple: Int { 1 << (config.unet.chMult.count - 1) }
    public var range: SampleRange { config.data.rescaled ? .symmetric : .unit }
    /// Sampler steps when none are asked for: 1 for v models (the one-step conditional mean), 50 for eps.
    public var defaultSteps: Int { parameterization == .v ? 1 : 50 }
    /// The start a sampler of `steps` steps takes by default: zero for the one-step sample of a v model (its
    /// conditional mean without starting noise: +2.5 dB PSNR over a noise start on `mcvd eval --data-md`,
    /// docs/default-model.md), noise otherwise (several steps from zero would not be the sampler's chain).
    public func defaultStart(steps: Int) -> StartPoint { parameterization == .v && steps == 1 ? .zero : .noise }
    /// The test-time ensemble (`SamplingSettings.ensemble`) a sample takes by default: 2 (the mirrored
    /// input too) for interpolation by the noise-free one-step sampler of a v model, whose estimate is a
    /// conditional mean that averaging sharpens (the default model at 128 RGB: SSIM 0.9329 -> 0.9338 over
    /// videos, docs/default-model.md, eighth session); 1 otherwise: prediction gains nothing from it
    /// (31.27 / 0.9048 -> 31.27 / 0.9046) and with noise (several steps, a noise start, a warm start) it
    /// averages independent samples (a blur).
    public func defaultEnsemble(task: Task, sampler: SamplerKind, steps: Int, start: StartPoint, warmStart: Double?) -> Int {
        task == .interpolate && sampler == .ddim && parameterization == .v && steps == 1 && start == .zero
            && warmStart == nil ? 2 : 1
    }

    public var summary: String {
        "\(config.unet.summary)\(conditionStride > 1 ? " stride \(conditionStride)" : "") \(parameterization.rawValue)"
            + (residual ? " residual" : "") + (residual && base != .blend ? " base=\(base.rawValue)" : "") + (baseViews == 1 ? " sees-base" : baseViews == 2 ? " sees-sides" : "")
    }

    /// Frames a block conditioned on `count` frames at the condition stride s spans: (count - 1) s + 1.
    public func span(_ count: Int) -> Int { count == 0 ? 0 : (count - 1) * conditionStride + 1 }

    /// Where a block's conditioning frames sit relative to its first generated frame (docs/model-format.md,
    /// data.condition_stride s): past at -1 - (k - 1) s, ..., -1 - s, -1 (oldest first), future at n,
    /// n + s, ..., n + (f - 1) s (nearest first).
    public var conditionOffsets: (past: [Int], future: [Int]) {
        let s = conditionStride
        return ((0..<past).map { -1 - (past - 1 - $0) * s }, (0..<future).map { frames + $0 * s })
    }

    /// Throws when the model cannot do `task` (interpolation needs past and future frames, prediction
    /// past frames, past prediction future frames).
    public func check(task: Task) throws {
        switch task {
        case .interpolate where past == 0 || future == 0:
            throw MCVDKitError("the model has \(past) past and \(future) future frames: it cannot interpolate")
        case .predict where past == 0:
            throw MCVDKitError("the model has no past frames: it cannot predict")
        case .predictPast where future == 0:
            throw MCVDKitError("the model has no future frames: it cannot predict the past")
        default: break
        }
    }

    /// The shape of one block at height x width.
    public func shape(height: Int, width: Int) -> BlockShape {
        BlockShape(channels: channels, height: height, width: width, frames: frames, past: past, future: future)
    }

    /// The U-Net as Diffusion's conditional network at height x width: x_t (N, n, C, H, W), the time
    /// input, the conditioning (stacked past then future) -> eps or v.
    public func network(height: Int, width: Int) -> ConditionalNetwork {
        conditionalNetwork(unet, height: height, width: width)
    }
}

/// `Model.network` for a bare U-Net (the trainer's tests sample from networks they train).
public func conditionalNetwork(_ model: UNet, height: Int, width: Int) -> ConditionalNetwork {
    let c = model.config
    let shape = BlockShape(channels: c.channels, height: height, width: width, frames: c.numFrames,
                           past: c.numFramesCond, future: c.numFramesFuture)
    return { x, t, cond, out in
        let stacked = cond.stacked(shape: shape)
        stacked.withUnsafeBufferPointer { cp in
            model.forward(x: x.baseAddress!, t: t, cond: cp.isEmpty ? nil : cp.baseAddress!, n: t.count, h: height,
                          w: width, into: out.baseAddress!)
        }
    }
}
