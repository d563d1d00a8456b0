// `mcvd eval` end to end on the 32x32 ball video the CLI tests make: per-video and summary lines, target
// counts from the validation split, a skipped bad file, --data-md parsing, the strip PNG (read back
// through GStreamer), prediction, and a tiny trained model evaluated on the same targets.
import Foundation
import Testing
import VideoData

/// `key=value` fields of the output lines that start with `prefix`.
private func fields(_ output: String, _ prefix: String) -> [[String: String]] {
    output.split(separator: "\n").filter { $0.hasPrefix(prefix) }.map { line in
        Dictionary(line.split(separator: " ").compactMap { pair -> (String, String)? in
            let kv = pair.split(separator: "=", maxSplits: 1)
            return kv.count == 2 ? (String(kv[0]), String(kv[1])) : nil
        }, uniquingKeysWith: { a, _ in a })
    }
}

@Suite(.serialized) struct EvalCommandTests {
    @Test func interpolationLinesTableAndStrip() throws {
        let video = try CLI.video()  // 40 frames: validation 32..<40, kept 32 34 36 38, targets 33 35 37
        let bad = "\(CLI.dir)/eval-broken.avi"
        try Data("not a video".utf8).write(to: URL(fileURLWithPath: bad))
        let strip = "\(CLI.dir)/eval-strip.png"
        let r = try CLI.run(["eval", video, bad, "--size", "32", "--strip", strip, "--strip-frames", "2"])
        #expect(r.status == 0, "\(r.output)")
        let hasFFmpeg = Evaluation.findFFmpeg() != nil
        let methods = ["repeat", "blend", "motion"] + (hasFFmpeg ? ["minterpolate"] : [])
        let lines = fields(r.output, "video=ball.mkv ")
        #expect(lines.map { $0["method"] ?? "" } == methods, "\(r.output)")
        #expect(lines.allSatisfy { $0["frames"] == "3" && Double($0["psnr"] ?? "") != nil && Double($0["ssim"] ?? "") != nil })
        #expect(r.output.contains("video=eval-broken.avi skipped="))
        let summary = fields(r.output, "summary ")
        #expect(summary.map { $0["method"] ?? "" } == methods)
        #expect(summary.allSatisfy { $0["videos"] == "1" && $0["frames"] == "3" })
        // A moving ball: blend beats repeat.
        let psnr = Dictionary(uniqueKeysWithValues: summary.map { ($0["method"]!, Double($0["psnr"]!)!) })
        #expect(psnr["blend"]! > psnr["repeat"]!, "\(r.output)")
        // A ball moving at constant speed: motion compensation beats the blend.
        #expect(psnr["motion"]! > psnr["blend"]!, "\(r.output)")
        #expect(r.output.contains("| method | PSNR dB (videos) | SSIM (videos) | PSNR dB (frames) | SSIM (frames) | videos | frames |"))
        // Strip: rows truth + methods, 2 columns of 32x32 magnified twice, 2 px gaps.
        let png = try decodeVideo(path: strip, height: (methods.count + 1) * 64 + methods.count * 2, channels: 3, maxFrames: 1)
        #expect(png.width == 2 * 64 + 2)
    }

    @Test func dataMdListAndPrediction() throws {
        let video = try CLI.video()
        let md = "\(CLI.dir)/DATA.md"
        try """
            | package | files |
            | --- | --- |
            | test | \(CLI.dir)/ (2 clips: ball.mkv, absent.ogv) |
            | other | /nonexistent/dir/a.mp4, b.avi |
            """.write(toFile: md, atomically: true, encoding: .utf8)
        let r = try CLI.run(["eval", "--data-md", "--data-md-path", md, "--size", "32", "--task", "predict"])
        #expect(r.status == 0, "\(r.output)")
        #expect(r.output.contains("4 videos listed, 1 present"), "\(r.output)")
        // Prediction targets: 34..<40 (two frames of history inside the validation range).
        let lines = fields(r.output, "video=\((video as NSString).lastPathComponent) ")
        #expect(lines.map { $0["method"] ?? "" } == ["copy-last", "extrapolate"])
        #expect(lines.allSatisfy { $0["frames"] == "6" })
        let bad = try CLI.run(["eval", "--size", "32"])
        #expect(bad.status != 0 && bad.output.contains("--data-md"))
    }

