// `mcvd train --synthetic N --stills DIR`: the run draws both real and synthetic clips (per-step counts
// in the metrics, totals in the log), is deterministic by seed, records the option in the checkpoint's
// settings, resumes with it, and a missing still is a clear error.
import Foundation
import Testing
import UNet
import VideoData

@Suite(.serialized) struct SyntheticTrainTests {
    /// Two textured PNG stills (64x48 RGB) in a folder, made once.
    static let stills: String = {
        let dir = "\(CLI.dir)/stills"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for k in 0..<2 {
            let pixels = (0..<(64 * 48 * 3)).map { i -> UInt8 in
                let x = (i / 3) % 64, y = (i / 3) / 64
                return UInt8((100 + 80 * sin(Double(x + 5 * k) / 4) * cos(Double(y) / 3) + Double((i &* 2_654_435_761) >> 9 & 31)).rounded())
            }
            try? PNG.write(path: "\(dir)/still\(k).png", width: 64, height: 48, channels: 3, pixels: pixels)
        }
        return dir
    }()

    @Test func drawsBothKindsDeterministically() throws {
        let video = try CLI.video()
        let common = CLI.tiny + ["--steps", "6", "--synthetic", "60", "--stills", Self.stills]
        let a = "\(CLI.dir)/syn-a.safetensors", b = "\(CLI.dir)/syn-b.safetensors"
        let ma = "\(CLI.dir)/syn-a.jsonl", mb = "\(CLI.dir)/syn-b.jsonl"
        let r = try CLI.run(["train", video] + common + ["--out", a, "--metrics", ma])
        #expect(r.status == 0, "\(r.output)")
        #expect(r.output.contains("synthetic: 60 clips from 2 still(s), 0 skipped"), "\(r.output)")
        let rows = try CLI.metrics(ma)
        let perStep = rows.compactMap { $0["synthetic"] as? Int }
        #expect(perStep.count == 6 && perStep.allSatisfy { (0...2).contains($0) })
        // 40-frame ball video: 32 training frames, 29 clips of 4 frames; 60 synthetic: 2/3 of the draws.
        let synthetic = perStep.reduce(0, +)
        #expect(synthetic > 0 && synthetic < 12, "\(perStep)")
        #expect(r.output.contains("clips drawn: \(12 - synthetic) real, \(synthetic) synthetic"), "\(r.output)")
        // Same seed: the same losses and weights; the settings record the synthetic data.
        let r2 = try CLI.run(["train", video] + common + ["--out", b, "--metrics", mb])
        #expect(r2.status == 0, "\(r2.output)")
        #expect(rows.map { $0["loss"] as? Double } == (try CLI.metrics(mb)).map { $0["loss"] as? Double })
        #expect(try Data(contentsOf: URL(fileURLWithPath: a)) == Data(contentsOf: URL(fileURLWithPath: b)))
        let settings = try SafeTensors(path: a).metadata["mcvd.train.settings"] ?? ""
        #expect(settings.contains("\"synthetic\":60") && settings.contains("stills"), "\(settings)")
        #expect(try SafeTensors(path: a).metadata["mcvd.train.stills"] == "\(Self.stills)/still0.png\n\(Self.stills)/still1.png")
        // Another seed draws other clips.
        let r3 = try CLI.run(["train", video] + common + ["--seed", "1", "--out", b, "--metrics", mb])
        #expect(r3.status == 0)
        #expect(rows.map { $0["loss"] as? Double } != (try CLI.metrics(mb)).map { $0["loss"] as? Double })
        // Resume keeps drawing synthetic clips (from the recorded settings).
        let r4 = try CLI.run(["train", video, "--resume", a, "--steps", "8", "--metrics", ma])
        #expect(r4.status == 0 && r4.output.contains("synthetic: 60 clips"), "\(r4.output)")
    }

    /// A run trained without synthetic clips resumes with `--synthetic N --stills DIR`: the resumed steps draw
    /// them, the checkpoint records them (so a later resume keeps them), and the model's settings may still not change.
    @Test func resumeAddsSyntheticClips() throws {
        let video = try CLI.video()
        let a = "\(CLI.dir)/syn-resume.safetensors", m = "\(CLI.dir)/syn-resume.jsonl"
        var r = try CLI.run(["train", video] + CLI.tiny + ["--steps", "2", "--out", a])
        #expect(r.status == 0, "\(r.output)")
        #expect(!(try SafeTensors(path: a).metadata["mcvd.train.settings"] ?? "").contains("\"synthetic\":40"))
        r = try CLI.run(["train", video, "--resume", a, "--steps", "6", "--synthetic", "40", "--stills", Self.stills, "--metrics", m])
        #expect(r.status == 0 && r.output.contains("synthetic: 40 clips from 2 still(s)"), "\(r.output)")
        let drawn = try CLI.metrics(m).compactMap { $0["synthetic"] as? Int }
        #expect(drawn.count == 4 && drawn.reduce(0, +) > 0, "\(drawn)")
        let settings = try SafeTensors(path: a).metadata["mcvd.train.settings"] ?? ""
        #expect(settings.contains("\"synthetic\":40") && settings.contains("stills"), "\(settings)")
        r = try CLI.run(["train", video, "--resume", a, "--steps", "7"])
        #expect(r.status == 0 && r.output.contains("synthetic: 40 clips"), "\(r.output)")
        r = try CLI.run(["train", video, "--resume", a, "--steps", "8", "--synthetic", "40", "--ngf", "8"])
        #expect(r.status != 0 && r.output.contains("drop --ngf"), "\(r.output)")
    }

