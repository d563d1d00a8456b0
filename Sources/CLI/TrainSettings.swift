// The settings of one `mcvd train` run: architecture, data layout and optimisation, resolved from the
// defaults, then a JSON config file (docs/training.md: the sections and reference field names of a
// model file's "mcvd.config"), then command-line flags. Stored in every checkpoint so `--resume` needs
// nothing else. The training loop is in Train.swift.
import Diffusion
import Foundation
import MotionBase
import Training
import UNet
import VideoData

struct TrainSettings: Codable, Equatable {
    // model:
    var ngf = 32
    var chMult = [1, 2, 2]
    var numResBlocks = 1
    /// Feature-map sizes (at `size`) with an attention block.
    var attnResolutions = [16]
    var nHeadChannels = -1
    var spade = false
    var spadeDim = 32
    var dropout = 0.0
    /// nil: no EMA.
    var emaRate: Double? = 0.999
    // data:
    /// Frame height the videos are decoded at, and the model's image size.
    var size = 64
    var channels = 1
    var past = 2, current = 1, future = 1
    /// Training crop (square), <= size (nil: size); the network is fully convolutional.
    var crop: Int?
    var frameSkip = 1
    /// Spacing of the conditioning frames (ClipLayout.conditionStride); nil = 1, consecutive. Optional so
    /// that settings saved before it existed still decode.
    var conditionStride: Int?
    var stride: Int { conditionStride ?? 1 }
    var pMaskPast = 0.5, pMaskFuture = 0.5
    var synchronised = false
    var validationFraction = 0.2
    /// Synthetic clips (VideoData's SyntheticClips: still photos moved with exact ground truth) added to
    /// the real training clips, nil or 0: none. Clip i is fixed by (seed, i): the same in every epoch.
    var synthetic: Int?
    /// Still images or folders the synthetic clips are made from; nil: StillImages.defaultPaths.
    var stills: [String]?
    var syntheticCount: Int { synthetic ?? 0 }
    /// The motion base of a real clip computed on its whole decoded frames, then cropped (Diffusion's
    /// BaseContext), as inference computes it, instead of on the crop; nil or false: on the crop (runs
    /// before it existed).
    var baseFromFrame: Bool?
    /// Half of the real training clips read backwards in time (VideoDataset.batch's `reverse`; layouts
    /// with k = f); nil or false: none (runs before it existed).
    var timeReverse: Bool?
    // diffusion:
    var parameterization = Parameterization.v
    var residual = true
    /// The base a residual model refines (diffusion.base); nil = blend. Optional so that settings saved
    /// before it existed still decode.
    var base: ResidualBase?
    /// Frames of the residual base the network sees as conditioning (data.num_frames_base): nil or 0 none,
    /// n (`current`) the base, 2n the motion base's two sides. Optional so that settings saved before it
    /// existed still decode.
    var baseFrames: Int?
    var cosine = false
    var numSteps = 1000
    var betaMin = 1e-4, betaMax = 0.02
    // training / optim:
    var batch = 8
    var steps = 10_000
    var seed: UInt64 = 0
    var lr = 2e-4
    var warmup = 1000
    var gradClip: Double? = 1.0
    /// Fraction of samples trained at the noise-free one-step input (training.one_step_fraction); nil = 0.
    var oneStepFraction: Double?
    var weightDecay = 0.0

    var cropSize: Int { crop ?? size }
    /// The frames of one training clip.
    var layout: ClipLayout {
        ClipLayout(past: past, current: current, future: future, frameSkip: frameSkip, conditionStride: stride)
    }

    var unetConfig: UNetConfig {
        UNetConfig(ngf: ngf, chMult: chMult, numResBlocks: numResBlocks, attnResolutions: attnResolutions,
                   nHeadChannels: nHeadChannels, spade: spade, spadeDim: spadeDim, imageSize: size, channels: channels,
                   numFrames: current, numFramesCond: past, numFramesFuture: future, numFramesBase: baseFrames ?? 0)
    }

    var trainingOptions: TrainingOptions {
        TrainingOptions(seed: seed, parameterization: parameterization, residual: residual, conditionStride: conditionStride,
                        masking: MaskingOptions(past: pMaskPast, future: pMaskFuture, synchronised: synchronised),
                        dropout: dropout, adam: AdamOptions(lr: lr, weightDecay: weightDecay, warmup: warmup, gradClip: gradClip),
                        emaRate: emaRate, cosineSchedule: cosine, steps: numSteps, betaMin: betaMin, betaMax: betaMax,
                        base: base, oneStepFraction: oneStepFraction)
    }

