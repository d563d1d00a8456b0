// mcvdsrc: unconditional generation as a source element, in real pipelines (parse-launch -> appsink, and
// the installed gst-launch-1.0 / gst-inspect-1.0). Frame counts, caps, timestamps and offsets, EOS after
// num-buffers, frames equal to MCVDKit's Generator.generate for the same model and seed (several blocks:
// the first from nothing, the next predicted), determinism, seeks and flushes, a state change to NULL in
// the middle of a long block, and every error before data flows. Models: small ones written here with
// pseudo-random weights (quality is not the point).
import CGStreamer
import CGStreamerApp
import Element
import Foundation
import MCVDKit
import Tensor
import Testing
import Training
import UNet

/// A 16x16 model file with pseudo-random weights: `channels`, k past, n made per block, f future, and the
/// masking it was "trained" with (what mcvdsrc checks).
func writeSourceModel(channels: Int = 1, past: Int, frames: Int, future: Int, masking: MaskingOptions = MaskingOptions(past: 0.5, future: 0.5),
                      name: String) throws -> String {
    let config = UNetConfig(ngf: 8, chMult: [1, 2], numResBlocks: 1, attnResolutions: [], nHeadChannels: -1,
                            spade: false, spadeDim: 16, imageSize: 16, channels: channels, numFrames: frames,
                            numFramesCond: past, numFramesFuture: future)
    let unet = try UNet(config: config)
    let bytes = noiseBytes(unet.parameterStorageCount, seed: UInt64(channels * 100 + past * 10 + frames))
    for i in 0..<unet.parameterStorageCount { unet.parameterStorage[i] = (Float(bytes[i]) - 128) / 1280 }
    let trainer = Trainer(model: unet, options: TrainingOptions(seed: 5, parameterization: .eps, masking: masking, emaRate: nil))
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("mcvd-src-\(getpid())-\(name).safetensors").path
    try trainer.save(path: path)
    return path
}

/// A launch line ending in `appsink name=sink` played to EOS: the buffers and the caps of the first one.
func runSource(_ description: String, timeout: Double = 120) throws -> (outs: [Out], caps: String) {
    precondition(gstReady)
    var err: UnsafeMutablePointer<GError>?
    guard let pipe = gst_parse_launch(description, &err), err == nil else {
        defer { g_error_free(err) }
        throw PipelineError(message: err.map { String(cString: $0.pointee.message) } ?? "cannot parse \(description)")
    }
    defer { gst_element_set_state(pipe, GST_STATE_NULL); gst_object_unref(pipe) }
    let sink = gst_bin_get_by_name(UnsafeMutableRawPointer(pipe).assumingMemoryBound(to: GstBin.self), "sink")!
    defer { gst_object_unref(sink) }
    let appsink = UnsafeMutableRawPointer(sink).assumingMemoryBound(to: GstAppSink.self)
    gst_element_set_state(pipe, GST_STATE_PLAYING)
    let bus = gst_element_get_bus(pipe)!
    defer { gst_object_unref(bus) }
    var outs: [Out] = [], caps = ""
    let deadline = Date().addingTimeInterval(timeout)
    func check() throws {
        guard let m = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR) else { return }
        defer { gst_message_unref(m) }
        var e: UnsafeMutablePointer<GError>?
        gst_message_parse_error(m, &e, nil)
        defer { g_error_free(e) }
        throw PipelineError(message: String(cString: e!.pointee.message))
    }
    while Date() < deadline {
        try check()
        guard let sample = gst_app_sink_try_pull_sample(appsink, 100_000_000) else {
            // A source that fails also sends EOS, after posting its error.
            if gst_app_sink_is_eos(appsink) != 0 { try check(); return (outs, caps) }
            continue
        }
        defer { gst_sample_unref(sample) }
        if caps.isEmpty { caps = capsText(gst_sample_get_caps(sample)) }
        outs.append(sourceOut(sample))
    }
    throw PipelineError(message: "timeout after \(timeout) s with \(outs.count) buffers")
}

func capsText(_ caps: UnsafeMutablePointer<GstCaps>?) -> String {
    guard let caps, let s = gst_caps_to_string(caps) else { return "" }
    defer { g_free(s) }
    return String(cString: s)
}

func sourceOut(_ sample: OpaquePointer) -> Out {
    let b = gst_sample_get_buffer(sample)!
    var info = GstVideoInfo()
    gst_video_info_from_caps(&info, gst_sample_get_caps(sample))
    return Out(pts: b.pointee.pts, duration: b.pointee.duration, offset: b.pointee.offset, inserted: false,
               discont: isDiscont(b), size: Int(gst_buffer_get_size(b)), samples: componentSamples(b, info))
}

