// The `mcvd` executable end to end, run as a subprocess on small videos the tests make with
// gst-launch-1.0 (videotestsrc pattern=ball, 32x32, matroskamux): train (checkpoint, metrics, skipped bad
// files, argument errors), resume == uninterrupted (identical checkpoint bytes), Ctrl-C, sample (files,
// strip decodable through GStreamer), and the PNG writer against GStreamer's pngdec.
import Foundation
import Testing
import UNet
import VideoData

enum CLI {
    /// This run's scratch folder; folders of earlier runs whose process is gone are removed.
    static let dir: String = {
        let tmp = FileManager.default.temporaryDirectory
        for old in (try? FileManager.default.contentsOfDirectory(atPath: tmp.path)) ?? [] where old.hasPrefix("mcvd-cli-") {
            if let pid = Int32(old.dropFirst("mcvd-cli-".count)), kill(pid, 0) != 0 {
                try? FileManager.default.removeItem(atPath: tmp.appendingPathComponent(old).path)
            }
        }
        let d = tmp.appendingPathComponent("mcvd-cli-\(getpid())").path
        try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }()

    /// The built executable: next to the test bundle (.build/<triple>/debug/) or in .build/debug.
    static func executable() throws -> String {
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var candidates = [bundle.deletingLastPathComponent(), bundle.deletingLastPathComponent().deletingLastPathComponent()]
        if let i = CommandLine.arguments.firstIndex(where: { $0.hasSuffix(".xctest") }) {
            candidates.insert(URL(fileURLWithPath: CommandLine.arguments[i]).resolvingSymlinksInPath().deletingLastPathComponent(), at: 0)
        }
        for d in candidates {
            let p = d.appendingPathComponent("mcvd").path
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        throw CLIFailure(message: "mcvd not found next to the test bundle (\(candidates.map(\.path))): run `swift build` first")
    }

    struct Result { let status: Int32; let output: String }

    /// Runs `mcvd args` with the test's environment plus `env`; stdout and stderr together.
    static func run(_ args: [String], env: [String: String] = [:], interruptWhen: (() -> Bool)? = nil) throws -> Result {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try executable())
        p.arguments = args
        if !env.isEmpty { p.environment = ProcessInfo.processInfo.environment.merging(env) { $1 } }
        let log = "\(dir)/out-\(UUID().uuidString).txt"
        FileManager.default.createFile(atPath: log, contents: nil)
        let handle = FileHandle(forWritingAtPath: log)!
        p.standardOutput = handle
        p.standardError = handle
        try p.run()
        if let interruptWhen {
            let deadline = Date().addingTimeInterval(60)
            while !interruptWhen() && p.isRunning && Date() < deadline { usleep(20_000) }
            p.interrupt()
            // Never leave a runaway trainer behind: SIGKILL after 60 s more.
            let hard = Date().addingTimeInterval(60)
            while p.isRunning && Date() < hard { usleep(20_000) }
            if p.isRunning { kill(p.processIdentifier, SIGKILL) }
        }
        p.waitUntilExit()
        try handle.close()
        let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        try? FileManager.default.removeItem(atPath: log)
        return Result(status: p.terminationStatus, output: output)
    }

    /// A 32x32 ball video of `frames` frames (made once per name).
    static func video(_ name: String = "ball.mkv", frames: Int = 40) throws -> String {
        let path = "\(dir)/\(name)"
        if FileManager.default.fileExists(atPath: path) { return path }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["gst-launch-1.0", "-q", "videotestsrc", "num-buffers=\(frames)", "pattern=ball", "!",
                       "video/x-raw,width=32,height=32,framerate=10/1", "!", "matroskamux", "!", "filesink", "location=\(path)"]
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw CLIFailure(message: "gst-launch-1.0 failed making \(name)") }
        return path
    }

    /// A tiny model: 16x16 gray, 2 past + 1 + 1 future, ngf 8, two levels, no attention.
    static let tiny = ["--size", "16", "--ngf", "8", "--ch-mult", "1,2", "--attn", "none", "--batch", "2",
                       "--warmup", "2", "--dropout", "0.1", "--validate-every", "2", "--validation-clips", "4"]

    /// The JSON objects of a metrics file.
    static func metrics(_ path: String) throws -> [[String: Any]] {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map {
            try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any]
        }
    }
}