    @Test func configFileSetsTheSyntheticData() throws {
        let video = try CLI.video()
        let config = "\(CLI.dir)/syn-config.json", bad = "\(CLI.dir)/syn-bad-config.json"
        try Data("{\"data\": {\"synthetic\": 10, \"stills\": [\"\(Self.stills)\"]}}".utf8).write(to: URL(fileURLWithPath: config))
        let r = try CLI.run(["train", video, "--config", config] + CLI.tiny + ["--steps", "1", "--out", "\(CLI.dir)/syn-c.safetensors"])
        #expect(r.status == 0 && r.output.contains("synthetic: 10 clips from 2 still(s)") && r.output.contains("synthetic=10"), "\(r.output)")
        try Data("{\"data\": {\"synthetic\": 10, \"stills\": 3}}".utf8).write(to: URL(fileURLWithPath: bad))
        let e = try CLI.run(["train", video, "--config", bad])
        #expect(e.status != 0 && e.output.contains("stills must be a list of paths"), "\(e.output)")
    }

    @Test func missingStillsAreAClearError() throws {
        let video = try CLI.video()
        let r = try CLI.run(["train", video] + CLI.tiny + ["--steps", "1", "--synthetic", "5", "--stills", "\(CLI.dir)/no-such.png",
                                                           "--out", "\(CLI.dir)/syn-bad.safetensors"])
        #expect(r.status != 0)
        #expect(r.output.contains("no usable still image") && r.output.contains("no-such.png"), "\(r.output)")
        let unused = try CLI.run(["train", video, "--stills", Self.stills])
        #expect(unused.status != 0 && unused.output.contains("give --synthetic N"), "\(unused.output)")
        let neg = try CLI.run(["train", video, "--synthetic=-3"])
        #expect(neg.status != 0 && neg.output.contains("synthetic clip count must be >= 0"), "\(neg.output)")
    }

    @Test func syntheticStripIsAPNGOfTheClips() throws {
        let out = "\(CLI.dir)/syn-strip.png"
        let r = try CLI.run(["synthetic", "--out", out, "--clips", "3", "--frames", "5", "--size", "16", "--channels", "rgb",
                             "--stills", Self.stills])
        #expect(r.status == 0, "\(r.output)")
        #expect(r.output.contains("wrote \(out) (88x52)") && r.output.contains("ms per frame"), "\(r.output)")
        let strip = try decodeVideo(path: out, height: nil, channels: 3).frames[0]
        // 16x16 frames with 2-pixel white gaps: the gaps are white, frames are not all white, and the
        // same command writes the same file.
        func pixel(_ x: Int, _ y: Int) -> [UInt8] { Array(strip[(y * 88 + x) * 3 ..< (y * 88 + x) * 3 + 3]) }
        #expect((0..<52).allSatisfy { pixel(16, $0) == [255, 255, 255] && pixel(17, $0) == [255, 255, 255] })
        #expect((0..<16).contains { pixel($0, 5) != [255, 255, 255] })
        let again = "\(CLI.dir)/syn-strip2.png"
        #expect(try CLI.run(["synthetic", "--out", again, "--clips", "3", "--frames", "5", "--size", "16", "--channels", "rgb",
                             "--stills", Self.stills]).status == 0)
        #expect(try Data(contentsOf: URL(fileURLWithPath: out)) == Data(contentsOf: URL(fileURLWithPath: again)))
        // Baselines: repeat and blend over the inner frames (3 of 5 per clip).
        let b = try CLI.run(["synthetic", "--out", again, "--clips", "1", "--frames", "5", "--size", "16", "--stills", Self.stills,
                             "--baselines", "4"])
        #expect(b.status == 0 && b.output.contains("2x interpolation over 12 targets of 4 clips: repeat "), "\(b.output)")
        let refused = try CLI.run(["synthetic", "--frames", "2", "--baselines", "4"])
        #expect(refused.status != 0 && refused.output.contains("--baselines needs"), "\(refused.output)")
    }
}