@Suite(.serialized) struct SourceTests {
    /// Gray: k = 2 past, n = 2 per block, f = 1 future (masked when generating). RGB: k = 1, n = 1, f = 0.
    static let gray = try! writeSourceModel(past: 2, frames: 2, future: 1, name: "gray")
    static let rgb = try! writeSourceModel(channels: 3, past: 1, frames: 1, future: 0, name: "rgb")

    static func source(_ model: String, _ extra: String = "", buffers: Int = 5, seed: Int = 1) -> String {
        "mcvdsrc model=\(model) num-buffers=\(buffers) seed=\(seed) steps=2 threads=1 \(extra)"
    }

    /// MCVDKit's frames for the same model, seed and steps (one thread, as the element's threads=1),
    /// written into `format` frames of the model's size: the bytes the element must push.
    static func library(_ path: String, count: Int, seed: UInt64 = 1, format: PixelFormat) throws -> [[[Int]]] {
        let model = try Model(path: path)
        let generator = try Generator(model: model, height: 16, width: 16, settings: SamplingSettings(sampler: .ddim, steps: 2, seed: seed))
        let frames = try Engine.$threadsInTask.withValue(1) { try generator.generate(count: count) }
        let info = videoInfo("video/x-raw,format=\(format.name),width=16,height=16")
        return try frames.map { f in
            let out = try FrameBuffer(format: format, width: 16, height: 16)
            try out.view.write(f, channels: model.channels, range: model.range)
            return samplesOf(out.bytes, info)
        }
    }

    @Test func countsCapsTimestampsOffsets() throws {
        let (outs, caps) = try runSource(Self.source(Self.gray) + " ! appsink name=sink sync=false")
        #expect(outs.count == 5)
        #expect(caps.contains("format=(string)GRAY8") && caps.contains("width=(int)16") && caps.contains("height=(int)16"))
        #expect(caps.contains("framerate=(fraction)30/1"), "\(caps)")
        #expect(outs.map(\.pts) == (0..<5).map { scale(UInt($0), second, 30) })
        let durations: [UInt] = (0..<5).map { (i: Int) -> UInt in scale(UInt(i + 1), second, 30) - scale(UInt(i), second, 30) }
        #expect(outs.map(\.duration) == durations)
        #expect(outs.map(\.offset) == (0..<5).map { UInt($0) })
        #expect(outs.first?.discont == true)
        #expect(outs.allSatisfy { $0.size == 16 * 16 })

        let (rgbOuts, rgbCaps) = try runSource(Self.source(Self.rgb, buffers: 3) + " ! appsink name=sink sync=false")
        #expect(rgbOuts.count == 3 && rgbCaps.contains("format=(string)RGB,"), "\(rgbCaps)")
    }