struct CLIFailure: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}

@Suite(.serialized) struct TrainCommandTests {
    @Test func trainsWritesCheckpointAndMetricsSkippingBadFiles() throws {
        let good = try CLI.video()
        let bad = "\(CLI.dir)/broken.mp4"
        try Data("not a video at all".utf8).write(to: URL(fileURLWithPath: bad))
        let ckpt = "\(CLI.dir)/t1.safetensors", m = "\(CLI.dir)/t1.jsonl"
        let r = try CLI.run(["train", good, bad, "\(CLI.dir)/missing.mkv"] + CLI.tiny
                            + ["--steps", "5", "--out", ckpt, "--metrics", m, "--log-every", "1"])
        #expect(r.status == 0, "\(r.output)")
        #expect(r.output.contains("skipped \(bad)"), "\(r.output)")
        #expect(r.output.contains("skipped \(CLI.dir)/missing.mkv"))
        #expect(r.output.contains("1 video(s), 2 skipped"))
        // Plain progress lines (stdout is not a TTY): one per step here, with rates and ETA.
        let lines = r.output.split(separator: "\n").filter { $0.hasPrefix("step ") }
        #expect(lines.count == 5 && lines.last!.hasPrefix("step 5/5 loss "), "\(lines)")
        #expect(lines.allSatisfy { $0.contains("steps/s") && $0.contains("samples/s") && $0.contains("ETA") })

        let rows = try CLI.metrics(m)
        #expect(rows.map { $0["step"] as? Int } == [1, 2, 3, 4, 5])
        #expect(rows.allSatisfy { ($0["loss"] as? Double).map { $0.isFinite && $0 > 0 } ?? false })
        // Validation every 2 steps and at the end, on fixed draws.
        #expect(rows.map { $0["val_loss"] != nil } == [false, true, false, true, true])

        let file = try SafeTensors(path: ckpt)
        #expect(file.metadata["step"] == "5" && file.metadata["format"] == "mcvd-1")
        let model = try UNet(file: file)
        #expect(model.config.imageSize == 16 && model.config.ngf == 8 && model.config.numFramesCond == 2)
    }

    /// --data-md adds the footage list's present videos (VideoData's FootageList): the same run as naming
    /// the video, step for step.
    @Test func trainsOnTheFootageList() throws {
        let video = try CLI.video()
        let md = "\(CLI.dir)/train-data.md"
        try "| test | \(CLI.dir)/ (ball.mkv, absent.ogv) |\n".write(toFile: md, atomically: true, encoding: .utf8)
        let ma = "\(CLI.dir)/md-a.jsonl", mb = "\(CLI.dir)/md-b.jsonl"
        var r = try CLI.run(["train", "--data-md", "--data-md-path", md] + CLI.tiny
                            + ["--steps", "3", "--out", "\(CLI.dir)/md-a.safetensors", "--metrics", ma])
        #expect(r.status == 0, "\(r.output)")
        #expect(r.output.contains("\(md): 2 videos listed, 1 present (missing: \(CLI.dir)/absent.ogv)"), "\(r.output)")
        #expect(r.output.contains("data: 1 video(s), 0 skipped"), "\(r.output)")
        r = try CLI.run(["train", video] + CLI.tiny + ["--steps", "3", "--out", "\(CLI.dir)/md-b.safetensors", "--metrics", mb])
        #expect(r.status == 0, "\(r.output)")
        let a = try CLI.metrics(ma), b = try CLI.metrics(mb)
        #expect(a.count == 3 && a.map { $0["loss"] as? Double } == b.map { $0["loss"] as? Double })
        // A video named and listed is used once.
        r = try CLI.run(["train", video, "--data-md", "--data-md-path", md] + CLI.tiny + ["--steps", "1", "--out", "\(CLI.dir)/md-c.safetensors"])
        #expect(r.status == 0 && r.output.contains("data: 1 video(s)"), "\(r.output)")
        r = try CLI.run(["train"] + CLI.tiny)
        #expect(r.status != 0 && r.output.contains("or --data-md"), "\(r.output)")
        r = try CLI.run(["train", video, "--data-md-path", md] + CLI.tiny)
        #expect(r.status != 0 && r.output.contains("--data-md-path applies to --data-md"), "\(r.output)")
        r = try CLI.run(["train", "--data-md", "--data-md-path", "/nonexistent/data.md"] + CLI.tiny)
        #expect(r.status != 0 && r.output.contains("none of /nonexistent/data.md is readable"), "\(r.output)")
    }