    /// Every cross-field rule, with the message a user needs.
    func check() throws {
        func need(_ ok: Bool, _ message: String) throws { if !ok { throw SettingsError(message) } }
        try need(channels == 1 || channels == 3, "channels must be gray (1) or rgb (3)")
        try need(past >= 0 && future >= 0 && current >= 1, "past/future frames must be >= 0 and current frames >= 1")
        let multiple = 1 << (chMult.count - 1)
        try need(size >= multiple && size % multiple == 0, "size \(size) must be a multiple of 2^(levels-1) = \(multiple)")
        try need(cropSize >= multiple && cropSize <= size && cropSize % multiple == 0,
                 "crop \(cropSize) must be <= size \(size) and a multiple of \(multiple)")
        try need(frameSkip >= 1, "frame skip must be >= 1")
        try need(stride >= 1, "condition stride must be >= 1")
        try need(batch >= 1 && steps >= 1, "batch and steps must be >= 1")
        try need(lr > 0 && warmup >= 0, "lr must be > 0 and warmup >= 0")
        try need((0...1).contains(pMaskPast) && (0...1).contains(pMaskFuture), "mask probabilities must lie in [0, 1]")
        try need((0..<1).contains(dropout), "dropout must lie in [0, 1)")
        try need(emaRate.map { $0 > 0 && $0 < 1 } ?? true, "ema rate must lie in (0, 1) (0 turns EMA off)")
        try need((0..<1).contains(validationFraction), "validation fraction must lie in [0, 1)")
        try need(syntheticCount >= 0, "synthetic clip count must be >= 0")
        try need(stills.map { !$0.isEmpty } ?? true, "stills: give at least one image or folder")
        try need(stills == nil || syntheticCount > 0, "stills are used only for synthetic clips: give --synthetic N (data.synthetic)")
        try need(residual || (base ?? .blend) == .blend,
                 "base \((base ?? .blend).rawValue) needs residual mode (a base is what a residual model refines): drop --no-residual")
        try need([0, current, 2 * current].contains(baseFrames ?? 0),
                 "data.num_frames_base must be 0, num_frames (\(current)) or twice that (the motion base's two sides)")
        try need((baseFrames ?? 0) != 2 * current || base == .motion, "the base's two sides (--see-sides) need --base motion")
        try need((baseFrames ?? 0) == 0 || residual, "a network that sees its base needs residual mode: drop --no-residual")
        try need(oneStepFraction.map { (0...1).contains($0) } ?? true, "one-step fraction must lie in [0, 1]")
        try need(!(baseFromFrame ?? false) || (residual && base == .motion),
                 "base_from_frame applies to the motion base of a residual model (--base motion)")
        try need(!(timeReverse ?? false) || layout.reversible,
                 "time_reverse needs as many past as future frames (k = f) at symmetric offsets")
        try need((oneStepFraction ?? 0) == 0 || parameterization == .v,
                 "one-step samples need the v parameterisation (an eps model cannot express x0 from x = 0)")
        try need(numSteps >= 2 && betaMin > 0 && betaMax < 1 && betaMin <= betaMax, "bad diffusion schedule")
        // SPATIN norms with fewer than 16 hidden channels are wrong in the engine's fused forward.
        try need(!spade || spadeDim >= 16, "spade_dim must be >= 16")
        try need(!spade || past + future > 0, "SPATIN needs conditioning frames (past or future)")
        try unetConfig.validate()
    }

