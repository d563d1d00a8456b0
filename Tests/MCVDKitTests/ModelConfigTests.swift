// The one reader of a model file's config: real model files, each with one field wrong, must fail to
// load with an error that names the field; good files (the parity fixture, a minimal config) load with
// the values and defaults of docs/model-format.md.
import Foundation
import MCVDKit
import Testing
import UNet

@Suite struct ModelConfigTests {
    @Test func fixtureLoadsWithItsValues() throws {
        let model = try Model(path: Fixture.path())
        #expect(model.channels == 3 && model.past == 2 && model.frames == 1 && model.future == 2)
        #expect(model.imageSize == 64 && model.sizeMultiple == 4 && model.conditionStride == 1)
        #expect(model.parameterization == .eps && !model.residual && model.range == .symmetric)
        #expect(model.config.unet.nHeadChannels == 32 && model.config.unet.attnResolutions == [16])
        #expect(model.config.data.dataset == "synthetic" && model.config.data.probMaskCond == 0.5)
        #expect(model.schedule.count == 1000)
    }

    @Test func optionalFieldsTakeTheirDefaults() throws {
        let json = #"{"model": {"ngf": 8, "ch_mult": [1, 2], "num_res_blocks": 1, "attn_resolutions": []},"#
            + #" "data": {"image_size": 16, "channels": 1, "num_frames": 1, "num_frames_cond": 2}}"#
        let c = try ModelConfig(json: json)
        #expect(c.unet.numFramesFuture == 0 && c.unet.nHeadChannels == -1 && !c.unet.spade && c.unet.timeConditional)
        #expect(c.data.conditionStride == 1 && c.data.rescaled && c.data.dataset == nil)
        #expect(c.diffusion == ModelDiffusionConfig())
        #expect(c.diffusion.parameterization == "eps" && c.diffusion.numSteps == 1000 && !c.diffusion.residual)
        #expect(c.diffusion.base == "blend")
        // An integral number written as 8.0 is an integer.
        #expect(try ModelConfig(json: json.replacingOccurrences(of: #""ngf": 8"#, with: #""ngf": 8.0"#)).unet.ngf == 8)
        let model = try Model(path: try writeModel("defaults", json: json, weightsOf: c.unet))
        #expect(model.future == 0 && model.defaultSteps == 50)
    }

    /// (section, field, bad value, words the message must contain besides "section.field").
    nonisolated(unsafe) static let badFields: [(String, String, Any, String)] = [
        ("model", "ngf", 8.5, "integer"), ("model", "ngf", "8", "integer"), ("model", "ngf", 0, ">= 1"),
        ("model", "ch_mult", [1, 2.5], "list of integers"), ("model", "ch_mult", 2, "list of integers"),
        ("model", "ch_mult", [Int](), "at least one"),
        ("model", "num_res_blocks", true, "integer"), ("model", "attn_resolutions", "16", "list"),
        ("model", "n_head_channels", 1.5, "integer"), ("model", "n_head_channels", 0, "-1"),
        ("model", "time_conditional", 1, "true or false"), ("model", "spade", "false", "true or false"),
        ("model", "spade_dim", [32], "integer"), ("model", "arch", 3, "string"), ("model", "arch", "unet3d", "not supported"),
        ("model", "version", 1, "string"), ("model", "cond_emb", true, "not supported"), ("model", "nonlinearity", "relu", "swish"),
        ("model", "fir", false, "must be true"), ("model", "fir_kernel", [1, 2, 1], "[1, 3, 3, 1]"),
        ("model", "resblock_type", "ddpm", "biggan"), ("model", "skip_rescale", "yes", "true or false"),
        ("model", "dropout", "0.1", "number"), ("model", "ema", "yes", "true or false"), ("model", "ema_rate", [0.9], "number"),
        ("model", "num_classes", 1000.5, "integer"), ("model", "noise_in_cond", true, "not supported"),
        ("model", "output_all_frames", true, "not supported"), ("model", "gamma", true, "not supported"),
        ("model", "type", 1, "string"), ("model", "conditional", "true", "true or false"), ("model", "sigma_dist", 0, "string"),
        ("model", "sigma_begin", "0.02", "number"), ("model", "sigma_end", [1], "number"), ("model", "init_scale", true, "number"),
        ("model", "embedding_type", "fourier", "positional"), ("model", "ngf_typo", 8, "unknown field"),
        ("data", "image_size", 16.5, "integer"), ("data", "image_size", 17, "divisible"), ("data", "channels", "3", "integer"),
        ("data", "channels", 2, "1 (gray) or 3 (RGB)"), ("data", "num_frames", 0, ">= 1"), ("data", "num_frames_cond", -1, ">= 0"),
        ("data", "num_frames_future", "1", "integer"), ("data", "num_frames", "1", "integer"), ("data", "num_frames_cond", 1.5, "integer"),
        ("data", "prob_mask_future", true, "number"), ("data", "condition_stride", 0, ">= 1"),
        ("data", "condition_stride", "2", "integer"), ("data", "rescaled", "true", "true or false"),
        ("data", "prob_mask_cond", "0.5", "number"), ("data", "prob_mask_sync", 0, "true or false"), ("data", "dataset", 5, "string"),
        ("data", "logit_transform", true, "not supported"), ("data", "frames", 3, "unknown field"),
        ("diffusion", "schedule", "quadratic", "linear or cosine"), ("diffusion", "schedule", 1, "string"),
        ("diffusion", "num_steps", 1000.5, "integer"), ("diffusion", "num_steps", 1, ">= 2"),
        ("diffusion", "beta_min", "1e-4", "number"), ("diffusion", "beta_min", 0, "(0, 1)"), ("diffusion", "beta_max", 2, "[beta_min, 1)"),
        ("diffusion", "parameterization", "x0", "eps or v"), ("diffusion", "residual", "false", "true or false"),
        ("diffusion", "residual", 0, "true or false"), ("diffusion", "steps", 10, "unknown field"),
        ("diffusion", "base", "optical-flow", "must be one of blend, motion, last, first, zeros"), ("diffusion", "base", 1, "string"),
        ("diffusion", "base", "motion", "needs diffusion.residual true"),
        ("data", "num_frames_base", "1", "integer"), ("data", "num_frames_base", 3, "0, num_frames (1) or twice that"),
        ("data", "num_frames_base", 1, "needs diffusion.residual true"),
    ]

