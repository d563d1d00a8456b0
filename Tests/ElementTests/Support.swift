// Test support: GStreamer initialised once with the plugin registered statically, a GstHarness wrapper,
// frame construction and an independent per-component sample reader (GstVideoFormatInfo based, it does
// not share the element's plane-extent code) used to check outputs.
import CGStreamer
import CGStreamerApp
import CGstCheck
import Element
import Foundation
import Testing

let second: UInt = 1_000_000_000
let none: UInt = UInt.max

let gstReady: Bool = {
    gst_init(nil, nil)
    return registerMcvdPlugin()
}()

func scale(_ v: UInt, _ num: UInt, _ den: UInt) -> UInt { gst_util_uint64_scale(v, num, den) }

/// Deterministic pseudo-random bytes (xorshift), different per seed.
func noiseBytes(_ count: Int, seed: UInt64) -> [UInt8] {
    var x = seed &* 0x9E3779B97F4A7C15 | 1
    return (0..<count).map { _ in
        x ^= x << 13; x ^= x >> 7; x ^= x << 17
        return UInt8(truncatingIfNeeded: x >> 24)
    }
}

func videoInfo(_ caps: String) -> GstVideoInfo {
    precondition(gstReady)  // any GStreamer call before gst_init crashes: tests run in any order
    var info = GstVideoInfo()
    let c = gst_caps_from_string(caps)!
    defer { gst_caps_unref(c) }
    precondition(gst_video_info_from_caps(&info, c) != 0, "bad caps \(caps)")
    return info
}

/// A frame buffer of the caps' default layout filled with noise.
func makeFrame(_ info: GstVideoInfo, seed: UInt64, pts: UInt = none, duration: UInt = none) -> UnsafeMutablePointer<GstBuffer> {
    let bytes = noiseBytes(Int(info.size), seed: seed)
    let buf = gst_buffer_new_allocate(nil, info.size, nil)!
    _ = bytes.withUnsafeBytes { gst_buffer_fill(buf, 0, $0.baseAddress, info.size) }
    buf.pointee.pts = pts
    buf.pointee.duration = duration
    return buf
}

/// Every sample of every component, row-major per component, read through GstVideoFrame + format info.
func componentSamples(_ buffer: UnsafeMutablePointer<GstBuffer>, _ infoIn: GstVideoInfo) -> [[Int]] {
    var info = infoIn
    var frame = GstVideoFrame()
    precondition(gst_video_frame_map(&frame, &info, buffer, GST_MAP_READ) != 0)
    defer { gst_video_frame_unmap(&frame) }
    let f = frame.info.finfo!.pointee
    func el<T, U>(_ t: T, _ i: Int, _: U.Type) -> U { withUnsafeBytes(of: t) { $0.load(fromByteOffset: i * MemoryLayout<U>.stride, as: U.self) } }
    var out: [[Int]] = []
    for c in 0..<Int(f.n_components) {
        let plane = Int(el(f.plane, c, UInt32.self))
        let poff = Int(el(f.poffset, c, UInt32.self))
        let ps = Int(el(f.pixel_stride, c, Int32.self))
        let ws = Int(el(f.w_sub, c, UInt32.self)), hs = Int(el(f.h_sub, c, UInt32.self))
        let w = -((-Int(info.width)) >> ws), h = -((-Int(info.height)) >> hs)
        let base = el(frame.data, plane, UnsafeMutableRawPointer.self)
        let stride = Int(el(frame.info.stride, plane, Int32.self))
        var samples: [Int] = []
        samples.reserveCapacity(w * h)
        for y in 0..<h {
            for x in 0..<w {
                let p = base + y * stride + x * ps + poff
                samples.append(f.bits > 8 ? Int(p.loadUnaligned(as: UInt16.self)) : Int(p.load(as: UInt8.self)))
            }
        }
        out.append(samples)
    }
    return out
}

/// The documented blend rule, written out independently: (a*(256-w) + b*w + 128) >> 8.
func expectedBlend(_ a: [[Int]], _ b: [[Int]], weight w: Int) -> [[Int]] {
    zip(a, b).map { ca, cb in zip(ca, cb).map { ($0 * (256 - w) + $1 * w + 128) >> 8 } }
}

func isInserted(_ b: UnsafeMutablePointer<GstBuffer>) -> Bool {
    precondition(gstReady)
    let caps = gst_caps_from_string("timestamp/x-mcvd-inserted")!
    defer { gst_caps_unref(caps) }
    return gst_buffer_get_reference_timestamp_meta(b, caps) != nil
}

func isDiscont(_ b: UnsafeMutablePointer<GstBuffer>) -> Bool {
    b.pointee.mini_object.flags & GST_BUFFER_FLAG_DISCONT.rawValue != 0
}