    /// Applies a config file: {"model": {...}, "data": {...}, "diffusion": {...}, "training": {...},
    /// "optim": {...}} with reference field names; unknown fields are errors (typos), the reference's
    /// bookkeeping fields that a model file's "mcvd.config" carries are accepted and ignored.
    mutating func apply(configFile path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else { throw SettingsError("cannot read config file \(path)") }
        guard let root = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw SettingsError("\(path): not a JSON object")
        }
        try apply(json: root, source: path)
    }

    static let ignoredKeys: Set<String> = [
        "arch", "nonlinearity", "time_conditional", "cond_emb", "version", "type", "conditional", "rescaled",
        "logit_transform", "dataset", "sigma_dist", "sigma_begin", "sigma_end", "num_classes", "noise_in_cond",
        "gamma", "output_all_frames",
    ]

    mutating func apply(json root: [String: Any], source: String) throws {
        func fail(_ what: String) -> SettingsError { SettingsError("\(source): \(what)") }
        for key in root.keys where !["model", "data", "diffusion", "training", "optim"].contains(key) {
            throw fail("unknown section \"\(key)\" (expected model, data, diffusion, training, optim)")
        }
        func section(_ name: String) throws -> [String: Any] {
            guard let s = root[name] else { return [:] }
            guard let d = s as? [String: Any] else { throw fail("\"\(name)\" must be an object") }
            return d
        }
        func int(_ v: Any, _ key: String) throws -> Int {
            guard let n = v as? NSNumber, Double(n.intValue) == n.doubleValue else { throw fail("\(key) must be an integer") }
            return n.intValue
        }
        func double(_ v: Any, _ key: String) throws -> Double {
            guard let n = v as? NSNumber else { throw fail("\(key) must be a number") }
            return n.doubleValue
        }
        func bool(_ v: Any, _ key: String) throws -> Bool {
            guard let b = v as? Bool else { throw fail("\(key) must be true or false") }
            return b
        }
        func ints(_ v: Any, _ key: String) throws -> [Int] {
            guard let a = v as? [Any] else { throw fail("\(key) must be a list of integers") }
            return try a.map { try int($0, key) }
        }
        func string(_ v: Any, _ key: String) throws -> String {
            guard let s = v as? String else { throw fail("\(key) must be a string") }
            return s
        }
        var emaOn: Bool?, emaRateValue: Double?
        for (key, v) in try section("model") {
            switch key {
            case "ngf": ngf = try int(v, key)
            case "ch_mult": chMult = try ints(v, key)
            case "num_res_blocks": numResBlocks = try int(v, key)
            case "attn_resolutions": attnResolutions = try ints(v, key)
            case "n_head_channels": nHeadChannels = try int(v, key)
            case "spade": spade = try bool(v, key)
            case "spade_dim": spadeDim = try int(v, key)
            case "dropout": dropout = try double(v, key)
            case "ema": emaOn = try bool(v, key)
            case "ema_rate": emaRateValue = try double(v, key)
            case _ where Self.ignoredKeys.contains(key): break
            default: throw fail("unknown field model.\(key)")
            }
        }
        if emaOn == false { emaRate = nil } else if let r = emaRateValue { emaRate = r > 0 ? r : nil }
        for (key, v) in try section("data") {
            switch key {
            case "image_size": size = try int(v, key)
            case "channels": channels = try int(v, key)
            case "num_frames": current = try int(v, key)
            case "num_frames_cond": past = try int(v, key)
            case "num_frames_future": future = try int(v, key)
            case "num_frames_base": baseFrames = try int(v, key)
            case "prob_mask_cond": pMaskPast = try double(v, key)
            case "prob_mask_future": pMaskFuture = try double(v, key)
            case "prob_mask_sync": synchronised = try bool(v, key)
            case "crop": crop = try int(v, key)
            case "frame_skip": frameSkip = try int(v, key)
            case "condition_stride": conditionStride = try int(v, key)
            case "validation_fraction": validationFraction = try double(v, key)
            case "synthetic": synthetic = try int(v, key)
            case "base_from_frame": baseFromFrame = try bool(v, key)
            case "time_reverse": timeReverse = try bool(v, key)
            case "stills":
                guard let a = v as? [Any] else { throw fail("stills must be a list of paths") }
                stills = try a.map { try string($0, key) }
            case _ where Self.ignoredKeys.contains(key): break
            default: throw fail("unknown field data.\(key)")
            }
        }
        for (key, v) in try section("diffusion") {
            switch key {
            case "schedule":
                let s = try string(v, key)
                guard s == "linear" || s == "cosine" else { throw fail("diffusion.schedule must be linear or cosine") }
                cosine = s == "cosine"
            case "num_steps": numSteps = try int(v, key)
            case "beta_min": betaMin = try double(v, key)
            case "beta_max": betaMax = try double(v, key)
            case "parameterization":
                guard let p = Parameterization(rawValue: try string(v, key)) else { throw fail("diffusion.parameterization must be eps or v") }
                parameterization = p
            case "residual": residual = try bool(v, key)
            case "base":
                guard let b = ResidualBase(rawValue: try string(v, key)) else {
                    throw fail("diffusion.base must be one of \(ResidualBase.names)")
                }
                base = b
            default: throw fail("unknown field diffusion.\(key)")
            }
        }
        for (key, v) in try section("training") {
            switch key {
            case "batch_size": batch = try int(v, key)
            case "n_iters": steps = try int(v, key)
            case "seed": seed = UInt64(try int(v, key))
            case "one_step_fraction": oneStepFraction = try double(v, key)
            default: throw fail("unknown field training.\(key)")
            }
        }
        for (key, v) in try section("optim") {
            switch key {
            case "lr": lr = try double(v, key)
            case "warmup": warmup = try int(v, key)
            case "grad_clip": let g = try double(v, key); gradClip = g > 0 ? g : nil
            case "weight_decay": weightDecay = try double(v, key)
            default: throw fail("unknown field optim.\(key)")
            }
        }
    }

    /// One line for the log.
    var summary: String {
        "\(unetConfig.summary) | crop=\(cropSize) skip=\(frameSkip)\(stride > 1 ? " stride=\(stride)" : "")"
            + "\(syntheticCount > 0 ? " synthetic=\(syntheticCount)" : "") batch=\(batch) steps=\(steps) lr=\(lr) warmup=\(warmup) "
            + "ema=\(emaRate.map { "\($0)" } ?? "off") p_mask=\(pMaskPast)/\(pMaskFuture)\(synchronised ? " sync" : "") "
            + "\(parameterization.rawValue)\(residual ? " residual base=\((base ?? .blend).rawValue)" : "") dropout=\(dropout) seed=\(seed)"
            + "\((oneStepFraction ?? 0) > 0 ? " one-step=\(oneStepFraction!)" : "")" + ((baseFrames ?? 0) == 2 * current ? " sees-sides" : (baseFrames ?? 0) > 0 ? " sees-base" : "")
            + (baseFromFrame == true ? " base-from-frame" : "") + (timeReverse == true ? " time-reverse" : "")
    }

    static let metadataKey = "mcvd.train.settings"

    func json() -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return String(decoding: try! e.encode(self), as: UTF8.self)
    }

    init() {}

    init(json: String) throws {
        self = try JSONDecoder().decode(TrainSettings.self, from: Data(json.utf8))
    }
}

struct SettingsError: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }
}