    @Test(arguments: badFields.indices)
    func aBadFieldIsAnErrorNamingIt(_ i: Int) throws {
        let (section, field, value, words) = Self.badFields[i]
        var config = tinyConfig()
        var s = config[section] as! [String: Any]
        s[field] = value
        config[section] = s
        let path = try writeModel("bad-\(i)", json: jsonText(config))
        do {
            _ = try Model(path: path)
            Issue.record("\(section).\(field) = \(value) loaded")
        } catch {
            let text = "\(error)"
            #expect(text.contains("\(section).\(field)") && text.contains(words) && text.contains(path), "\(text)")
        }
    }

    /// data.num_frames_base = 2n (the motion base's two sides) loads over the motion base only.
    @Test func twoSidesNeedTheMotionBase() throws {
        for base in ["blend", "motion"] {
            var config = tinyConfig(residual: true, parameterization: "v", base: base)
            var data = config["data"] as! [String: Any]
            data["num_frames_base"] = 2
            config["data"] = data
            let json = jsonText(config)
            if base == "motion" {
                let model = try Model(path: try writeModel("sides-\(base)", json: json, weightsOf: try UNetConfig(json: json)))
                #expect(model.baseViews == 2)
            } else {
                let path = try writeModel("sides-\(base)", json: json)
                do { _ = try Model(path: path); Issue.record("loaded") } catch {
                    #expect("\(error)".contains("data.num_frames_base") && "\(error)".contains("needs diffusion.base motion"), "\(error)")
                }
            }
        }
    }

    @Test func badSectionsAndTextAreErrors() throws {
        var extra = tinyConfig()
        extra["training"] = ["batch_size": 8]
        var arrayModel = tinyConfig()
        arrayModel["model"] = [1, 2]
        var noData = tinyConfig()
        noData["data"] = nil
        let cases: [(String, String)] = [
            (jsonText(extra), "training is an unknown section"), (jsonText(arrayModel), "model must be an object"),
            (jsonText(noData), "data is missing"), ("{\"model\": ", "not valid JSON"), ("[1, 2]", "must be a JSON object"),
            ("", "not valid JSON"),
        ]
        for (i, (json, words)) in cases.enumerated() {
            let path = try writeModel("bad-section-\(i)", json: json)
            #expect(throws: MCVDKitError.self) { try Model(path: path) }
            do { _ = try Model(path: path) } catch { #expect("\(error)".contains(words), "\(error)") }
        }
        // No config at all, and weights that do not fit the config.
        let net = try UNet(config: try UNetConfig(json: jsonText(tinyConfig())))
        let bare = "\(Scratch.dir)/bare.safetensors"
        try SafeTensors.write(path: bare, tensors: [("unet.all_modules.0.weight", [32, 8], [Float](repeating: 0, count: 256))], metadata: [:])
        do { _ = try Model(path: bare); Issue.record("loaded") } catch { #expect("\(error)".contains("mcvd.config"), "\(error)") }
        var wider = tinyConfig()
        var m = wider["model"] as! [String: Any]
        m["ngf"] = 16
        wider["model"] = m
        let misfit = try writeModel("misfit", json: jsonText(wider), weightsOf: net.config)
        do { _ = try Model(path: misfit); Issue.record("loaded") } catch { #expect("\(error)".contains("shape"), "\(error)") }
    }
}
