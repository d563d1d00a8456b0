// `mcvd train --base`: a run over the motion base finishes, repeats byte for byte with the same seed,
// differs from the blend run, and records diffusion.base in the checkpoint's model config and settings
// (a resumed run keeps it); the config file's diffusion.base sets it too; bad values are refused.
import Foundation
import Testing
import UNet

@Suite(.serialized) struct TrainBaseTests {
    static func config(_ path: String) throws -> [String: Any] {
        let json = try SafeTensors(path: path).metadata["mcvd.config"] ?? ""
        return try JSONSerialization.jsonObject(with: Data(json.utf8)) as! [String: Any]
    }

    @Test func motionBaseTrainsSeededAndIsRecorded() throws {
        let video = try CLI.video("ball-base.mkv")
        let a = "\(CLI.dir)/motion-a.safetensors", b = "\(CLI.dir)/motion-b.safetensors", c = "\(CLI.dir)/blend.safetensors"
        for (out, base) in [(a, "motion"), (b, "motion"), (c, "blend")] {
            let r = try CLI.run(["train", video] + CLI.tiny + ["--steps", "3", "--seed", "11", "--base", base, "--out", out,
                                                               "--metrics", out + ".jsonl"])
            #expect(r.status == 0 && r.output.contains("base=\(base)"), "\(r.output)")
        }
        let bytesA = try Data(contentsOf: URL(fileURLWithPath: a)), bytesB = try Data(contentsOf: URL(fileURLWithPath: b))
        #expect(bytesA == bytesB, "same seed, same base: the checkpoints differ")
        let losses = { (p: String) in try CLI.metrics(p + ".jsonl").map { $0["loss"] as? Double } }
        #expect(try losses(a) == losses(b) && losses(a) != losses(c), "the base should change the losses")
        #expect((try Self.config(a)["diffusion"] as? [String: Any])?["base"] as? String == "motion")
        #expect((try Self.config(c)["diffusion"] as? [String: Any])?["base"] as? String == "blend")
        #expect(try SafeTensors(path: a).metadata["mcvd.train.settings"]?.contains(#""base":"motion""#) == true)
        // Resume keeps the base (settings and trainer options must agree).
        let r = try CLI.run(["train", video, "--resume", b, "--steps", "4"])
        #expect(r.status == 0 && r.output.contains("base=motion"), "\(r.output)")
        #expect((try Self.config(b)["diffusion"] as? [String: Any])?["base"] as? String == "motion")
    }

    /// --base-from-frame: the motion base of 8x8 crops computed on the whole 16-row frames changes the
    /// losses, is recorded in the settings, may be switched on when resuming a run trained without it, and
    /// needs the motion base.
    @Test func baseFromTheWholeFrame() throws {
        let video = try CLI.video("ball-base.mkv")
        let a = "\(CLI.dir)/crop-base.safetensors", b = "\(CLI.dir)/frame-base.safetensors"
        for (out, extra) in [(a, [String]()), (b, ["--base-from-frame"])] {
            let r = try CLI.run(["train", video] + CLI.tiny + ["--crop", "8", "--steps", "3", "--seed", "11", "--base", "motion",
                                                               "--out", out, "--metrics", out + ".jsonl"] + extra)
            #expect(r.status == 0 && r.output.contains("base-from-frame") == !extra.isEmpty, "\(r.output)")
        }
        let losses = { (p: String) in try CLI.metrics(p + ".jsonl").map { $0["loss"] as? Double } }
        #expect(try losses(a) != losses(b), "the whole-frame base should change the losses")
        #expect(try SafeTensors(path: b).metadata["mcvd.train.settings"]?.contains(#""baseFromFrame":true"#) == true)
        let r = try CLI.run(["train", video, "--resume", a, "--steps", "5", "--base-from-frame"])
        #expect(r.status == 0 && r.output.contains("base-from-frame"), "\(r.output)")
        #expect(try SafeTensors(path: a).metadata["mcvd.train.settings"]?.contains(#""baseFromFrame":true"#) == true)
        let refused = try CLI.run(["train", video, "--base-from-frame"])
        #expect(refused.status != 0 && refused.output.contains("base_from_frame applies to the motion base"), "\(refused.output)")
    }

    @Test func configFileSetsTheBaseAndBadValuesAreRefused() throws {
        let video = try CLI.video("ball-base.mkv")
        let config = "\(CLI.dir)/base-config.json", out = "\(CLI.dir)/base-config.safetensors"
        try Data(#"{"diffusion": {"base": "last"}, "training": {"n_iters": 1}}"#.utf8).write(to: URL(fileURLWithPath: config))
        let r = try CLI.run(["train", video] + CLI.tiny + ["--config", config, "--out", out])
        #expect(r.status == 0, "\(r.output)")
        #expect((try Self.config(out)["diffusion"] as? [String: Any])?["base"] as? String == "last")
        let bad = "\(CLI.dir)/bad-base.json"
        try Data(#"{"diffusion": {"base": "flow"}}"#.utf8).write(to: URL(fileURLWithPath: bad))
        let cases: [([String], String)] = [
            (["train", video, "--base", "flow"], "--base"),
            (["train", video, "--config", bad], "diffusion.base must be one of blend, motion, last, first, zeros"),
            (["train", video, "--base", "motion", "--no-residual"], "needs residual mode"),
        ]
        for (args, message) in cases {
            let r = try CLI.run(args)
            #expect(r.status != 0 && r.output.contains(message), "\(args): \(r.output)")
        }
    }
}
