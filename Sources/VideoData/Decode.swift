// Decodes a video file through GStreamer (any container/codec decodebin reads) into 8-bit frames
// scaled to a training height (aspect kept, square pixels), gray or RGB. The dataset (Dataset.swift)
// cuts clips from these; nothing here knows about the model.
import CGStreamer
import CGStreamerApp
import Foundation

/// Frames of one video, each `width*height*channels` bytes, rows packed, channels interleaved (HWC).
public struct DecodedVideo: Sendable {
    public let path: String
    public let width: Int, height: Int, channels: Int
    /// Frame rate as numerator/denominator (0/1 when the stream does not say).
    public let rateN: Int32, rateD: Int32
    public var frames: [[UInt8]]
    public var frameBytes: Int { width * height * channels }

    public init(path: String, width: Int, height: Int, channels: Int, rateN: Int32, rateD: Int32, frames: [[UInt8]]) {
        precondition(frames.allSatisfy { $0.count == width * height * channels }, "frame size does not match \(width)x\(height)x\(channels)")
        self.path = path; self.width = width; self.height = height; self.channels = channels
        self.rateN = rateN; self.rateD = rateD; self.frames = frames
    }
}

public struct VideoDecodeError: Error, CustomStringConvertible {
    public let path: String
    public let message: String
    public var description: String { "\(path): \(message)" }
}

private let gstInitialised: Bool = {
    gst_init(nil, nil)
    return true
}()

/// Decodes `path`, scaling every frame to `height` rows (width from the display aspect ratio, even;
/// nil: the stream's own size, e.g. a still image at full resolution), `channels` 1 (GRAY8) or 3 (RGB). Stops after `maxFrames` when given. Throws VideoDecodeError for a
/// missing, unreadable or frameless file, or when decoding takes longer than `timeout` seconds.
public func decodeVideo(path: String, height: Int?, channels: Int, maxFrames: Int? = nil,
                        timeout: Double = 600) throws -> DecodedVideo {
    precondition(gstInitialised)
    precondition(channels == 1 || channels == 3, "channels must be 1 or 3")
    guard FileManager.default.isReadableFile(atPath: path) else {
        throw VideoDecodeError(path: path, message: "no such readable file")
    }
    let format = channels == 1 ? "GRAY8" : "RGB"
    let description = "filesrc name=src ! decodebin ! videoconvert ! videoscale add-borders=false ! "
        + "video/x-raw,format=\(format),pixel-aspect-ratio=1/1\(height.map { ",height=\($0)" } ?? "") ! "
        + "appsink name=sink sync=false max-buffers=8"
    var err: UnsafeMutablePointer<GError>?
    guard let pipe = gst_parse_launch(description, &err) else {
        defer { g_error_free(err) }
        throw VideoDecodeError(path: path, message: String(cString: err!.pointee.message))
    }
    if let err { g_error_free(err) }
    defer {
        gst_element_set_state(pipe, GST_STATE_NULL)
        gst_object_unref(pipe)
    }
    let bin = UnsafeMutableRawPointer(pipe).assumingMemoryBound(to: GstBin.self)
    let src = gst_bin_get_by_name(bin, "src")!
    gst_util_set_object_arg(UnsafeMutableRawPointer(src).assumingMemoryBound(to: GObject.self), "location", path)
    gst_object_unref(src)
    let sinkElement = gst_bin_get_by_name(bin, "sink")!
    defer { gst_object_unref(sinkElement) }
    let sink = UnsafeMutableRawPointer(sinkElement).assumingMemoryBound(to: GstAppSink.self)
    let bus = gst_element_get_bus(pipe)!
    defer { gst_object_unref(bus) }

    gst_element_set_state(pipe, GST_STATE_PLAYING)
    var frames: [[UInt8]] = []
    var width = 0, decodedHeight = 0, rateN: Int32 = 0, rateD: Int32 = 1
    let deadline = Date().addingTimeInterval(timeout)
    while maxFrames.map({ frames.count < $0 }) ?? true {
        if let message = popError(bus) { throw VideoDecodeError(path: path, message: message) }
        guard Date() < deadline else { throw VideoDecodeError(path: path, message: "decoding timed out after \(timeout) s") }
        guard let sample = gst_app_sink_try_pull_sample(sink, 100_000_000) else {
            if gst_app_sink_is_eos(sink) != 0 { break }
            continue
        }
        defer { gst_sample_unref(sample) }
        var info = GstVideoInfo()
        guard let caps = gst_sample_get_caps(sample), gst_video_info_from_caps(&info, caps) != 0,
              let buffer = gst_sample_get_buffer(sample) else { continue }
        width = Int(info.width)
        decodedHeight = Int(info.height)
        rateN = info.fps_n; rateD = info.fps_d
        var frame = GstVideoFrame()
        guard gst_video_frame_map(&frame, &info, buffer, GST_MAP_READ) != 0 else {
            throw VideoDecodeError(path: path, message: "cannot map a decoded frame")
        }
        let rowBytes = width * channels
        let stride = Int(withUnsafeBytes(of: frame.info.stride) { $0.load(as: Int32.self) })
        let base = withUnsafeBytes(of: frame.data) { $0.load(as: UnsafeMutableRawPointer.self) }
        var bytes = [UInt8](repeating: 0, count: rowBytes * Int(info.height))
        bytes.withUnsafeMutableBytes { dst in
            for y in 0..<Int(info.height) {
                (dst.baseAddress! + y * rowBytes).copyMemory(from: base + y * stride, byteCount: rowBytes)
            }
        }
        gst_video_frame_unmap(&frame)
        frames.append(bytes)
    }
    if let message = popError(bus) { throw VideoDecodeError(path: path, message: message) }
    guard !frames.isEmpty else { throw VideoDecodeError(path: path, message: "no video frames decoded") }
    return DecodedVideo(path: path, width: width, height: decodedHeight, channels: channels, rateN: rateN, rateD: rateD,
                        frames: frames)
}