    /// The rate, size and format come from downstream caps when it fixes them.
    @Test func rateSizeAndFormatFromDownstream() throws {
        let (outs, caps) = try runSource(Self.source(Self.gray, buffers: 3)
                                         + " ! video/x-raw,framerate=25/2,width=32,height=8,format=I420 ! appsink name=sink sync=false")
        #expect(outs.count == 3)
        #expect(caps.contains("framerate=(fraction)25/2") && caps.contains("width=(int)32") && caps.contains("height=(int)8")
                && caps.contains("I420"), "\(caps)")
        #expect(outs.map(\.pts) == (0..<3).map { scale(UInt($0), 2 * second, 25) })
        #expect(outs.first.map { $0.samples[0].count } == 32 * 8)
        // An odd size is not a multiple of the model's size multiple (2): negotiation fails.
        #expect(throws: PipelineError.self) { try runSource(Self.source(Self.gray, buffers: 1) + " ! video/x-raw,width=15 ! appsink name=sink") }
    }

    /// Five frames of an n = 2 model (blocks 0, 1, 2: the first from nothing, then predicted from the two
    /// frames before) equal Generator.generate's, on the model's own format and on others.
    @Test func framesEqualTheLibrarys() throws {
        let gray = try runSource(Self.source(Self.gray) + " ! appsink name=sink sync=false").outs
        #expect(gray.map(\.samples) == (try Self.library(Self.gray, count: 5, format: .gray8)))
        let i420 = try runSource(Self.source(Self.gray) + " ! video/x-raw,format=I420 ! appsink name=sink sync=false").outs
        #expect(i420.map(\.samples) == (try Self.library(Self.gray, count: 5, format: .i420)))
        let rgb = try runSource(Self.source(Self.rgb, buffers: 4) + " ! appsink name=sink sync=false").outs
        #expect(rgb.map(\.samples) == (try Self.library(Self.rgb, count: 4, format: .rgb)))
        let nv12 = try runSource(Self.source(Self.rgb, buffers: 4) + " ! video/x-raw,format=NV12 ! appsink name=sink sync=false").outs
        #expect(nv12.map(\.samples) == (try Self.library(Self.rgb, count: 4, format: .nv12)))
        // Frames differ from each other (not one frame repeated).
        #expect(Set(gray.map(\.samples)).count == 5)
    }

    @Test func sameSeedSameBytesOtherSeedOtherBytes() throws {
        let a = try runSource(Self.source(Self.gray, buffers: 3, seed: 4) + " ! appsink name=sink sync=false").outs
        let b = try runSource(Self.source(Self.gray, buffers: 3, seed: 4) + " ! appsink name=sink sync=false").outs
        let c = try runSource(Self.source(Self.gray, buffers: 3, seed: 5) + " ! appsink name=sink sync=false").outs
        #expect(a.count == 3 && a.map(\.samples) == b.map(\.samples))
        #expect(zip(a, c).allSatisfy { $0.samples != $1.samples })
    }

    /// Flushing seeks while playing: back to 0 gives frames 0, 1, ... again (PTS from 0, the same bytes);
    /// forward to frame 3's time gives frame 3 (the frames before it generated and dropped).
    @Test func seeksAndFlushes() throws {
        precondition(gstReady)
        let expected = try Self.library(Self.gray, count: 6, format: .gray8)
        var err: UnsafeMutablePointer<GError>?
        let pipe = gst_parse_launch(Self.source(Self.gray, buffers: -1) + " ! appsink name=sink sync=false max-buffers=1", &err)!
        defer { gst_element_set_state(pipe, GST_STATE_NULL); gst_object_unref(pipe) }
        let sink = gst_bin_get_by_name(UnsafeMutableRawPointer(pipe).assumingMemoryBound(to: GstBin.self), "sink")!
        defer { gst_object_unref(sink) }
        let appsink = UnsafeMutableRawPointer(sink).assumingMemoryBound(to: GstAppSink.self)
        gst_element_set_state(pipe, GST_STATE_PLAYING)
        func pull(_ n: Int) -> [Out] {
            (0..<n).compactMap { _ in
                guard let s = gst_app_sink_try_pull_sample(appsink, 60 * second) else { return nil }
                defer { gst_sample_unref(s) }
                return sourceOut(s)
            }
        }
        let flags = GstSeekFlags(rawValue: GST_SEEK_FLAG_FLUSH.rawValue | GST_SEEK_FLAG_ACCURATE.rawValue)
        let first = pull(3)
        #expect(first.map(\.samples) == Array(expected[0..<3]))
        #expect(gst_element_seek_simple(pipe, GST_FORMAT_TIME, flags, 0) != 0)
        let again = pull(3)
        #expect(again.map(\.pts) == (0..<3).map { scale(UInt($0), second, 30) })
        #expect(again.map(\.samples) == Array(expected[0..<3]))
        #expect(gst_element_seek_simple(pipe, GST_FORMAT_TIME, flags, Int(scale(3, second, 30))) != 0)
        let later = pull(2)
        #expect(later.map(\.offset) == [3, 4])
        #expect(later.map(\.pts) == [scale(3, second, 30), scale(4, second, 30)])
        #expect(later.map(\.samples) == Array(expected[3..<5]))
    }

    /// PLAYING -> NULL while a block of 1000 sampler steps (64x64) is under way returns promptly: the
    /// sampler stops after the step it is in, nothing of the block is pushed, and the element restarts.
    @Test func stopMidBlockDoesNotHang() throws {
        precondition(gstReady)
        var err: UnsafeMutablePointer<GError>?
        let pipe = gst_parse_launch("mcvdsrc name=src model=\(Self.gray) steps=1000 threads=1 ! video/x-raw,width=64,height=64 "
                                    + "! appsink name=sink sync=false", &err)!
        defer { gst_object_unref(pipe) }
        let src = gst_bin_get_by_name(UnsafeMutableRawPointer(pipe).assumingMemoryBound(to: GstBin.self), "src")!
        defer { gst_object_unref(src) }
        func generated() -> UInt {
            var v = GValue()
            g_value_init(&v, GType(11 << 2))  // G_TYPE_UINT64
            defer { g_value_unset(&v) }
            g_object_get_property(UnsafeMutableRawPointer(src).assumingMemoryBound(to: GObject.self), "frames-generated", &v)
            return g_value_get_uint64(&v)
        }
        gst_element_set_state(pipe, GST_STATE_PLAYING)
        Thread.sleep(forTimeInterval: 0.5)
        #expect(generated() == 0, "the first block (1000 steps) is still under way")
        let t0 = Date()
        #expect(gst_element_set_state(pipe, GST_STATE_NULL) == GST_STATE_CHANGE_SUCCESS)
        let stopped = Date().timeIntervalSince(t0)
        #expect(stopped < 10, "NULL took \(stopped) s")
        #expect(generated() == 0, "the block was abandoned, not finished")
    }

    /// Every error before data flows, with text that says what to do.
    @Test func errors() throws {
        func error(_ description: String) -> String {
            do { _ = try runSource(description + " ! appsink name=sink sync=false"); return "" } catch { return "\(error)" }
        }
        // No model property: the built-in default model's lookup (DefaultModelTests, in subprocesses with the
        // lookup's environment) — not tested here, where the source tree's models/ would be found.
        #expect(error("mcvdsrc model=/nonexistent/m.safetensors num-buffers=2").contains("/nonexistent/m.safetensors"))
        let corrupt = FileManager.default.temporaryDirectory.appendingPathComponent("mcvd-src-\(getpid())-corrupt.safetensors").path
        try Data(noiseBytes(4096, seed: 3)).write(to: URL(fileURLWithPath: corrupt))
        defer { try? FileManager.default.removeItem(atPath: corrupt) }
        #expect(error("mcvdsrc model=\(corrupt) num-buffers=2").contains("Cannot use model file \(corrupt)"))
        // Never trained with masked conditioning: cannot start from nothing.
        let unmasked = try writeSourceModel(past: 2, frames: 1, future: 1, masking: MaskingOptions(), name: "unmasked")
        defer { try? FileManager.default.removeItem(atPath: unmasked) }
        #expect(error("mcvdsrc model=\(unmasked) num-buffers=2").contains("prob_mask_cond 0"))
        // No past frames: n frames from nothing, nothing after them.
        let noPast = try writeSourceModel(past: 0, frames: 2, future: 1, name: "nopast")
        defer { try? FileManager.default.removeItem(atPath: noPast) }
        #expect(error("mcvdsrc model=\(noPast) num-buffers=3").contains("no past frames"))
        #expect(error("mcvdsrc model=\(noPast)").contains("no past frames"))
        #expect(try runSource("mcvdsrc model=\(noPast) num-buffers=2 steps=1 ! appsink name=sink sync=false").outs.count == 2)
        #expect(error(Self.source(Self.gray) + " steps=2000").contains("exceeds the model's 1000 noise levels"))
        #expect(error(Self.source(Self.gray) + " ! video/x-raw,width=1024,height=1024").contains("at most"))
    }
}