    @Test func resumeContinuesExactly() throws {
        let video = try CLI.video()
        let a = "\(CLI.dir)/straight.safetensors", b = "\(CLI.dir)/split.safetensors"
        let ma = "\(CLI.dir)/straight.jsonl", mb = "\(CLI.dir)/split.jsonl"
        var r = try CLI.run(["train", video] + CLI.tiny + ["--steps", "4", "--out", a, "--metrics", ma])
        #expect(r.status == 0, "\(r.output)")
        r = try CLI.run(["train", video] + CLI.tiny + ["--steps", "2", "--out", b, "--metrics", mb])
        #expect(r.status == 0, "\(r.output)")
        r = try CLI.run(["train", video, "--resume", b, "--steps", "4", "--metrics", mb])
        #expect(r.status == 0 && r.output.contains("resuming \(b) at step 2 of 4"), "\(r.output)")
        let rowsA = try CLI.metrics(ma), rowsB = try CLI.metrics(mb)
        #expect(rowsB.map { $0["step"] as? Int } == [1, 2, 3, 4])
        #expect(rowsA.map { $0["loss"] as? Double } == rowsB.map { $0["loss"] as? Double })
        let bytesA = try Data(contentsOf: URL(fileURLWithPath: a)), bytesB = try Data(contentsOf: URL(fileURLWithPath: b))
        #expect(bytesA == bytesB, "resumed checkpoint differs from the uninterrupted one")
    }