/// The first error on the bus, or a missing video decoder: decodebin posts a "missing-plugin" element
/// message for a stream it cannot decode (e.g. an AVI fourcc no plugin knows), and the error that should
/// follow does not always arrive (the pipeline can stall in preroll until the timeout), so that message
/// counts when its caps are video or image (a missing audio decoder does not matter here).
private func popError(_ bus: UnsafeMutablePointer<GstBus>) -> String? {
    var found: UnsafeMutablePointer<GstMessage>?
    while let m = gst_bus_pop_filtered(bus, GstMessageType(rawValue: GST_MESSAGE_ERROR.rawValue | GST_MESSAGE_ELEMENT.rawValue)) {
        if m.pointee.type == GST_MESSAGE_ERROR { found = m; break }
        if let s = gst_message_get_structure(m), gst_structure_has_name(s, "missing-plugin") != 0, missesVideo(s) {
            let name = gst_structure_get_string(s, "name").map { String(cString: $0) } ?? "a plugin"
            gst_message_unref(m)
            return "no decoder: GStreamer is missing \(name)"
        }
        gst_message_unref(m)
    }
    guard let m = found else { return nil }
    defer { gst_message_unref(m) }
    var e: UnsafeMutablePointer<GError>?
    var dbg: UnsafeMutablePointer<gchar>?
    gst_message_parse_error(m, &e, &dbg)
    defer { g_error_free(e); g_free(dbg) }
    return e.map { String(cString: $0.pointee.message) } ?? "unknown GStreamer error"
}

/// Whether a missing-plugin message's "detail" caps are video or image caps.
private func missesVideo(_ s: UnsafePointer<GstStructure>) -> Bool {
    guard let value = gst_structure_get_value(s, "detail"), let caps = gst_value_get_caps(value),
          gst_caps_get_size(caps) > 0, let first = gst_caps_get_structure(caps, 0),
          let name = gst_structure_get_name(first) else { return false }
    let media = String(cString: name)
    return media.hasPrefix("video/") || media.hasPrefix("image/")
}