extension CommandLineTests {
    @Test func inspectDocumentsMcvdsrc() throws {
        let (status, out) = try run("gst-inspect-1.0", ["mcvdsrc"], env: try gstEnv())
        #expect(status == 0, "\(out)")
        #expect(out.contains("MCVD video generator") && out.contains("GstPushSrc"))
        for p in ["model", "seed", "steps", "sampler", "eta", "threads", "num-buffers", "frames-generated"] {
            #expect(out.contains("  \(p) "), "\(p)")
        }
    }

    /// gst-launch-1.0 writes num-buffers raw frames of the model's size and colour.
    @Test func launchWritesGeneratedFrames() throws {
        let raw = FileManager.default.temporaryDirectory.appendingPathComponent("mcvd-src-\(getpid()).rgb").path
        defer { try? FileManager.default.removeItem(atPath: raw) }
        let (status, out) = try run("gst-launch-1.0", ["-q", "mcvdsrc", "model=\(SourceTests.rgb)", "num-buffers=4", "seed=2",
                                                       "steps=1", "!", "filesink", "location=\(raw)"], env: try gstEnv())
        #expect(status == 0, "\(out)")
        let size = (try FileManager.default.attributesOfItem(atPath: raw)[.size] as? Int) ?? 0
        #expect(size == 4 * 16 * 16 * 3)
    }
}

extension ScriptTests {
    /// pipelines/generate.sh: an mp4 of FRAMES generated frames at RATE and the model's size; bad
    /// arguments and a bad model give one "error:" line and no OUT.
    @Test func generateScriptWritesAnMp4() throws {
        let r = try script("generate.sh", [SourceTests.gray, path("gen.mp4"), "6"], env: ["RATE": "12.5", "SEED": "3", "STEPS": "1"])
        #expect(r.status == 0, "\(r.out)")
        let v = try probe(path("gen.mp4"), "v")
        #expect(v["codec_name"] == "h264" && v["width"] == "16" && v["height"] == "16" && v["r_frame_rate"] == "25/2", "\(v)")
        #expect(v["nb_frames"] == "6", "\(v)")
        let bad = try script("generate.sh", ["/etc/hostname", path("bad.mp4"), "2"])
        #expect(bad.status != 0 && bad.out.contains("error: generating with /etc/hostname failed"), "\(bad.out)")
        #expect(!FileManager.default.fileExists(atPath: path("bad.mp4")))
        let zero = try script("generate.sh", [SourceTests.gray, path("zero.mp4"), "0"])
        #expect(zero.status != 0 && zero.out.contains("bad FRAMES"))
    }
}