/// An output buffer, copied out of the pipeline.
struct Out {
    var pts: UInt, duration: UInt, offset: UInt
    var inserted: Bool, discont: Bool
    var size: Int
    var samples: [[Int]]
}

/// mcvd in a GstHarness: synchronous pushes, outputs collected from the harness sink pad, errors from a bus.
final class Harness {
    let h: UnsafeMutablePointer<GstHarness>
    let bus: UnsafeMutablePointer<GstBus>
    var info: GstVideoInfo
    var outInfo: GstVideoInfo

    init(_ props: [String: String] = [:], caps: String, sinkCaps: String? = nil) {
        precondition(gstReady)
        h = gst_harness_new("mcvd")
        bus = gst_bus_new()
        gst_element_set_bus(h.pointee.element, bus)
        for (k, v) in props { gst_util_set_object_arg(UnsafeMutableRawPointer(h.pointee.element).assumingMemoryBound(to: GObject.self), k, v) }
        if let sinkCaps { gst_harness_set_sink_caps_str(h, sinkCaps) }
        info = videoInfo(caps)
        outInfo = info
        gst_harness_set_src_caps_str(h, caps)
    }

    deinit {
        gst_harness_teardown(h)
        gst_object_unref(bus)
    }

    @discardableResult
    func push(seed: UInt64, pts: UInt, duration: UInt = none, discont: Bool = false) -> GstFlowReturn {
        let b = makeFrame(info, seed: seed, pts: pts, duration: duration)
        if discont { b.pointee.mini_object.flags |= GST_BUFFER_FLAG_DISCONT.rawValue }
        return gst_harness_push(h, b)
    }

    func event(_ e: UnsafeMutablePointer<GstEvent>) -> Bool { gst_harness_push_event(h, e) != 0 }

    func setCaps(_ caps: String) {
        info = videoInfo(caps)
        let c = gst_caps_from_string(caps)!
        _ = event(gst_event_new_caps(c))
        gst_caps_unref(c)
    }

    func segment(start: UInt) {
        var seg = GstSegment()
        gst_segment_init(&seg, GST_FORMAT_TIME)
        seg.start = start
        seg.time = start
        _ = event(gst_event_new_segment(&seg))
    }

    /// Pulls every buffer queued at the harness sink, refreshing the output info from caps events.
    func pullAll() -> [Out] {
        var outs: [Out] = []
        while let b = gst_harness_try_pull(h) {
            if let caps = gst_pad_get_current_caps(h.pointee.sinkpad) {
                gst_video_info_from_caps(&outInfo, caps)
                gst_caps_unref(caps)
            }
            // Buffers drained before a caps change still have the old size: report no samples for them.
            let fits = gst_buffer_get_video_meta(b) != nil || gst_buffer_get_size(b) == outInfo.size
            outs.append(Out(pts: b.pointee.pts, duration: b.pointee.duration, offset: b.pointee.offset,
                            inserted: isInserted(b), discont: isDiscont(b), size: Int(gst_buffer_get_size(b)),
                            samples: fits ? componentSamples(b, outInfo) : []))
            gst_buffer_unref(b)
        }
        return outs
    }

    /// The current output caps' frame rate.
    var outRate: (Int32, Int32) {
        guard let caps = gst_pad_get_current_caps(h.pointee.sinkpad) else { return (0, 0) }
        defer { gst_caps_unref(caps) }
        var n: Int32 = 0, d: Int32 = 0
        gst_structure_get_fraction(gst_caps_get_structure(caps, 0), "framerate", &n, &d)
        return (n, d)
    }

    /// Text of the first error message posted, if any.
    func error() -> String? {
        guard let m = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR) else { return nil }
        defer { gst_message_unref(m) }
        var err: UnsafeMutablePointer<GError>?
        var dbg: UnsafeMutablePointer<gchar>?
        gst_message_parse_error(m, &err, &dbg)
        defer { g_error_free(err); g_free(dbg) }
        return String(cString: err!.pointee.message)
    }

    /// Texts of every warning message posted so far.
    func warnings() -> [String] {
        var out: [String] = []
        while let m = gst_bus_pop_filtered(bus, GST_MESSAGE_WARNING) {
            var err: UnsafeMutablePointer<GError>?
            var dbg: UnsafeMutablePointer<gchar>?
            gst_message_parse_warning(m, &err, &dbg)
            out.append(String(cString: err!.pointee.message))
            g_error_free(err); g_free(dbg)
            gst_message_unref(m)
        }
        return out
    }

    /// A read-only uint64 counter property (frames-in, frames-dropped, ...).
    func counter(_ name: String) -> UInt {
        var v = GValue()
        g_value_init(&v, GType(11 << 2))  // G_TYPE_UINT64
        defer { g_value_unset(&v) }
        g_object_get_property(UnsafeMutableRawPointer(h.pointee.element).assumingMemoryBound(to: GObject.self), name, &v)
        return g_value_get_uint64(&v)
    }

    func samples(seed: UInt64) -> [[Int]] {
        let b = makeFrame(info, seed: seed)
        defer { gst_buffer_unref(b) }
        return componentSamples(b, info)
    }
}

