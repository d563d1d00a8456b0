// The pipelines/ scripts run as a user runs them, on files each test makes with gst-launch-1.0
// (videotestsrc, audiotestsrc, x264enc, avenc_aac, vorbisenc, avenc_ffv1), against the built libgstmcvd.so
// (MCVD_PLUGIN_DIR, so the scripts build nothing). Checked with ffprobe: streams, sizes, rates, frame
// counts, durations; inputs are compared byte for byte before and after.
import CGStreamer
import Foundation
import Testing

@Suite struct ScriptTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    let scripts = ScriptTests.root.appendingPathComponent("pipelines")
    let dir: URL

    init() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("mcvd-scripts-\(getpid())-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    func path(_ name: String) -> String { dir.appendingPathComponent(name).path }

    func pluginDir() throws -> String {
        let exe = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        for d in [exe.deletingLastPathComponent(), exe.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("debug")]
        where FileManager.default.fileExists(atPath: d.appendingPathComponent("libgstmcvd.so").path) {
            return d.path
        }
        throw PipelineError(message: "libgstmcvd.so not found next to the test bundle: run `swift build` before `swift test`")
    }

    /// Runs a command in the test's folder; a GST_PLUGIN_PATH pointing elsewhere is set on purpose (the
    /// scripts must put the plugin first, not trust it).
    @discardableResult
    func run(_ args: [String], env extra: [String: String] = [:]) throws -> (status: Int32, out: String) {
        var env = ["MCVD_PLUGIN_DIR": try pluginDir(), "GST_PLUGIN_PATH": "/nonexistent/a:/nonexistent/b",
                   "GST_REGISTRY": path("registry.bin"), "GST_REGISTRY_FORK": "no"]
        for (k, v) in extra { env[k] = v }
        let (status, out) = try runTool(args, env: env, in: dir)
        return (status, out)
    }

    func script(_ name: String, _ args: [String], env: [String: String] = [:]) throws -> (status: Int32, out: String) {
        try run(["bash", scripts.appendingPathComponent(name).path] + args, env: env)
    }

    func launch(_ description: String) throws {
        let r = try run(["gst-launch-1.0", "-q"] + description.split(separator: " ").map(String.init))
        #expect(r.status == 0, "\(r.out)")
    }

    /// 1 s of 64x48 video at 30 fps; with 1 s of AAC (mp4) or Vorbis (mkv) audio when `audio`.
    func makeClip(_ name: String, audio: String? = nil, frames: Int = 30, extra: String = "") throws {
        let video = "videotestsrc num-buffers=\(frames) pattern=ball ! video/x-raw,width=64,height=48,framerate=30/1 ! x264enc"
        let mux = name.hasSuffix(".mp4") ? "mp4mux \(extra)" : "matroskamux"
        var d = "\(video) ! \(mux) name=m ! filesink location=\(path(name))"
        if let audio {
            d += " audiotestsrc num-buffers=10 samplesperbuffer=4410 ! audio/x-raw,rate=44100 ! audioconvert ! \(audio) ! m."
        }
        try launch(d)
    }

    /// ffprobe stream fields of the first stream of a kind ("v" or "a"): [field: value].
    func probe(_ file: String, _ kind: String, _ fields: String = "codec_name,width,height,r_frame_rate,duration,nb_frames") throws -> [String: String] {
        let r = try run(["ffprobe", "-v", "error", "-select_streams", "\(kind):0", "-show_entries", "stream=\(fields)",
                         "-of", "default=nw=1", file])
        var out: [String: String] = [:]
        for line in r.out.split(separator: "\n") {
            let kv = line.split(separator: "=", maxSplits: 1).map(String.init)
            if kv.count == 2 { out[kv[0]] = kv[1] }
        }
        return out
    }

    func bytes(_ name: String) -> Data? { FileManager.default.contents(atPath: path(name)) }

    // MARK: item 1: never lose or overwrite an input

    @Test func sameFileIsRefusedAlsoThroughLinks() throws {
        try makeClip("a.mp4")
        let before = bytes("a.mp4")
        try FileManager.default.createSymbolicLink(atPath: path("link.mp4"), withDestinationPath: "a.mp4")
        try FileManager.default.linkItem(atPath: path("a.mp4"), toPath: path("hard.mp4"))
        for (i, o) in [("a.mp4", "a.mp4"), ("a.mp4", "link.mp4"), ("link.mp4", "./a.mp4"), ("a.mp4", "hard.mp4")] {
            let r = try script("interpolate-file.sh", [i, o])
            #expect(r.status == 1 && r.out.contains("is the input file itself"), "\(i) -> \(o): \(r.out)")
        }
        #expect(bytes("a.mp4") == before)
    }

    @Test func failedRunLeavesNoFileAndKeepsAnExistingOutput() throws {
        try "not a video\n".write(toFile: path("bad.mp4"), atomically: true, encoding: .utf8)
        try "previous result\n".write(toFile: path("out.mp4"), atomically: true, encoding: .utf8)
        let r = try script("interpolate-file.sh", ["bad.mp4", "out.mp4"])
        #expect(r.status == 1, "\(r.out)")
        #expect(String(decoding: bytes("out.mp4") ?? Data(), as: UTF8.self) == "previous result\n")
        let r2 = try script("interpolate-file.sh", ["bad.mp4", "new.mp4"])
        #expect(r2.status == 1)
        let left = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0 != "registry.bin" }.sorted()
        #expect(left == ["bad.mp4", "out.mp4"])
    }

    /// Batch into its own input folder, with clip.mov and clip.mp4: both inputs untouched, two outputs
    /// with distinct names, each with twice the frames and the input's audio (AAC copied, Vorbis as AAC).
    @Test func batchIntoTheInputFolderWithSameStems() throws {
        try makeClip("clip.mp4", audio: "avenc_aac")
        try makeClip("clip.mkv", audio: "vorbisenc")
        try FileManager.default.moveItem(atPath: path("clip.mkv"), toPath: path("clip.mov"))
        let mp4 = bytes("clip.mp4"), mov = bytes("clip.mov")
        let r = try script("batch-transcode.sh", [".", "."])
        #expect(r.status == 0, "\(r.out)")
        #expect(r.out.contains("done: 2 of 2 converted"), "\(r.out)")
        #expect(bytes("clip.mp4") == mp4 && bytes("clip.mov") == mov)
        for out in ["clip.mov.mp4", "clip.mp4.mp4"] {
            let v = try probe(path(out), "v")
            #expect(v["nb_frames"] == "60", "\(out)")
            let a = try probe(path(out), "a")
            #expect(a["codec_name"] == "aac" && abs((Double(a["duration"] ?? "") ?? 0) - 1.0) < 0.05, "\(out): \(a)")
        }
    }

    /// demo.sh on a clip with audio (its IN OUT form): twice the frames, the audio copied.
    @Test func demoKeepsAudio() throws {
        try makeClip("talk.mp4", audio: "avenc_aac")
        let r = try script("demo.sh", [path("talk.mp4"), path("talk-2x.mp4")])
        #expect(r.status == 0 && r.out.contains("wrote"), "\(r.out)")
        let v = try probe(path("talk-2x.mp4"), "v"), a = try probe(path("talk-2x.mp4"), "a")
        #expect(v["nb_frames"] == "60", "\(v)")
        #expect(a["codec_name"] == "aac" && abs((Double(a["duration"] ?? "") ?? 0) - 1.0) < 0.05, "\(a)")
    }

    // MARK: item 2: audio kept

    /// AAC is copied packet for packet; Vorbis (mp4 does not take it) is encoded to AAC; same duration.
    @Test func audioIsKept() throws {
        try makeClip("aac.mp4", audio: "avenc_aac")
        try makeClip("vorbis.mkv", audio: "vorbisenc")
        #expect(try script("interpolate-file.sh", ["aac.mp4", "aac-2x.mp4"]).status == 0)
        #expect(try script("interpolate-file.sh", ["vorbis.mkv", "vorbis-2x.mp4"]).status == 0)
        let packets = { (f: String) in try self.run(["ffprobe", "-v", "error", "-select_streams", "a:0", "-show_entries",
                                                     "packet=size,pts", "-of", "csv=p=0", self.path(f)]).out }
        let copied = try packets("aac-2x.mp4")
        let original = try packets("aac.mp4")
        #expect(!copied.isEmpty && copied == original)
        let a = try probe(path("vorbis-2x.mp4"), "a")
        #expect(a["codec_name"] == "aac")
        #expect(abs((Double(a["duration"] ?? "") ?? 0) - 1.0) < 0.05, "\(a)")
        let v = try probe(path("vorbis-2x.mp4"), "v")
        #expect(v["nb_frames"] == "60" && v["duration"] == "1.000000", "\(v)")
    }

    /// Video starting 0.5 s after the audio (common after cutting): the new video starts 0.5 s in too.
    @Test func audioStaysInSyncWhenVideoStartsLate() throws {
        try launch("videotestsrc num-buffers=30 timestamp-offset=500000000 ! video/x-raw,width=64,height=48,framerate=30/1 ! x264enc ! mp4mux name=m ! filesink location=\(path("late.mp4")) audiotestsrc num-buffers=20 samplesperbuffer=4410 ! audio/x-raw,rate=44100 ! avenc_aac ! m.")
        let r = try script("interpolate-file.sh", ["late.mp4", "late-2x.mp4"])
        #expect(r.status == 0, "\(r.out)")
        let start = { (f: String, k: String) in Double(try self.probe(self.path(f), k, "start_time")["start_time"] ?? "") ?? -1 }
        let inOffset = try start("late.mp4", "v") - start("late.mp4", "a")
        let outOffset = try start("late-2x.mp4", "v") - start("late-2x.mp4", "a")
        #expect(abs(inOffset - 0.5) < 0.01)
        #expect(abs(outOffset - inOffset) < 0.01, "video - audio start: \(inOffset) s in, \(outOffset) s out")
    }

    // MARK: items 5, 6, 11, 12 (scripts)

    /// 321x241 (FFV1, 4:2:0): padded to 322x242 for x264, every frame kept.
    @Test func oddSizeIsPaddedToEven() throws {
        try launch("videotestsrc num-buffers=10 ! video/x-raw,format=I420,width=321,height=241,framerate=10/1 ! avenc_ffv1 ! matroskamux ! filesink location=\(path("odd.mkv"))")
        let r = try script("interpolate-file.sh", ["odd.mkv", "odd.mp4"])
        #expect(r.status == 0, "\(r.out)")
        let v = try probe(path("odd.mp4"), "v")
        #expect(v["width"] == "322" && v["height"] == "242" && v["nb_frames"] == "20", "\(v)")
    }

    /// MODEL= runs method=diffusion (the tiny-concat fixture, random weights) at a processing size below
    /// the clip's 48 rows: twice the frames; bad MODEL / STEPS values and a diffusion setting for another
    /// method are errors before anything runs.
    @Test func diffusionWithAModel() throws {
        try makeClip("d.mp4")
        let r = try script("interpolate-file.sh", ["d.mp4", "d-2x.mp4"], env: ["MODEL": tinyConcat, "STEPS": "1", "PROCESSING_SIZE": "32"])
        #expect(r.status == 0, "\(r.out)")
        let v = try probe(path("d-2x.mp4"), "v")
        #expect(v["nb_frames"] == "60" && v["width"] == "64" && v["height"] == "48", "\(v)")
        let missing = try script("interpolate-file.sh", ["d.mp4", "x.mp4"], env: ["MODEL": "/nonexistent.safetensors"])
        #expect(missing.status == 1 && missing.out.contains("no such file"), "\(missing.out)")
        let steps = try script("interpolate-file.sh", ["d.mp4", "x.mp4"], env: ["MODEL": tinyConcat, "STEPS": "two"])
        #expect(steps.status == 1 && steps.out.contains("whole number"), "\(steps.out)")
        let other = try script("interpolate-file.sh", ["d.mp4", "x.mp4"], env: ["METHOD": "blend", "STEPS": "2"])
        #expect(other.status == 1 && other.out.contains("METHOD=diffusion"), "\(other.out)")
        #expect(!FileManager.default.fileExists(atPath: path("x.mp4")))
    }

    /// A faststart mp4 cut in half declares 3 s but holds about 1.5: reported (status 3), batch says SHORT.
    @Test func truncatedInputIsReported() throws {
        try makeClip("full.mp4", frames: 90, extra: "faststart=true")
        let full = bytes("full.mp4")!
        try full.prefix(full.count / 2).write(to: dir.appendingPathComponent("cut.mp4"))
        let r = try script("interpolate-file.sh", ["cut.mp4", "cut-2x.mp4"])
        #expect(r.status == 3 && r.out.contains("truncated"), "\(r.out)")
        try FileManager.default.createDirectory(atPath: path("in"), withIntermediateDirectories: true)
        try FileManager.default.moveItem(atPath: path("cut.mp4"), toPath: path("in/cut.mp4"))
        let b = try script("batch-transcode.sh", ["in", "out"])
        #expect(b.status == 1 && b.out.contains("SHORT") && !b.out.contains(" ok "), "\(b.out)")
    }

    /// Matroska from GStreamer declares no video duration and 2 s of audio: the 1 s video is not "short".
    @Test func longerAudioIsNotAShortfall() throws {
        try launch("videotestsrc num-buffers=30 ! video/x-raw,width=64,height=48,framerate=30/1 ! x264enc ! matroskamux name=m ! filesink location=\(path("long.mkv")) audiotestsrc num-buffers=20 samplesperbuffer=4410 ! audio/x-raw,rate=44100 ! audioconvert ! vorbisenc ! m.")
        let r = try script("interpolate-file.sh", ["long.mkv", "long.mp4"])
        #expect(r.status == 0, "\(r.out)")
        let a = try probe(path("long.mp4"), "a")
        #expect(abs((Double(a["duration"] ?? "") ?? 0) - 2.0) < 0.05, "\(a)")
    }

    @Test func rateForms() throws {
        try makeClip("r.mp4")
        for (rate, want) in [("60", "60/1"), ("29.97", "30000/1001")] {
            let r = try script("interpolate-file.sh", ["r.mp4", "r-\(rate).mp4", rate])
            #expect(r.status == 0, "\(r.out)")
            let v = try probe(path("r-\(rate).mp4"), "v")
            #expect(v["r_frame_rate"] == want)
        }
        let common = scripts.appendingPathComponent("common.sh").path
        for (rate, want) in [("60", "60/1"), ("29.97", "30000/1001"), ("59.94", "60000/1001"), ("12.5", "25/2"),
                             ("60000/1001", "60000/1001"), ("0.5", "1/2")] {
            let r = try run(["bash", "-c", "source \(common); mcvd_rate \(rate)"])
            #expect(r.out == want + "\n", "\(rate)")
        }
        for bad in ["abc", "0", "60/0", "-5"] {
            let r = try run(["bash", "-c", "source \(common); mcvd_rate \(bad)"])
            #expect(r.status == 1 && r.out.contains("bad RATE"), "\(bad): \(r.out)")
        }
    }

    /// Variable-rate input (caps framerate=0/1, as GStreamer reads many mkv/webm files): without RATE there
    /// is no "input rate x 2", so the script asks for RATE; with it, the output has that rate and duration.
    @Test func variableRateInputTakesRate() throws {
        try launch("videotestsrc num-buffers=30 pattern=ball ! video/x-raw,format=I420,width=64,height=48,framerate=30/1 ! capssetter join=true caps=video/x-raw,framerate=(fraction)0/1 ! vp8enc ! webmmux ! filesink location=\(path("vfr.webm"))")
        let caps = try run(["gst-launch-1.0", "-v", "filesrc", "location=\(path("vfr.webm"))", "!", "decodebin", "!", "fakesink"])
        #expect(caps.out.contains("framerate=(fraction)0/1"), "the made file is not variable-rate: \(caps.out)")
        let r = try script("interpolate-file.sh", ["vfr.webm", "vfr.mp4"])
        #expect(r.status == 1 && r.out.contains("variable frame rate: give the output RATE") && r.out.split(separator: "\n").count == 1, "\(r.out)")
        #expect(!FileManager.default.fileExists(atPath: path("vfr.mp4")))
        let r60 = try script("interpolate-file.sh", ["vfr.webm", "vfr.mp4", "60"])
        #expect(r60.status == 0, "\(r60.out)")
        let v = try probe(path("vfr.mp4"), "v")
        #expect(v["r_frame_rate"] == "60/1" && v["nb_frames"] == "60" && v["duration"] == "1.000000", "\(v)")
    }

    @Test func audioOnlyInputSaysNoVideoStream() throws {
        try launch("audiotestsrc num-buffers=10 ! avenc_aac ! mp4mux ! filesink location=\(path("audio.mp4"))")
        let r = try script("interpolate-file.sh", ["audio.mp4", "x.mp4"])
        #expect(r.status == 1 && r.out.contains("no video stream"), "\(r.out)")
        try FileManager.default.createDirectory(atPath: path("in"), withIntermediateDirectories: true)
        try FileManager.default.moveItem(atPath: path("audio.mp4"), toPath: path("in/audio.mp4"))
        let b = try script("batch-transcode.sh", ["in", "out"])
        #expect(b.status == 1)
        #expect(b.out.components(separatedBy: "no video stream").count == 2, "printed once: \(b.out)")
    }

    /// VP9 in AVI (balle1-vp9.avi in DATA.md): avidemux has no mapping for it; say so, once, with a way out.
    @Test func undecodableCodecIsNamed() throws {
        let r0 = try run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=30", "-t", "1",
                          "-c:v", "libvpx-vp9", path("vp9.avi")])
        #expect(r0.status == 0, "\(r0.out)")
        let r = try script("interpolate-file.sh", ["vp9.avi", "vp9.mp4"])
        #expect(r.status == 1 && r.out.contains("no decoder for its video codec (vp9"), "\(r.out)")
        #expect(r.out.split(separator: "\n").count == 1, "\(r.out)")
    }

    @Test func liveTakesDecimalSeconds() throws {
        let r = try script("live.sh", ["0.5"], env: ["SINK": "fakesink sync=true", "RATE": "59.94"])
        #expect(r.status == 0 && r.out.contains("Got EOS"), "\(r.out)")
        let bad = try script("live.sh", ["soon"], env: ["SINK": "fakesink"])
        #expect(bad.status == 1 && bad.out.contains("bad SECONDS"), "\(bad.out)")
    }

    // MARK: issue 9: extend-clip.sh, live-predict.sh

    /// Per-frame MD5s of a file's first video stream as ffmpeg decodes it (I420), in order.
    func frameHashes(_ file: String) throws -> [String] {
        let r = try run(["ffmpeg", "-v", "error", "-i", file, "-map", "0:v:0", "-pix_fmt", "yuv420p", "-f", "framemd5", "-"])
        return r.out.split(separator: "\n").filter { !$0.hasPrefix("#") }.compactMap { $0.split(separator: ",").last.map { $0.trimmingCharacters(in: .whitespaces) } }
    }

    /// A 1 s clip with AAC extended by 10 frames (tiny-concat, lossless H.264): 40 frames, 4/3 s, the 30
    /// originals decoded identical to the input's, the 10 new ones made (not repeats), the audio copied
    /// packet for packet. Same in/out, bad N, a missing file: errors, no output.
    @Test func extendClipAddsPredictedFrames() throws {
        try makeClip("e.mp4", audio: "avenc_aac")
        let r = try script("extend-clip.sh", ["e.mp4", "e-long.mp4", "10"], env: ["MODEL": tinyConcat, "STEPS": "1", "LOSSLESS": "1"])
        #expect(r.status == 0 && r.out.contains("10 frames predicted"), "\(r.out)")
        let v = try probe(path("e-long.mp4"), "v")
        #expect(v["nb_frames"] == "40" && v["r_frame_rate"] == "30/1" && v["width"] == "64", "\(v)")
        #expect(abs((Double(v["duration"] ?? "") ?? 0) - 40.0 / 30) < 0.001, "\(v)")
        let input = try frameHashes(path("e.mp4")), output = try frameHashes(path("e-long.mp4"))
        #expect(input.count == 30 && output.count == 40)
        #expect(Array(output.prefix(30)) == input, "originals pass untouched")
        #expect(Set(output.suffix(10)).isDisjoint(with: input), "the added frames are predicted, not copies")
        let packets = { (f: String) in try self.run(["ffprobe", "-v", "error", "-select_streams", "a:0", "-show_entries",
                                                     "packet=size,pts", "-of", "csv=p=0", self.path(f)]).out }
        #expect(try !packets("e.mp4").isEmpty && packets("e.mp4") == packets("e-long.mp4"))

        let before = bytes("e.mp4")
        let same = try script("extend-clip.sh", ["e.mp4", "./e.mp4", "5"])
        #expect(same.status == 1 && same.out.contains("is the input file itself"), "\(same.out)")
        for bad in ["0", "x", "10001"] {
            let b = try script("extend-clip.sh", ["e.mp4", "x.mp4", bad])
            #expect(b.status == 1 && b.out.contains("bad N"), "\(bad): \(b.out)")
        }
        let usage = try script("extend-clip.sh", ["e.mp4", "x.mp4"])
        #expect(usage.status == 1 && usage.out.contains("usage"), "\(usage.out)")
        let motion = try script("extend-clip.sh", ["e.mp4", "x.mp4", "3"], env: ["METHOD": "motion"])
        #expect(motion.status == 1 && motion.out.contains("METHOD=diffusion"), "\(motion.out)")
        #expect(bytes("e.mp4") == before && !FileManager.default.fileExists(atPath: path("x.mp4")))
    }

    /// The default model on a 20 fps WebM (VP8) with frame 7 cut out: the hole is predicted too (predict
    /// mode fills the grid), then 4 frames are added: 24. RATE=20 (videorate first, for variable-rate
    /// input) gives the same count; a bad RATE is an error.
    @Test func extendClipWithTheDefaultModelFillsAHole() throws {
        let r0 = try run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=20", "-t", "1", "-vf",
                          "select='not(eq(n,7))'", "-fps_mode", "vfr", "-c:v", "libvpx", path("hole.webm")])
        #expect(r0.status == 0, "\(r0.out)")
        #expect(try frameHashes(path("hole.webm")).count == 19)
        let model = ScriptTests.root.appendingPathComponent("models/default.safetensors").path
        for rate in ["", "20"] {
            let r = try script("extend-clip.sh", ["hole.webm", "hole-long.mp4", "4"], env: ["MODEL": model, "RATE": rate])
            #expect(r.status == 0, "\(r.out)")
            let v = try probe(path("hole-long.mp4"), "v")
            #expect(v["r_frame_rate"] == "20/1" && v["nb_frames"] == "24", "RATE=\(rate): \(v)")
        }
        let bad = try script("extend-clip.sh", ["hole.webm", "x.mp4", "4"], env: ["RATE": "fast"])
        #expect(bad.status == 1 && bad.out.contains("bad RATE"), "\(bad.out)")
    }

    /// A live source losing about 30% of its frames: every original comes out on its own grid slot, bit
    /// for bit (so the holes were filled: a hole left open would shift every later original), and the
    /// filled slots hold predicted frames (or, right after a restart of the model's past, a repeat). Compared with the same source without losses (videotestsrc is
    /// deterministic); written as y4m through SINK.
    @Test func livePredictFillsDroppedFrames() throws {
        let source = "videotestsrc is-live=true pattern=ball num-buffers=30 ! video/x-raw,width=64,height=48,framerate=30/1"
        func frames(_ drop: String) throws -> [Data] {
            let file = path("live-\(drop).y4m")
            let r = try script("live-predict.sh", ["1"], env: ["DROP": drop, "SOURCE": source, "MODEL": tinyConcat, "STEPS": "1",
                                                             "SINK": "y4menc ! filesink location=\(file)"])
            #expect(r.status == 0 && r.out.contains("Got EOS"), "\(r.out)")
            let data = try Data(contentsOf: URL(fileURLWithPath: file))
            let marker = Data("FRAME\n".utf8), size = 64 * 48 * 3 / 2
            var out: [Data] = [], at = data.startIndex
            while let m = data.range(of: marker, in: at..<data.endIndex), m.upperBound + size <= data.endIndex {
                out.append(data[m.upperBound..<(m.upperBound + size)]); at = m.upperBound + size
            }
            return out
        }
        let all = try frames("0"), lossy = try frames("0.3")
        #expect(all.count == 30)
        guard let first = lossy.first, let offset = all.firstIndex(of: first) else { Issue.record("no original in the output"); return }
        var originals = 0, predicted = 0, repeats = 0
        for (i, f) in lossy.enumerated() {
            if offset + i < all.count, f == all[offset + i] { originals += 1; continue }
            if all.contains(f) {
                // identity flags the frame after a drop DISCONT, which restarts the model's past: a drop
                // right after it repeats the frame before (the fallback). Nothing else may be an original.
                #expect(i > 0 && f == lossy[i - 1], "slot \(i): an original out of place")
                repeats += 1
            } else {
                predicted += 1
            }
        }
        #expect(predicted >= 1 && originals >= 10, "\(originals) originals, \(predicted) predicted, \(repeats) repeats")
        #expect(offset + lossy.count <= 30)
        let bad = try script("live-predict.sh", ["1"], env: ["DROP": "lots"])
        #expect(bad.status == 1 && bad.out.contains("bad DROP"), "\(bad.out)")
    }

    // MARK: items 9, 10: toolchain and plugin path

    @Test func scriptsFindSwiftAtOptSwiftOrSaySo() throws {
        let common = scripts.appendingPathComponent("common.sh").path
        let probeSwift = "source \(common); mcvd_find_swift; command -v swift"
        if FileManager.default.isExecutableFile(atPath: "/opt/swift/usr/bin/swift") {
            let r = try run(["bash", "-c", probeSwift], env: ["PATH": "/usr/bin:/bin"])
            #expect(r.status == 0 && r.out == "/opt/swift/usr/bin/swift\n", "\(r.out)")
        }
        let r = try run(["bash", "-c", probeSwift], env: ["PATH": "/usr/bin:/bin", "SWIFT_ROOT": "/nonexistent"])
        #expect(r.status == 1 && r.out.contains("Swift 6 toolchain not found"), "\(r.out)")
    }

    @Test func pluginFolderGoesFirstInGstPluginPath() throws {
        let common = scripts.appendingPathComponent("common.sh").path
        let r = try run(["bash", "-c", "source \(common); mcvd_plugin_env; echo \"$GST_PLUGIN_PATH\""])
        #expect(r.out == "\(try pluginDir()):/nonexistent/a:/nonexistent/b\n", "\(r.out)")
    }

    /// The build step of mcvd_plugin_env, in a copy of common.sh inside a made checkout (Package.swift,
    /// CShims/, Sources/Motion, Sources/CLI) with a `swift` on PATH that logs builds: it builds when the
    /// plugin is missing or older than a source it is made from (Sources/Motion), not when only the CLI's
    /// sources changed, and never because of a GST_PLUGIN_PATH list; the folder goes first in it.
    @Test func pluginIsRebuiltOnlyWhenOlderThanItsSources() throws {
        let fm = FileManager.default
        let root = dir.appendingPathComponent("checkout").path, bin = "\(root)/.build/release", fakeBin = path("fakebin")
        for d in ["pipelines", "CShims/CGstMcvd", "Sources/Motion", "Sources/CLI", ".build/release"] {
            try fm.createDirectory(atPath: "\(root)/\(d)", withIntermediateDirectories: true)
        }
        try fm.createDirectory(atPath: fakeBin, withIntermediateDirectories: true)
        try fm.copyItem(atPath: scripts.appendingPathComponent("common.sh").path, toPath: "\(root)/pipelines/common.sh")
        for f in ["Package.swift", "CShims/CGstMcvd/plugin.c", "Sources/Motion/M.swift", "Sources/CLI/C.swift"] {
            try "// \(f)\n".write(toFile: "\(root)/\(f)", atomically: true, encoding: .utf8)
        }
        let swift = """
            #!/bin/bash
            [ "$*" = "build -c release --show-bin-path" ] && { echo "\(bin)"; exit 0; }
            echo "$*" >> "\(path("builds.log"))"; touch "\(bin)/libgstmcvd.so"
            """
        try swift.write(toFile: "\(fakeBin)/swift", atomically: true, encoding: .utf8)
        try fm.setAttributes([.posixPermissions: 0o755], ofItemAtPath: "\(fakeBin)/swift")
        func setTime(_ file: String, _ t: Int) throws { try fm.setAttributes([.modificationDate: Date(timeIntervalSince1970: TimeInterval(t))], ofItemAtPath: file) }
        for f in ["Package.swift", "CShims", "CShims/CGstMcvd", "CShims/CGstMcvd/plugin.c", "Sources", "Sources/Motion",
                  "Sources/Motion/M.swift", "Sources/CLI", "Sources/CLI/C.swift"] { try setTime("\(root)/\(f)", 1_000_000) }
        func env() throws -> (builds: Int, out: String) {
            try? fm.removeItem(atPath: path("builds.log"))
            let r = try run(["bash", "-c", "source \(root)/pipelines/common.sh; mcvd_plugin_env; echo \"GST_PLUGIN_PATH=$GST_PLUGIN_PATH\""],
                            env: ["MCVD_PLUGIN_DIR": "", "PATH": "\(fakeBin):/usr/bin:/bin"])
            #expect(r.status == 0, "\(r.out)")
            #expect(r.out.contains("GST_PLUGIN_PATH=\(bin):/nonexistent/a:/nonexistent/b\n"), "\(r.out)")
            let log = (try? String(contentsOfFile: path("builds.log"), encoding: .utf8)) ?? ""
            #expect(log.split(separator: "\n").allSatisfy { $0 == "build -c release --product gstmcvd" }, "\(log)")
            return (log.split(separator: "\n").count, r.out)
        }
        let first = try env()                                                    // no plugin yet
        #expect(first.builds == 1 && first.out.contains("building the mcvd plugin"), "\(first.out)")
        try setTime("\(bin)/libgstmcvd.so", 2_000_000)
        #expect(try env().builds == 0)                                           // up to date
        try setTime("\(root)/Sources/CLI/C.swift", 3_000_000)
        #expect(try env().builds == 0)                                           // only the CLI changed
        try setTime("\(root)/Sources/Motion/M.swift", 3_000_000)
        #expect(try env().builds == 1)                                           // a module the plugin links
        #expect(try env().builds == 0)                                           // rebuilt: up to date again
        try setTime("\(root)/Package.swift", 9_000_000_000)
        #expect(try env().builds == 1)
    }
}

