// Real pipelines: appsrc -> mcvd -> appsink from a launch line, and the installed command-line tools
// (gst-inspect-1.0, gst-launch-1.0, ffprobe) against the built libgstmcvd.so.
import CGStreamer
import CGStreamerApp
import Element
import Foundation
import Testing

@Suite struct PipelineTests {
    @Test func appsrcToAppsink() throws {
        let info = videoInfo("video/x-raw,format=RGBx,width=10,height=6,framerate=25/1")
        var inputs: [[[Int]]] = []
        let outs = try runPipeline(
            "appsrc name=src format=time caps=video/x-raw,format=RGBx,width=10,height=6,framerate=25/1 ! mcvd factor=2 ! appsink name=sink sync=false"
        ) { src in
            let appsrc = UnsafeMutableRawPointer(src).assumingMemoryBound(to: GstAppSrc.self)
            for k in 0..<10 {
                let b = makeFrame(info, seed: UInt64(k), pts: scale(UInt(k), second, 25), duration: scale(1, second, 25))
                inputs.append(componentSamples(b, info))
                _ = gst_app_src_push_buffer(appsrc, b)
            }
            _ = gst_app_src_end_of_stream(appsrc)
        }
        #expect(outs.count == 20)
        #expect(outs.map(\.pts) == (0..<20).map { scale(UInt($0), second, 50) })
        for k in 0..<10 { #expect(outs[2 * k].samples == inputs[k]) }
        for k in 0..<9 { #expect(outs[2 * k + 1].samples == expectedBlend(inputs[k], inputs[k + 1], weight: 128)) }
    }
}

extension PipelineTests {
    /// The same pipeline played to EOS twice (stopped to NULL in between, which takes mcvd through
    /// PAUSED->READY): the second run starts from scratch — same count, PTS from 0, offsets from 0,
    /// nothing held over from the first run.
    @Test func restartsCleanlyAfterStop() throws {
        precondition(gstReady)
        var err: UnsafeMutablePointer<GError>?
        let pipe = gst_parse_launch("videotestsrc num-buffers=6 ! video/x-raw,format=GRAY8,width=8,height=8,framerate=10/1 ! mcvd factor=3 ! appsink name=sink sync=false", &err)!
        defer { gst_element_set_state(pipe, GST_STATE_NULL); gst_object_unref(pipe) }
        let bin = UnsafeMutableRawPointer(pipe).assumingMemoryBound(to: GstBin.self)
        let sink = gst_bin_get_by_name(bin, "sink")!
        defer { gst_object_unref(sink) }
        let appsink = UnsafeMutableRawPointer(sink).assumingMemoryBound(to: GstAppSink.self)
        var runs: [[(UInt, UInt)]] = []
        for _ in 0..<2 {
            gst_element_set_state(pipe, GST_STATE_PLAYING)
            // Wait for preroll: until appsink has started, it still reports the previous run's EOS.
            _ = gst_element_get_state(pipe, nil, nil, 5 * second)
            var seen: [(UInt, UInt)] = []
            while let s = gst_app_sink_try_pull_sample(appsink, 5 * second) {
                let b = gst_sample_get_buffer(s)!
                seen.append((b.pointee.pts, b.pointee.offset))
                gst_sample_unref(s)
            }
            runs.append(seen)
            gst_element_set_state(pipe, GST_STATE_NULL)
        }
        #expect(runs[0].count == 18)
        #expect(runs[1].map(\.0) == runs[0].map(\.0))
        #expect(runs[1].map(\.1) == (0..<18).map { UInt($0) })
        #expect(runs[0].map(\.0) == (0..<18).map { scale(UInt($0), second, 30) })
    }
}

/// The tools run in a scratch registry with GST_PLUGIN_PATH at the build folder holding libgstmcvd.so.
@Suite struct CommandLineTests {
    let buildDir: URL = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("debug")

    func plugin() throws -> URL {
        // The test bundle sits in .build/<triple>/debug/<name>.xctest or .build/debug.
        let candidates = [URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent(), buildDir]
        for dir in candidates where FileManager.default.fileExists(atPath: dir.appendingPathComponent("libgstmcvd.so").path) {
            return dir
        }
        throw PipelineError(message: "libgstmcvd.so not found next to the test bundle: run `swift build` before `swift test`")
    }

    func run(_ tool: String, _ args: [String], env extra: [String: String]) throws -> (Int32, String) {
        try runTool([tool] + args, env: extra)
    }

    func gstEnv() throws -> [String: String] {
        let dir = try plugin()
        let reg = FileManager.default.temporaryDirectory.appendingPathComponent("mcvd-registry-\(getpid()).bin")
        return ["GST_PLUGIN_PATH": dir.path, "GST_REGISTRY": reg.path, "GST_REGISTRY_FORK": "no"]
    }

    @Test func inspectListsEveryProperty() throws {
        let (status, out) = try run("gst-inspect-1.0", ["mcvd"], env: try gstEnv())
        #expect(status == 0, "\(out)")
        #expect(out.contains("MCVD frame synthesiser"))
        #expect(out.contains("Integer. Range: 1 - 16 Default: 2"))
        #expect(out.contains("Default: 1, \"blend\""))
        #expect(out.contains("(0): interpolate"))
        #expect(out.contains("frames-inserted"))
    }

    /// gst-inspect-1.0's "Origin URL" is a URL (scheme://...); built from a checkout it is that checkout as
    /// file:///..., a folder holding Package.swift. (Built with MCVD_ORIGIN_URL set, only the form is checked.)
    @Test func originIsAURLOfAnExistingPlace() throws {
        let (status, out) = try run("gst-inspect-1.0", ["mcvd"], env: try gstEnv())
        #expect(status == 0, "\(out)")
        let line = out.split(separator: "\n").first { $0.contains("Origin URL") }
        let origin = try #require(line.map { $0.replacingOccurrences(of: "Origin URL", with: "").trimmingCharacters(in: .whitespaces) },
                                  "no Origin URL in:\n\(out)")
        #expect(origin.range(of: #"^[A-Za-z][A-Za-z0-9+.-]*://[^\s]+$"#, options: .regularExpression) != nil, "not a URL: '\(origin)'")
        let url = try #require(URL(string: origin), "not a URL: '\(origin)'")
        if ProcessInfo.processInfo.environment["MCVD_ORIGIN_URL"] == nil {
            #expect(url.isFileURL, "\(origin)")
            var isDir: ObjCBool = false
            #expect(FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir) && isDir.boolValue, "\(origin) names no folder")
            #expect(FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path), "\(origin) is no checkout")
        }
    }

    /// videotestsrc -> mcvd -> 60 fps H.264 mp4: ffprobe counts twice the frames over the same duration;
    /// a raw run checks that the original frames come through bit-exact.
    @Test func launchDoublesFrameRateIntoMp4() throws {
        let env = try gstEnv()
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("mcvd-launch-\(getpid())")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: tmp) }
        let src = "videotestsrc num-buffers=30 pattern=ball ! video/x-raw,format=I420,width=64,height=48,framerate=30/1"
        let mp4 = tmp.appendingPathComponent("out.mp4").path
        var (status, out) = try run("gst-launch-1.0", ["-q"] + "\(src) ! mcvd ! video/x-raw,framerate=60/1 ! videoconvert ! x264enc ! mp4mux ! filesink location=\(mp4)".split(separator: " ").map(String.init), env: env)
        #expect(status == 0, "\(out)")
        (status, out) = try run("ffprobe", ["-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
                                            "stream=nb_read_frames,r_frame_rate,duration", "-of", "default=nw=1", mp4], env: [:])
        #expect(status == 0, "\(out)")
        #expect(out.contains("nb_read_frames=60"), "\(out)")
        #expect(out.contains("r_frame_rate=60/1"), "\(out)")
        #expect(out.contains("duration=1.000000"), "\(out)")

        let rawIn = tmp.appendingPathComponent("in.raw").path, rawOut = tmp.appendingPathComponent("out.raw").path
        (status, out) = try run("gst-launch-1.0", ["-q"] + "\(src) ! filesink location=\(rawIn)".split(separator: " ").map(String.init), env: env)
        #expect(status == 0, "\(out)")
        (status, out) = try run("gst-launch-1.0", ["-q"] + "\(src) ! mcvd ! filesink location=\(rawOut)".split(separator: " ").map(String.init), env: env)
        #expect(status == 0, "\(out)")
        let a = try Data(contentsOf: URL(fileURLWithPath: rawIn)), b = try Data(contentsOf: URL(fileURLWithPath: rawOut))
        let frame = 64 * 48 * 3 / 2
        #expect(a.count == 30 * frame && b.count == 60 * frame)
        for k in 0..<30 where b.count == 60 * frame && a.count == 30 * frame {
            #expect(a[(k * frame)..<((k + 1) * frame)] == b[(2 * k * frame)..<((2 * k + 1) * frame)], "frame \(k)")
        }
    }
}