    @Test func badArgumentsAreRefused() throws {
        let video = try CLI.video()
        let cases: [([String], String)] = [
            (["train"], "at least one video"),
            (["train", video, "--size", "16", "--crop", "24"], "crop 24 must be <= size 16"),
            (["train", video, "--size", "18", "--ch-mult", "1,2,2"], "multiple of 2^(levels-1) = 4"),
            (["train", video, "--threads", "0"], "--threads must be >= 1"),
            (["train", video, "--p-mask-past", "1.5"], "mask probabilities"),
            (["train", video, "--parameterization", "x"], "parameterization"),
            (["train", video, "--resume", "\(CLI.dir)/nothing.safetensors"], "no file"),
        ]
        for (args, message) in cases {
            let r = try CLI.run(args)
            #expect(r.status != 0 && r.output.contains(message), "\(args): \(r.output)")
        }
        // A resumed run takes its settings from the checkpoint.
        let ckpt = "\(CLI.dir)/args.safetensors"
        #expect(try CLI.run(["train", video] + CLI.tiny + ["--steps", "1", "--out", ckpt]).status == 0)
        let r = try CLI.run(["train", video, "--resume", ckpt, "--ngf", "16"])
        #expect(r.status != 0 && r.output.contains("drop --ngf"), "\(r.output)")
        // A config file with a typo.
        let config = "\(CLI.dir)/bad-config.json"
        try Data(#"{"model": {"ngf": 8, "ch_mul": [1, 2]}}"#.utf8).write(to: URL(fileURLWithPath: config))
        let rc = try CLI.run(["train", video, "--config", config])
        #expect(rc.status != 0 && rc.output.contains("unknown field model.ch_mul"), "\(rc.output)")
    }

    @Test func configFileSetsTheModel() throws {
        let video = try CLI.video()
        let config = "\(CLI.dir)/config.json", ckpt = "\(CLI.dir)/config.safetensors"
        try Data("""
            {"model": {"ngf": 16, "ch_mult": [1, 2], "num_res_blocks": 1, "attn_resolutions": [8], "ema_rate": 0.99},
             "data": {"image_size": 16, "channels": 3, "num_frames": 2, "num_frames_cond": 1, "num_frames_future": 0, "crop": 8,
                      "condition_stride": 3},
             "diffusion": {"parameterization": "eps", "residual": false},
             "training": {"batch_size": 2, "n_iters": 2}, "optim": {"lr": 0.001, "warmup": 0}}
            """.utf8).write(to: URL(fileURLWithPath: config))
        let r = try CLI.run(["train", video, "--config", config, "--out", ckpt, "--batch", "3"])
        #expect(r.status == 0, "\(r.output)")
        #expect(r.output.contains("crop=8") && r.output.contains("batch=3") && r.output.contains("eps"), "\(r.output)")
        #expect(r.output.contains("stride=3"), "\(r.output)")
        let file = try SafeTensors(path: ckpt)
        let c = try UNet(file: file).config
        #expect(c.ngf == 16 && c.channels == 3 && c.numFrames == 2 && c.numFramesCond == 1 && c.attnResolutions == [8])
        #expect(file.metadata["step"] == "2")
        let saved = try JSONSerialization.jsonObject(with: Data((file.metadata["mcvd.config"] ?? "").utf8)) as? [String: Any]
        #expect((saved?["data"] as? [String: Any])?["condition_stride"] as? Int == 3, "\(file.metadata["mcvd.config"] ?? "")")
    }

    @Test func interruptSavesAndExits() throws {
        let video = try CLI.video()
        let ckpt = "\(CLI.dir)/int.safetensors", m = "\(CLI.dir)/int.jsonl"
        let r = try CLI.run(["train", video] + CLI.tiny + ["--steps", "1000000", "--out", ckpt, "--metrics", m]) {
            ((try? String(contentsOfFile: m, encoding: .utf8))?.split(separator: "\n").count ?? 0) >= 3
        }
        #expect(r.status == 0, "\(r.output)")
        #expect(r.output.contains("interrupted: checkpoint at step"), "\(r.output)")
        let rows = try CLI.metrics(m)
        let file = try SafeTensors(path: ckpt)
        #expect(rows.count >= 3 && file.metadata["step"] == "\(rows.count)")
    }
}

@Suite(.serialized) struct SampleCommandTests {
    /// A checkpoint of the tiny model (trained for 3 steps).
    static func model() throws -> String {
        let path = "\(CLI.dir)/sample-model.safetensors"
        if !FileManager.default.fileExists(atPath: path) {
            let r = try CLI.run(["train", try CLI.video()] + CLI.tiny + ["--steps", "3", "--out", path])
            guard r.status == 0 else { throw CLIFailure(message: r.output) }
        }
        return path
    }

