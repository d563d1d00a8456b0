// Shared by the MCVDKit tests: a scratch folder, the committed parity fixture (tiny-concat, by path:
// Tests/UNetTests/Fixtures), and tiny model files written with any "mcvd.config" text.
import Foundation
import MCVDKit
import UNet

enum Scratch {
    static let dir: String = {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("mcvdkit-tests-\(getpid())").path
        try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }()
}

enum Fixture {
    /// Tests/UNetTests/Fixtures/<name>/model.safetensors of this checkout.
    static func path(_ name: String = "tiny-concat") -> String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("UNetTests/Fixtures/\(name)/model.safetensors").path
    }
}

/// A tiny network's "mcvd.config" as a JSON object: 16x16, two levels, ngf 8, no attention.
func tinyConfig(channels: Int = 1, past: Int = 2, frames: Int = 1, future: Int = 1, stride: Int? = nil,
                residual: Bool = false, parameterization: String = "eps", base: String? = nil) -> [String: Any] {
    var data: [String: Any] = ["image_size": 16, "channels": channels, "num_frames": frames, "num_frames_cond": past,
                               "num_frames_future": future, "rescaled": true]
    if let stride { data["condition_stride"] = stride }
    var diffusion: [String: Any] = ["schedule": "linear", "num_steps": 1000, "beta_min": 1e-4, "beta_max": 0.02,
                                    "parameterization": parameterization, "residual": residual]
    if let base { diffusion["base"] = base }
    return [
        "model": ["arch": "unetmore", "ngf": 8, "ch_mult": [1, 2], "num_res_blocks": 1, "attn_resolutions": [Int](),
                  "n_head_channels": -1, "spade": false, "nonlinearity": "swish", "time_conditional": true],
        "data": data,
        "diffusion": diffusion,
    ]
}

func jsonText(_ object: [String: Any]) -> String {
    String(decoding: try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
}

/// Writes a model file: the weights of `config` (seeded random init; when the config itself is bad,
/// those of `tinyConfig()`), with `json` as its "mcvd.config".
func writeModel(_ name: String, json: String, weightsOf config: UNetConfig? = nil, seed: UInt64 = 1) throws -> String {
    let cfg = try config ?? UNetConfig(json: jsonText(tinyConfig()))
    let net = try UNet(config: cfg)
    net.randomize(seed: seed)
    let tensors = net.parameterLayout.map { spec in
        ("unet." + spec.name, spec.shape, Array(UnsafeBufferPointer(start: net.parameterStorage + spec.offset, count: spec.shape.reduce(1, *))))
    }
    let path = "\(Scratch.dir)/\(name).safetensors"
    try SafeTensors.write(path: path, tensors: tensors, metadata: ["format": "mcvd-1", "mcvd.config": json])
    return path
}

/// A model of `tinyConfig(...)` with random weights.
func tinyModel(_ name: String, _ config: [String: Any], seed: UInt64 = 1) throws -> Model {
    let json = jsonText(config)
    return try Model(path: try writeModel(name, json: json, weightsOf: try UNetConfig(json: json), seed: seed))
}
