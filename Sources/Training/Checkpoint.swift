// Training checkpoints: one safetensors file (docs/model-format.md) that is also a model file —
// `unet.<name>` holds the EMA weights (the raw ones without EMA) — plus the state a resume needs:
// `train.raw.<name'>` (raw weights, when EMA is on), `train.adam_m.<name'>`, `train.adam_v.<name'>`,
// name' = the reference name with "all_modules." shortened to "modules." so that model loaders, which
// look for "...all_modules.*", see only the weights. Metadata: format, mcvd.config, step, seed, options.
// Written atomically by SafeTensors.write (temp file + rename).
import Foundation
import Diffusion
import UNet

public struct CheckpointError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public var description: String { "checkpoint: \(message)" }
}

extension Trainer {
    static func stateName(_ kind: String, _ name: String) -> String {
        "train.\(kind)." + name.replacingOccurrences(of: "all_modules.", with: "modules.")
    }

    /// The "mcvd.config" JSON of this model and training run (reference field names).
    public var configJSON: String {
        let c = model.config, o = options
        var dataSection: [String: Any] = ["image_size": c.imageSize, "channels": c.channels, "num_frames": c.numFrames,
                                   "num_frames_cond": c.numFramesCond, "num_frames_future": c.numFramesFuture,
                                   "prob_mask_cond": o.masking.past, "prob_mask_future": o.masking.future,
                                   "prob_mask_sync": o.masking.synchronised, "rescaled": true,
                                   "condition_stride": o.conditionStride ?? 1]
        if c.numFramesBase > 0 { dataSection["num_frames_base"] = c.numFramesBase }
        let root: [String: Any] = [
            "model": ["arch": c.arch, "spade": c.spade, "ngf": c.ngf, "ch_mult": c.chMult,
                      "num_res_blocks": c.numResBlocks, "attn_resolutions": c.attnResolutions,
                      "n_head_channels": c.nHeadChannels, "spade_dim": c.spadeDim, "dropout": o.dropout,
                      "nonlinearity": "swish", "time_conditional": c.timeConditional, "cond_emb": c.condEmb,
                      "version": c.version, "ema": o.emaRate != nil, "ema_rate": o.emaRate ?? 0],
            "data": dataSection,
            "diffusion": ["schedule": o.cosineSchedule ? "cosine" : "linear", "num_steps": o.steps,
                          "beta_min": o.betaMin, "beta_max": o.betaMax,
                          "parameterization": o.parameterization.rawValue, "residual": o.residual, "base": (o.base ?? .blend).rawValue],
        ]
        let data = try! JSONSerialization.data(withJSONObject: root, options: [.sortedKeys])
        return String(decoding: data, as: UTF8.self)
    }

