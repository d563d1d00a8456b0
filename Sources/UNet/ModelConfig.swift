// The one reader of a model file's "mcvd.config" (docs/model-format.md): {"model": {...}, "data": {...},
// "diffusion": {...}} with the reference's field names. Strict: an unknown section or field, a value of
// the wrong JSON type (1.5 for an integer, "true" for a boolean, 2 for a list), or a value the engine
// does not implement (cond_emb, fir = false, ...) is a `ModelConfigError` naming the field. Fields the
// reference records but that change nothing here (dropout, ema, dataset, ...) are type-checked and kept
// out of the way. The JSON is parsed by the safetensors header's strict reader (duplicate keys are
// errors; numbers keep whether they were integers). The diffusion section stays plain data here (UNet does not know the Diffusion
// module); MCVDKit turns it into a schedule and a parameterization.
import Foundation

public struct ModelConfigError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The field, as "section.name" ("" for the whole config).
    public let field: String
    public let message: String
    public init(_ field: String, _ message: String) { self.field = field; self.message = message }
    public var description: String { field.isEmpty ? "model config: \(message)" : "model config: \(field) \(message)" }
}

/// The "data" fields beyond the network's shape.
public struct ModelDataConfig: Sendable, Equatable {
    /// Spacing s of the conditioning frames in the training clips (data.condition_stride, 1 when absent).
    public var conditionStride = 1
    /// data.rescaled: frames in [-1, 1] (true, the default) or [0, 1].
    public var rescaled = true
    public var probMaskCond = 0.0, probMaskFuture = 0.0
    public var probMaskSync = false
    public var dataset: String?
    public init() {}
}

/// The "diffusion" section (defaults: the reference's linear schedule, eps, no residual).
public struct ModelDiffusionConfig: Sendable, Equatable {
    /// "linear" or "cosine".
    public var schedule = "linear"
    public var numSteps = 1000
    public var betaMin = 1e-4, betaMax = 0.02
    /// "eps" or "v".
    public var parameterization = "eps"
    public var residual = false
    /// diffusion.base: the estimate a residual model refines, one of `ModelDiffusionConfig.bases`
    /// (MotionBase's ResidualBase); "blend" (the default, today's per-task base) when absent.
    public var base = "blend"
    public static let bases = ["blend", "motion", "last", "first", "zeros"]
    public init() {}
}

public struct ModelConfig: Sendable, Equatable {
    public var unet: UNetConfig
    public var data: ModelDataConfig
    public var diffusion: ModelDiffusionConfig

    public init(unet: UNetConfig, data: ModelDataConfig = ModelDataConfig(), diffusion: ModelDiffusionConfig = ModelDiffusionConfig()) {
        self.unet = unet; self.data = data; self.diffusion = diffusion
    }