    @Test func exportKeepsTheModelWithoutTrainingState() throws {
        let checkpoint = try Self.model()
        let f32 = "\(CLI.dir)/export-f32.safetensors", f16 = "\(CLI.dir)/export-f16.safetensors"
        var r = try CLI.run(["export", checkpoint, "--out", f32])
        #expect(r.status == 0 && r.output.contains("exported"), "\(r.output)")
        r = try CLI.run(["export", checkpoint, "--out", f16, "--dtype", "f16"])
        #expect(r.status == 0, "\(r.output)")
        let source = try SafeTensors(path: checkpoint), a = try SafeTensors(path: f32), b = try SafeTensors(path: f16)
        #expect(a.names.allSatisfy { $0.hasPrefix("unet.") } && a.names == source.names.filter { $0.hasPrefix("unet.") })
        #expect(!a.metadata.keys.contains { $0.hasPrefix("train.") } && a.metadata["mcvd.config"] == source.metadata["mcvd.config"])
        #expect(a.metadata["weights"] == source.metadata["weights"] && a.metadata["step"] == source.metadata["step"])
        func size(_ p: String) -> Int { (try? FileManager.default.attributesOfItem(atPath: p)[.size] as? Int) ?? 0 }
        #expect(size(f32) * 3 < size(checkpoint) && size(f16) * 19 < size(f32) * 10, "\(size(checkpoint)) \(size(f32)) \(size(f16))")
        // The same network: identical outputs from the F32 export; the F16 export's weights are the
        // checkpoint's rounded to half precision (relative error <= 2^-11, or 2^-25 absolute near zero).
        let nets = try [checkpoint, f32].map { try UNet(path: $0) }
        let c = nets[0].config, h = c.imageSize, w = c.imageSize
        let x = (0..<(c.outputChannels * h * w)).map { Float(sin(Double($0))) }
        let cond = (0..<(c.condChannels * h * w)).map { Float(cos(Double($0) * 0.7)) }
        let outs = nets.map { $0.forward(x: x, t: [0.5], cond: cond, n: 1, h: h, w: w) }
        #expect(outs[1] == outs[0])
        for name in b.names {
            let want = try source.floats(name), got = try b.floats(name)
            let bad = zip(got, want).first { abs($0 - $1) > max(abs($1) * 0x1p-11, 0x1p-25) }
            #expect(bad == nil, "\(name): \(String(describing: bad))")
        }
        _ = try UNet(path: f16)
        // Not a model file: a clear error.
        r = try CLI.run(["export", try CLI.video(), "--out", "\(CLI.dir)/nothing.safetensors"])
        #expect(r.status != 0 && r.output.contains("header length"), "\(r.output)")
        #expect(!FileManager.default.fileExists(atPath: "\(CLI.dir)/nothing.safetensors"))
    }

    /// `export --keep-training` writes a small F16 model that `train --resume` continues (fresh optimiser
    /// moments, the step and settings from the file); without the flag the export is refused for resume.
    @Test func exportKeepingTrainingResumes() throws {
        let checkpoint = try Self.model()
        let light = "\(CLI.dir)/export-light.safetensors", plain = "\(CLI.dir)/export-plain.safetensors"
        let next = "\(CLI.dir)/export-light-next.safetensors"
        var r = try CLI.run(["export", checkpoint, "--out", light, "--dtype", "f16", "--keep-training"])
        #expect(r.status == 0, "\(r.output)")
        r = try CLI.run(["export", checkpoint, "--out", plain, "--dtype", "f16"])
        #expect(r.status == 0, "\(r.output)")
        let file = try SafeTensors(path: light)
        #expect(file.names.allSatisfy { $0.hasPrefix("unet.") } && file.metadata["train.options"] != nil)
        #expect(file.metadata["step"] == "3")
        r = try CLI.run(["train", try CLI.video(), "--resume", light, "--steps", "5", "--out", next])
        #expect(r.status == 0 && r.output.contains("resuming") && r.output.contains("optimiser moments start afresh"), "\(r.output)")
        #expect(try SafeTensors(path: next).metadata["step"] == "5")
        r = try CLI.run(["train", try CLI.video(), "--resume", plain, "--steps", "5", "--out", next])
        #expect(r.status != 0 && r.output.contains("not written by `mcvd train`"), "\(r.output)")
    }