    /// Writes the checkpoint atomically; `extraMetadata` (e.g. the command line's run settings) is
    /// stored beside the trainer's own keys, which win on a clash.
    public func save(path: String, extraMetadata: [String: String] = [:]) throws {
        func tensors(_ base: UnsafeMutablePointer<Float>, _ name: (String) -> String) -> [(name: String, shape: [Int], data: [Float])] {
            model.parameterLayout.map { spec in
                (name(spec.name), spec.shape, Array(UnsafeBufferPointer(start: base + spec.offset, count: spec.shape.reduce(1, *))))
            }
        }
        var all = tensors(ema?.shadow ?? model.parameterStorage) { "unet." + $0 }
        if ema != nil { all += tensors(model.parameterStorage) { Self.stateName("raw", $0) } }
        all += tensors(adam.m) { Self.stateName("adam_m", $0) }
        all += tensors(adam.v) { Self.stateName("adam_v", $0) }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]     // same state, same bytes
        let optionsJSON = String(decoding: try encoder.encode(options), as: UTF8.self)
        let own: [String: String] = [
            "format": "mcvd-1", "mcvd.config": configJSON, "weights": ema != nil ? "ema" : "raw",
            "step": String(step), "seed": String(options.seed), "train.adam_updates": String(adam.updates),
            "train.rng": "philox4x32-10 seed=\(options.seed) step=\(step)", "train.options": optionsJSON,
        ]
        try SafeTensors.write(path: path, tensors: all, metadata: extraMetadata.merging(own) { _, mine in mine })
    }

    /// Rebuilds a trainer from a checkpoint written by `save`: same model config, options, weights,
    /// EMA, Adam moments and step, so that continuing gives the uninterrupted run's result bit for bit.
    ///
    /// A model file exported from a checkpoint with its training record (`mcvd export --keep-training`:
    /// the EMA weights, e.g. in F16, options and step, no optimiser state) resumes too, lightly: its
    /// weights become the raw and the EMA weights, the Adam moments start at zero (bias correction from
    /// update 0, as a new run), the step and every draw named by it continue. Not the uninterrupted
    /// run's bits, but no training hour lost for a file an eighth of the checkpoint's size.
    ///
    /// `seeBase` v >= 1 turns a residual model that does not see its base into one that does (data.num_frames_base
    /// = v * n: 1 the base, 2 the motion base's two sides): the first convolution gains v * n * C input
    /// channels with zero weights, so the widened network computes exactly what the file's did until
    /// training moves them; resumed lightly (fresh moments). 0 leaves the model as it is.
    ///
    /// `learningRate` replaces the run's peak learning rate from this step on (e.g. a lower rate for a
    /// last phase), `masking` its mask probabilities (which tasks the draws train: e.g. interpolation only
    /// for a last phase); the checkpoint's other options stay.
    public convenience init(checkpoint path: String, seeBase: Int = 0, learningRate: Double? = nil,
                            masking: MaskingOptions? = nil) throws {
        let file = try SafeTensors(path: path)
        guard let json = file.metadata["train.options"], let stepText = file.metadata["step"], let step = Int(stepText) else {
            throw CheckpointError(message: "\(path) is not a training checkpoint (no train.options / step metadata)")
        }
        var config = try UNetConfig(json: file.metadata["mcvd.config"] ?? "")
        let widen = seeBase > 0 && config.numFramesBase == 0
        if widen {
            config.numFramesBase = seeBase * config.numFrames
            try config.validate()
        }
        let light = widen || file.metadata["train.adam_updates"] == nil
        let updates = light ? 0 : Int(file.metadata["train.adam_updates"] ?? "0")
        guard let updates, updates >= 0, step >= 0 else {
            throw CheckpointError(message: "\(path): bad step / train.adam_updates metadata")
        }
        var options = try JSONDecoder().decode(TrainingOptions.self, from: Data(json.utf8))
        if let learningRate {
            guard learningRate > 0 else { throw CheckpointError(message: "learning rate must be > 0 (got \(learningRate))") }
            options.adam.lr = learningRate
        }
        if let masking {
            guard (0...1).contains(masking.past) && (0...1).contains(masking.future) else {
                throw CheckpointError(message: "mask probabilities must lie in [0, 1] (got \(masking.past), \(masking.future))")
            }
            options.masking = masking
        }
        guard !widen || options.residual else {
            throw CheckpointError(message: "\(path): only a residual model can see its base")
        }
        guard !widen || seeBase == 1 || options.base == .motion else {
            throw CheckpointError(message: "\(path): only a model over the motion base can see its two sides")
        }
        let model = try UNet(config: config)
        self.init(model: model, options: options)
        let added = config.numFramesBase * config.channels
        func read(_ name: String, into base: UnsafeMutablePointer<Float>) throws {
            for spec in model.parameterLayout {
                let key = name.isEmpty ? "unet." + spec.name : Self.stateName(name, spec.name)
                if widen, let old = file.shape(key), old.count == 4, spec.shape.count == 4, old[0] == spec.shape[0],
                   old[1] + added == spec.shape[1], old[2...] == spec.shape[2...] {
                    // A convolution that reads the conditioning (the input conv; SPATIN's shared convs),
                    // (out, in, kh, kw): the file's input channels, then zeros for the base's.
                    let values = try file.floats(key), inner = old[1] * old[2] * old[3], wide = spec.shape[1] * old[2] * old[3]
                    for o in 0..<old[0] {
                        (base + spec.offset + o * wide).update(from: Array(values[o * inner ..< (o + 1) * inner]), count: inner)
                        (base + spec.offset + o * wide + inner).update(repeating: 0, count: wide - inner)
                    }
                    continue
                }
                guard file.shape(key) == spec.shape else { throw CheckpointError(message: "\(path): \(key) missing or misshapen") }
                let values = try file.floats(key)
                (base + spec.offset).update(from: values, count: values.count)
            }
        }
        if light {
            try read("", into: model.parameterStorage)
            if let ema { ema.shadow.update(from: model.parameterStorage, count: model.parameterStorageCount) }
        } else if let ema {
            try read("", into: ema.shadow)
            try read("raw", into: model.parameterStorage)
        } else {
            try read("", into: model.parameterStorage)
        }
        if !light {
            try read("adam_m", into: adam.m)
            try read("adam_v", into: adam.v)
        }
        adam.updates = updates
        model.prepare()
        self.step = step
    }
}