    /// Reads the "mcvd.config" JSON text strictly (see the file header); then validates the network.
    public init(json: String) throws {
        let root: JSONValue
        do { root = try JSONReader.parse(Array(json.utf8)) } catch {
            throw ModelConfigError("", "is not valid JSON (\(error.message) at byte \(error.offset))")
        }
        guard case .object(let sections) = root else { throw ModelConfigError("", "must be a JSON object") }
        for key in sections.keys.sorted() where !["model", "data", "diffusion"].contains(key) {
            throw ModelConfigError(key, "is an unknown section (expected model, data, diffusion)")
        }
        func section(_ name: String, required: Bool) throws -> Fields {
            guard let value = sections[name] else {
                if required { throw ModelConfigError(name, "is missing") }
                return Fields(section: name, values: [:])
            }
            guard case .object(let values) = value else { throw ModelConfigError(name, "must be an object") }
            return Fields(section: name, values: values)
        }

        // model
        var m = try section("model", required: true)
        let ngf = try m.int("ngf", min: 1), chMult = try m.ints("ch_mult", min: 1), numResBlocks = try m.int("num_res_blocks", min: 1)
        guard !chMult.isEmpty else { throw ModelConfigError("model.ch_mult", "must list at least one level") }
        let attn = try m.ints("attn_resolutions", min: 1)
        let heads = try m.int("n_head_channels", default: -1)
        guard heads == -1 || heads > 0 else { throw ModelConfigError("model.n_head_channels", "must be -1 (one head) or > 0 (got \(heads))") }
        let timeConditional = try m.bool("time_conditional", default: true)
        let spade = try m.bool("spade", default: false), spadeDim = try m.int("spade_dim", default: 128, min: 1)
        let arch = try m.string("arch", default: "unetmore"), version = try m.string("version", default: "DDPM")
        guard arch == "unetmore" || arch == "unet" else {
            throw ModelConfigError("model.arch", "\(arch) is not supported (only the 2D unetmore network)")
        }
        let condEmb = try m.bool("cond_emb", default: false)
        // Values fixed by the reference network this engine implements.
        try m.expect("cond_emb", condEmb, false, "true is not supported (the condition-mask embedding)")
        try m.expect("nonlinearity", try m.string("nonlinearity", default: "swish"), "swish", "must be swish")
        try m.expect("resblock_type", try m.string("resblock_type", default: "biggan"), "biggan", "must be biggan")
        try m.expect("embedding_type", try m.string("embedding_type", default: "positional"), "positional", "must be positional")
        try m.expect("skip_rescale", try m.bool("skip_rescale", default: true), true, "must be true")
        try m.expect("fir", try m.bool("fir", default: true), true, "must be true")
        try m.expect("fir_kernel", try m.ints("fir_kernel", default: [1, 3, 3, 1]), [1, 3, 3, 1], "must be [1, 3, 3, 1]")
        for flag in ["noise_in_cond", "gamma", "output_all_frames"] {
            try m.expect(flag, try m.bool(flag, default: false), false, "true is not supported")
        }
        // Training bookkeeping: checked for type, not used here.
        _ = try m.number("dropout", default: 0)
        _ = try m.bool("ema", default: false)
        _ = try m.number("ema_rate", default: 0)
        _ = try m.bool("conditional", default: true)
        _ = try m.string("type", default: "v1")
        _ = try m.string("sigma_dist", default: "linear")
        _ = try m.number("sigma_begin", default: 0)
        _ = try m.number("sigma_end", default: 0)
        _ = try m.int("num_classes", default: 1000)
        _ = try m.number("init_scale", default: 0)
        try m.noOthers()

        // data
        var d = try section("data", required: true)
        let imageSize = try d.int("image_size", min: 1), channels = try d.int("channels", min: 1)
        let levels = 1 << (chMult.count - 1)
        guard imageSize % levels == 0 else {
            throw ModelConfigError("data.image_size", "\(imageSize) must be divisible by 2^(levels - 1) = \(levels)")
        }
        let numFrames = try d.int("num_frames", min: 1), numFramesCond = try d.int("num_frames_cond", min: 0)
        let numFramesFuture = try d.int("num_frames_future", default: 0, min: 0)
        let numFramesBase = try d.int("num_frames_base", default: 0, min: 0)
        guard [0, numFrames, 2 * numFrames].contains(numFramesBase) else {
            throw ModelConfigError("data.num_frames_base", "must be 0, num_frames (\(numFrames)) or twice that (the motion base's two sides), got \(numFramesBase)")
        }
        var data = ModelDataConfig()
        data.conditionStride = try d.int("condition_stride", default: 1, min: 1)
        data.rescaled = try d.bool("rescaled", default: true)
        data.probMaskCond = try d.number("prob_mask_cond", default: 0)
        data.probMaskFuture = try d.number("prob_mask_future", default: 0)
        data.probMaskSync = try d.bool("prob_mask_sync", default: false)
        data.dataset = try d.optionalString("dataset")
        try d.expect("logit_transform", try d.bool("logit_transform", default: false), false, "true is not supported")
        try d.noOthers()

        // diffusion
        var f = try section("diffusion", required: false)
        var diffusion = ModelDiffusionConfig()
        diffusion.schedule = try f.string("schedule", default: "linear")
        guard ["linear", "cosine"].contains(diffusion.schedule) else {
            throw ModelConfigError("diffusion.schedule", "must be linear or cosine (got \(diffusion.schedule))")
        }
        diffusion.numSteps = try f.int("num_steps", default: 1000, min: 2)
        diffusion.betaMin = try f.number("beta_min", default: 1e-4)
        diffusion.betaMax = try f.number("beta_max", default: 0.02)
        guard diffusion.betaMin > 0 && diffusion.betaMin < 1 else {
            throw ModelConfigError("diffusion.beta_min", "must lie in (0, 1) (got \(diffusion.betaMin))")
        }
        guard diffusion.betaMax >= diffusion.betaMin && diffusion.betaMax < 1 else {
            throw ModelConfigError("diffusion.beta_max", "must lie in [beta_min, 1) (got \(diffusion.betaMax))")
        }
        diffusion.parameterization = try f.string("parameterization", default: "eps")
        guard ["eps", "v"].contains(diffusion.parameterization) else {
            throw ModelConfigError("diffusion.parameterization", "must be eps or v (got \(diffusion.parameterization))")
        }
        diffusion.residual = try f.bool("residual", default: false)
        diffusion.base = try f.string("base", default: "blend")
        guard ModelDiffusionConfig.bases.contains(diffusion.base) else {
            throw ModelConfigError("diffusion.base", "must be one of \(ModelDiffusionConfig.bases.joined(separator: ", ")) (got \(diffusion.base))")
        }
        guard diffusion.residual || diffusion.base == "blend" else {
            throw ModelConfigError("diffusion.base", "\(diffusion.base) needs diffusion.residual true (a base is what a residual model refines)")
        }
        guard numFramesBase == 0 || diffusion.residual else {
            throw ModelConfigError("data.num_frames_base", "needs diffusion.residual true (the base is what a residual model refines)")
        }
        guard numFramesBase != 2 * numFrames || diffusion.base == "motion" else {
            throw ModelConfigError("data.num_frames_base", "twice num_frames (the base's two sides) needs diffusion.base motion (got \(diffusion.base))")
        }
        try f.noOthers()

        let unet = UNetConfig(ngf: ngf, chMult: chMult, numResBlocks: numResBlocks, attnResolutions: attn, nHeadChannels: heads,
                              timeConditional: timeConditional, condEmb: condEmb, spade: spade, spadeDim: spadeDim,
                              arch: arch, version: version, imageSize: imageSize, channels: channels, numFrames: numFrames,
                              numFramesCond: numFramesCond, numFramesFuture: numFramesFuture,
                              numFramesBase: numFramesBase)
        do { try unet.validate() } catch let e as UNetError {
            throw ModelConfigError("", e.message.hasPrefix("config: ") ? String(e.message.dropFirst(8)) : e.message)
        }
        self.init(unet: unet, data: data, diffusion: diffusion)
    }
}