/// Runs a gst-launch style description whose last element is `appsink name=sink`, returning buffers (pts,
/// duration, inserted) or the first error. `feed` may push into `appsrc name=src`.
func runPipeline(_ description: String, timeout: Double = 60,
                 feed: ((UnsafeMutablePointer<GstElement>) -> Void)? = nil) throws -> [Out] {
    precondition(gstReady)
    var err: UnsafeMutablePointer<GError>?
    guard let pipe = gst_parse_launch(description, &err) else {
        defer { g_error_free(err) }
        throw PipelineError(message: String(cString: err!.pointee.message))
    }
    if let err { defer { g_error_free(err) }; throw PipelineError(message: String(cString: err.pointee.message)) }
    defer { gst_element_set_state(pipe, GST_STATE_NULL); gst_object_unref(pipe) }
    let bin = UnsafeMutableRawPointer(pipe).assumingMemoryBound(to: GstBin.self)
    let sink = gst_bin_get_by_name(bin, "sink")!
    defer { gst_object_unref(sink) }
    gst_element_set_state(pipe, GST_STATE_PLAYING)
    if let feed, let src = gst_bin_get_by_name(bin, "src") {
        feed(src)
        gst_object_unref(src)
    }
    let appsink = UnsafeMutableRawPointer(sink).assumingMemoryBound(to: GstAppSink.self)
    var outs: [Out] = []
    let bus = gst_element_get_bus(pipe)!
    defer { gst_object_unref(bus) }
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if let m = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR) {
            defer { gst_message_unref(m) }
            var e: UnsafeMutablePointer<GError>?
            var dbg: UnsafeMutablePointer<gchar>?
            gst_message_parse_error(m, &e, &dbg)
            defer { g_error_free(e); g_free(dbg) }
            throw PipelineError(message: String(cString: e!.pointee.message))
        }
        guard let sample = gst_app_sink_try_pull_sample(appsink, 100_000_000) else {
            if gst_app_sink_is_eos(appsink) != 0 { return outs }
            continue
        }
        defer { gst_sample_unref(sample) }
        let b = gst_sample_get_buffer(sample)!
        var info = GstVideoInfo()
        gst_video_info_from_caps(&info, gst_sample_get_caps(sample))
        outs.append(Out(pts: b.pointee.pts, duration: b.pointee.duration, offset: b.pointee.offset,
                        inserted: isInserted(b), discont: isDiscont(b), size: Int(gst_buffer_get_size(b)),
                        samples: componentSamples(b, info)))
    }
    throw PipelineError(message: "timeout after \(timeout) s with \(outs.count) buffers")
}

/// Plays a launch line (e.g. one that writes a file) to EOS, or throws its first error.
func playToEOS(_ description: String, timeout: UInt = 60 * second) throws {
    precondition(gstReady)
    var err: UnsafeMutablePointer<GError>?
    guard let pipe = gst_parse_launch(description, &err), err == nil else {
        defer { g_error_free(err) }
        throw PipelineError(message: err.map { String(cString: $0.pointee.message) } ?? "cannot parse \(description)")
    }
    defer { gst_element_set_state(pipe, GST_STATE_NULL); gst_object_unref(pipe) }
    gst_element_set_state(pipe, GST_STATE_PLAYING)
    let bus = gst_element_get_bus(pipe)!
    defer { gst_object_unref(bus) }
    let types = GstMessageType(rawValue: GST_MESSAGE_ERROR.rawValue | GST_MESSAGE_EOS.rawValue)
    guard let m = gst_bus_timed_pop_filtered(bus, timeout, types) else { throw PipelineError(message: "timeout: \(description)") }
    defer { gst_message_unref(m) }
    if m.pointee.type == GST_MESSAGE_ERROR {
        var e: UnsafeMutablePointer<GError>?
        gst_message_parse_error(m, &e, nil)
        defer { g_error_free(e) }
        throw PipelineError(message: String(cString: e!.pointee.message))
    }
}

/// Runs `/usr/bin/env args` (optionally in `directory`) with the test's environment plus `extra`;
/// (status, stdout + stderr).
func runTool(_ args: [String], env extra: [String: String] = [:], in directory: URL? = nil) throws -> (Int32, String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = args
    if let directory { p.currentDirectoryURL = directory }
    var env = ProcessInfo.processInfo.environment
    for (k, v) in extra { env[k] = v }
    p.environment = env
    let pipe = Pipe()
    p.standardOutput = pipe
    p.standardError = pipe
    try p.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: data, as: UTF8.self))
}

struct PipelineError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}