    /// `train --resume --lr` continues at a new peak rate (stored in the checkpoint's options and settings);
    /// other setting flags are still refused, and a rate <= 0 is an error.
    @Test func resumeWithANewLearningRate() throws {
        let checkpoint = try Self.model(), next = "\(CLI.dir)/resume-lr.safetensors"
        var r = try CLI.run(["train", try CLI.video(), "--resume", checkpoint, "--steps", "4", "--lr", "5e-5", "--out", next])
        #expect(r.status == 0 && r.output.contains("with learning rate 5e-05"), "\(r.output)")
        let file = try SafeTensors(path: next)
        #expect(file.metadata["step"] == "4")
        #expect(file.metadata["train.options"]?.contains("\"lr\":5.0000000000000002e-05") == true
                || file.metadata["train.options"]?.contains("\"lr\":5e-05") == true, "\(file.metadata["train.options"] ?? "")")
        #expect(file.metadata["mcvd.train.settings"]?.contains("\"lr\":5") == true)
        r = try CLI.run(["train", try CLI.video(), "--resume", checkpoint, "--steps", "4", "--lr", "0", "--out", next])
        #expect(r.status != 0 && r.output.contains("--lr must be > 0"), "\(r.output)")
        r = try CLI.run(["train", try CLI.video(), "--resume", checkpoint, "--steps", "4", "--dropout", "0.2", "--out", next])
        #expect(r.status != 0 && r.output.contains("drop --dropout"), "\(r.output)")
    }

    /// `train --resume --crop --batch` changes the draws, not the model: the run continues with the new crop
    /// and batch (stored in the settings), and a crop the size does not allow is refused.
    @Test func resumeWithANewCropAndBatch() throws {
        let checkpoint = try Self.model(), next = "\(CLI.dir)/resume-crop.safetensors"
        var r = try CLI.run(["train", try CLI.video(), "--resume", checkpoint, "--steps", "5", "--crop", "8", "--batch", "3", "--out", next])
        #expect(r.status == 0 && r.output.contains("crop=8"), "\(r.output)")
        let settings = try #require(try SafeTensors(path: next).metadata["mcvd.train.settings"])
        #expect(settings.contains("\"crop\":8") && settings.contains("\"batch\":3"), "\(settings)")
        #expect(try SafeTensors(path: next).metadata["step"] == "5")
        r = try CLI.run(["train", try CLI.video(), "--resume", checkpoint, "--steps", "5", "--crop", "32", "--out", next])
        #expect(r.status != 0 && r.output.contains("crop 32 must be <= size 16"), "\(r.output)")
    }

    /// `--time-reverse` is recorded (and may be turned on at a resume) and needs k = f: the default layout
    /// (k = 2, f = 1) is refused with the reason.
    @Test func timeReverseNeedsASymmetricLayout() throws {
        let out = "\(CLI.dir)/reversal.safetensors"
        var r = try CLI.run(["train", try CLI.video()] + CLI.tiny + ["--steps", "2", "--time-reverse", "--out", out])
        #expect(r.status != 0 && r.output.contains("time_reverse needs as many past as future frames"), "\(r.output)")
        r = try CLI.run(["train", try CLI.video()] + CLI.tiny + ["--past", "1", "--future", "1", "--steps", "2", "--time-reverse", "--out", out])
        #expect(r.status == 0 && r.output.contains("time-reverse"), "\(r.output)")
        #expect(try SafeTensors(path: out).metadata["mcvd.train.settings"]?.contains("\"timeReverse\":true") == true)
        r = try CLI.run(["train", try CLI.video(), "--resume", out, "--steps", "4", "--no-time-reverse", "--out", out])
        #expect(r.status == 0 && !r.output.contains(" time-reverse"), "\(r.output)")
        #expect(try SafeTensors(path: out).metadata["mcvd.train.settings"]?.contains("\"timeReverse\":false") == true)
    }