extension JSONValue {
    /// The value as a message quotes it.
    var text: String {
        switch self {
        case .bool(let b): return "\(b)"
        case .integer(let i): return "\(i)"
        case .number(let d): return "\(d)"
        case .string(let s): return "\"\(s)\""
        case .array(let a): return "[" + a.map(\.text).joined(separator: ", ") + "]"
        case .object: return "an object"
        case .null: return "null"
        }
    }
}

/// One section's fields; each read removes its key, so `noOthers` finds the unknown ones.
private struct Fields {
    let section: String
    var values: [String: JSONValue]

    private mutating func take(_ key: String) -> JSONValue? {
        guard let v = values.removeValue(forKey: key), v != .null else { return nil }
        return v
    }
    private func fail(_ key: String, _ what: String, _ got: JSONValue) -> ModelConfigError {
        ModelConfigError("\(section).\(key)", "must be \(what) (got \(got.text))")
    }

    /// An integer (an integral JSON number such as 8.0 counts), >= `min` when given.
    mutating func int(_ key: String, default def: Int? = nil, min: Int? = nil) throws -> Int {
        guard let v = take(key) else {
            if let def { return def }
            throw ModelConfigError("\(section).\(key)", "is missing")
        }
        guard let i = Self.integer(v) else { throw fail(key, "an integer", v) }
        if let min, i < min { throw fail(key, "an integer >= \(min)", v) }
        return i
    }
    mutating func ints(_ key: String, default def: [Int]? = nil, min: Int? = nil) throws -> [Int] {
        guard let v = take(key) else {
            if let def { return def }
            throw ModelConfigError("\(section).\(key)", "is missing")
        }
        let what = "a list of integers" + (min.map { " >= \($0)" } ?? "")
        guard case .array(let a) = v else { throw fail(key, what, v) }
        return try a.map { e in
            guard let i = Self.integer(e), i >= (min ?? Int.min) else { throw fail(key, what, v) }
            return i
        }
    }
    static func integer(_ v: JSONValue) -> Int? {
        if case .integer(let i) = v { return i }
        if case .number(let d) = v, d.rounded() == d, abs(d) < 1e15 { return Int(d) }
        return nil
    }
    mutating func number(_ key: String, default def: Double) throws -> Double {
        guard let v = take(key) else { return def }
        switch v {
        case .integer(let i): return Double(i)
        case .number(let d): return d
        default: throw fail(key, "a number", v)
        }
    }
    mutating func bool(_ key: String, default def: Bool) throws -> Bool {
        guard let v = take(key) else { return def }
        guard case .bool(let b) = v else { throw fail(key, "true or false", v) }
        return b
    }
    mutating func string(_ key: String, default def: String) throws -> String {
        try optionalString(key) ?? def
    }
    mutating func optionalString(_ key: String) throws -> String? {
        guard let v = take(key) else { return nil }
        guard case .string(let s) = v else { throw fail(key, "a string", v) }
        return s
    }
    func expect<T: Equatable>(_ key: String, _ value: T, _ wanted: T, _ message: String) throws {
        guard value == wanted else { throw ModelConfigError("\(section).\(key)", "\(message) (got \(value))") }
    }
    func noOthers() throws {
        if let key = values.keys.sorted().first {
            throw ModelConfigError("\(section).\(key)", "is an unknown field")
        }
    }
}