/// README "The element" lists exactly the formats of the pad templates.
@Suite struct ReadmeTests {
    @Test func formatListMatchesTheCaps() throws {
        precondition(gstReady)
        let readme = try String(contentsOf: ScriptTests.root.appendingPathComponent("README.md"), encoding: .utf8)
        guard let start = readme.range(of: "Formats (same in and out"), let end = readme.range(of: "Any width", range: start.upperBound..<readme.endIndex) else {
            Issue.record("no format list in README"); return
        }
        let text = readme[start.upperBound..<end.lowerBound]
        let listed = Set(text.split(whereSeparator: { " ,;:()\n.".contains($0) }).map(String.init)
            .filter { $0.contains(where: \.isUppercase) })
        let element = gst_element_factory_make("mcvd", nil)!
        defer { gst_object_unref(element) }
        let pad = gst_element_get_static_pad(element, "sink")!
        defer { gst_object_unref(pad) }
        let caps = gst_pad_get_pad_template_caps(pad)!
        defer { gst_caps_unref(caps) }
        let list = gst_structure_get_value(gst_caps_get_structure(caps, 0), "format")!
        let formats = Set((0..<gst_value_list_get_size(list)).map { String(cString: g_value_get_string(gst_value_list_get_value(list, $0))) })
        #expect(formats.count == 28)
        #expect(listed == formats, "README extra: \(listed.subtracting(formats)), missing: \(formats.subtracting(listed))")
    }
}