    static func pngs(_ dir: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".png") }.sorted()
    }

    @Test func interpolatesAVideoAndWritesAStrip() throws {
        let out = "\(CLI.dir)/interp"
        let r = try CLI.run(["sample", try Self.model(), try CLI.video(), "--task", "interpolate", "--count", "5",
                             "--out", out, "--strip-scale", "2"])
        #expect(r.status == 0, "\(r.output)")
        // k = 2, f = 1: gaps after frames 1, 2, 3 of 5 -> 5 given + 3 generated frames, and the strip.
        let files = try Self.pngs(out)
        #expect(files == (0..<8).map { String(format: "%04d.png", $0) } + ["strip.png"], "\(files)")
        // Given frames go through PNG unchanged: decoding 0000.png gives the video's first frame.
        let frame = try decodeVideo(path: "\(out)/0000.png", height: 16, channels: 1)
        let source = try decodeVideo(path: try CLI.video(), height: 16, channels: 1, maxFrames: 1)
        #expect(frame.width == 16 && frame.frames.count == 1 && frame.frames[0] == source.frames[0])
        // Strip: 8 cells of 32 px, 2 px apart; 32 + 2 + 4 rows.
        let strip = try decodeVideo(path: "\(out)/strip.png", height: 38, channels: 3)
        #expect(strip.width == 8 * 32 + 7 * 2 && strip.height == 38)
        // The bar under frame 2 (generated) is orange, under frame 0 (given) grey.
        let row = 36 * strip.width * 3
        let given = Array(strip.frames[0][row ..< row + 3]), made = Array(strip.frames[0][row + 2 * 34 * 3 ..< row + 2 * 34 * 3 + 3])
        #expect(given == [96, 96, 96] && made == [255, 140, 0], "bars \(given) \(made)")
    }

    @Test func predictsFromPNGFramesAutoregressively() throws {
        let frames = "\(CLI.dir)/interp"
        if !FileManager.default.fileExists(atPath: "\(frames)/0000.png") { try interpolatesAVideoAndWritesAStrip() }
        let out = "\(CLI.dir)/predict"
        // 8 given PNGs (strip.png left out); 3 new frames with a one-frame model = 3 blocks.
        let r = try CLI.run(["sample", try Self.model(), frames, "--task", "predict", "--frames", "3", "--out", out,
                             "--steps", "2", "--seed", "5"])
        #expect(r.status == 0 && r.output.contains("11 frames (8 given, 3 generated)"), "\(r.output)")
        #expect(try Self.pngs(out).count == 12)
        let g = try CLI.run(["sample", try Self.model(), "--task", "generate", "--frames", "2", "--out", "\(CLI.dir)/gen"])
        let generated = try Self.pngs("\(CLI.dir)/gen")
        #expect(g.status == 0 && generated.count == 3, "\(g.output)")
        let bad = try CLI.run(["sample", try Self.model(), "\(frames)/0000.png", "--task", "interpolate", "--out", "\(CLI.dir)/x"])
        #expect(bad.status != 0 && bad.output.contains("needs at least 3 frames"), "\(bad.output)")
    }
}

@Suite struct PNGTests {
    /// Random images (the RGB one needs two stored deflate blocks) decode through GStreamer's pngdec
    /// to the same bytes.
    @Test(arguments: [1, 3])
    func roundTripsThroughPngdec(channels: Int) throws {
        let w = 160, h = 150
        var s: UInt64 = 12345
        let pixels = (0..<(w * h * channels)).map { _ -> UInt8 in s = s &* 6364136223846793005 &+ 1; return UInt8(s >> 56) }
        let path = "\(CLI.dir)/rt\(channels).png"
        try PNG.write(path: path, width: w, height: h, channels: channels, pixels: pixels)
        let v = try decodeVideo(path: path, height: h, channels: channels)
        #expect(v.width == w && v.frames.count == 1)
        #expect(v.frames.first == pixels)
    }
}