    @Test func modelIsEvaluatedOnTheSameTargets() throws {
        let video = try CLI.video()
        let ckpt = "\(CLI.dir)/eval-model.safetensors"
        var r = try CLI.run(["train", video] + CLI.tiny + ["--steps", "2", "--out", ckpt])
        #expect(r.status == 0, "\(r.output)")
        // The tiny model: 16x16, k = 2, n = 1, f = 1: targets need two kept frames before them (35, 37).
        // At 16 rows the ball's last frames are static pairs: the element (and eval's model row, by default)
        // blends them without the model; --static-threshold 0 runs the network on them.
        r = try CLI.run(["eval", video, "--size", "16", "--model", ckpt])
        #expect(r.status == 0 && r.output.contains("model row as the element fills the gaps: 0 by the model, 2 static"), "\(r.output)")
        #expect(fields(r.output, "video=ball.mkv ").filter { $0["method"] == "model" }.map { $0["psnr"] }
                == fields(r.output, "video=ball.mkv ").filter { $0["method"] == "blend" }.map { $0["psnr"] })
        r = try CLI.run(["eval", video, "--size", "16", "--model", ckpt, "--static-threshold", "0", "--steps", "2", "--seed", "3"])
        #expect(r.status == 0, "\(r.output)")
        let lines = fields(r.output, "video=ball.mkv ")
        #expect(lines.map { $0["method"] ?? "" } == ["repeat", "blend", "motion", "model"], "\(r.output)")
        #expect(lines.allSatisfy { $0["frames"] == "2" })
        #expect(r.output.contains("minterpolate left out"))
        let again = try CLI.run(["eval", video, "--size", "16", "--model", ckpt, "--static-threshold", "0", "--steps", "2", "--seed", "3"])
        // Seeded: the same numbers again.
        let model = { (o: String) in fields(o, "video=ball.mkv ").filter { $0["method"] == "model" } }
        #expect(!model(r.output).isEmpty && model(again.output) == model(r.output))
        // --model default: the built-in default model, here the file MCVD_MODEL names: the same numbers.
        let viaDefault = try CLI.run(["eval", video, "--size", "16", "--model", "default", "--steps", "2", "--seed", "3", "--static-threshold", "0"],
                                     env: ["MCVD_MODEL": ckpt])
        #expect(viaDefault.status == 0 && model(viaDefault.output) == model(r.output), "\(viaDefault.output)")
        let noDefault = try CLI.run(["eval", video, "--size", "16", "--model", "default"], env: ["MCVD_MODEL": "\(CLI.dir)/absent.safetensors"])
        #expect(noDefault.status != 0 && noDefault.output.contains("MCVD_MODEL=\(CLI.dir)/absent.safetensors names no file"), "\(noDefault.output)")
        // A gray model on RGB frames works on their luma and keeps the colour (as the element does).
        let rgb = try CLI.run(["eval", video, "--size", "16", "--rgb", "--model", ckpt, "--static-threshold", "0"])
        #expect(rgb.status == 0 && rgb.output.contains("luma of the RGB frames"), "\(rgb.output)")
        #expect(fields(rgb.output, "video=ball.mkv ").map { $0["method"] ?? "" } == ["repeat", "blend", "motion", "model"], "\(rgb.output)")
        // --processing-size: the model at 8 rows for 16-row frames; a model option.
        let small = try CLI.run(["eval", video, "--size", "16", "--model", ckpt, "--static-threshold", "0", "--steps", "2", "--seed", "3", "--processing-size", "8"])
        #expect(small.status == 0 && small.output.contains("model at") && small.output.contains("processing size 8 rows"), "\(small.output)")
        #expect(!model(small.output).isEmpty && model(small.output) != model(r.output))
        let noModel = try CLI.run(["eval", video, "--size", "16", "--processing-size", "8"])
        #expect(noModel.status != 0 && noModel.output.contains("--processing-size"), "\(noModel.output)")
    }

    @Test func predictionSpacesThePastByTheModelsConditionStride() throws {
        let video = try CLI.video()
        let ckpt = "\(CLI.dir)/eval-stride-model.safetensors"
        var r = try CLI.run(["train", video] + CLI.tiny + ["--steps", "2", "--condition-stride", "3", "--out", ckpt])
        #expect(r.status == 0, "\(r.output)")
        // k = 2 past frames 3 apart: t-4 and t-1, so a target needs 4 frames before it in 32..<40: 36..<40.
        r = try CLI.run(["eval", video, "--size", "16", "--task", "predict", "--model", ckpt, "--steps", "1"])
        #expect(r.status == 0 && r.output.contains("stride 3"), "\(r.output)")
        let lines = fields(r.output, "video=ball.mkv ")
        #expect(lines.map { $0["method"] ?? "" } == ["copy-last", "extrapolate", "model"], "\(r.output)")
        #expect(lines.allSatisfy { $0["frames"] == "4" }, "\(r.output)")
        r = try CLI.run(["eval", video, "--size", "16", "--model", ckpt, "--steps", "1"])
        #expect(r.status == 0 && r.output.contains("trained on conditioning frames 3 apart"), "\(r.output)")
    }

    @Test func warmStartIsAModelOption() throws {
        let video = try CLI.video()
        let ckpt = "\(CLI.dir)/eval-warm-model.safetensors"
        var r = try CLI.run(["train", video] + CLI.tiny + ["--steps", "2", "--out", ckpt])
        #expect(r.status == 0, "\(r.output)")
        r = try CLI.run(["eval", video, "--size", "16", "--model", ckpt, "--warm-start", "0.1"])
        #expect(r.status == 0 && r.output.contains("warm start 0.1"), "\(r.output)")
        #expect(fields(r.output, "video=ball.mkv ").contains { $0["method"] == "model" }, "\(r.output)")
        r = try CLI.run(["eval", video, "--size", "16", "--warm-start", "0.1"])
        #expect(r.status != 0 && r.output.contains("apply to --model"), "\(r.output)")
        r = try CLI.run(["eval", video, "--size", "16", "--model", ckpt, "--warm-start", "1.5"])
        #expect(r.status != 0 && r.output.contains("--warm-start must lie in (0, 1]"), "\(r.output)")
    }
}
