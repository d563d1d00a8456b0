// Where Swift meets raw GStreamer C: macro replacements (refcounts, flags, writability), logging into
// the `mcvd` debug category, element errors, caps helpers and video-frame mapping. Everything else in
// the module goes through these small functions.
import CGStreamer
import CGstMcvd

typealias BufferPtr = UnsafeMutablePointer<GstBuffer>
typealias CapsPtr = UnsafeMutablePointer<GstCaps>
typealias EventPtr = UnsafeMutablePointer<GstEvent>

@inline(__always) func miniObject<T>(_ p: UnsafeMutablePointer<T>) -> UnsafeMutablePointer<GstMiniObject> {
    UnsafeMutableRawPointer(p).assumingMemoryBound(to: GstMiniObject.self)
}

func bufferRef(_ b: BufferPtr) -> BufferPtr { gst_buffer_ref(b) }
func bufferUnref(_ b: BufferPtr) { gst_buffer_unref(b) }
func capsUnref(_ c: CapsPtr) { gst_caps_unref(c) }

/// gst_buffer_make_writable: consumes `b`, returns a buffer whose metadata may be changed (memory shared).
func bufferMakeWritable(_ b: BufferPtr) -> BufferPtr {
    UnsafeMutableRawPointer(gst_mini_object_make_writable(miniObject(b))).assumingMemoryBound(to: GstBuffer.self)
}

func capsMakeWritable(_ c: CapsPtr) -> CapsPtr {
    UnsafeMutableRawPointer(gst_mini_object_make_writable(miniObject(c))).assumingMemoryBound(to: GstCaps.self)
}

func bufferHasFlag(_ b: BufferPtr, _ f: GstBufferFlags) -> Bool { b.pointee.mini_object.flags & f.rawValue != 0 }
func bufferSetFlag(_ b: BufferPtr, _ f: GstBufferFlags) { b.pointee.mini_object.flags |= f.rawValue }
func bufferClearFlag(_ b: BufferPtr, _ f: GstBufferFlags) { b.pointee.mini_object.flags &= ~f.rawValue }

// MARK: logging and errors

enum LogLevel { case error, warning, info, debug, log
    var gst: GstDebugLevel {
        switch self {
        case .error: GST_LEVEL_ERROR
        case .warning: GST_LEVEL_WARNING
        case .info: GST_LEVEL_INFO
        case .debug: GST_LEVEL_DEBUG
        case .log: GST_LEVEL_LOG
        }
    }
}

func gstLog(_ level: LogLevel, _ object: UnsafeMutablePointer<GstElement>?, _ message: @autoclosure () -> String,
            function: String = #function, line: Int = #line) {
    guard let cat = gst_mcvd_debug_category(), level.gst.rawValue <= gst_debug_category_get_threshold(cat).rawValue
    else { return }
    let obj = object.map { UnsafeMutableRawPointer($0).assumingMemoryBound(to: GObject.self) }
    gst_debug_log_literal(cat, level.gst, "McvdFilter.swift", function, Int32(line), obj, message())
}

/// GST_ELEMENT_ERROR: posts an error message on the bus. `code` is a GstStreamError/GstCoreError value.
func postError(_ element: UnsafeMutablePointer<GstElement>, domain: GQuark, code: Int32, _ text: String,
               debug: String? = nil, function: String = #function, line: Int = #line) {
    gstLog(.error, element, text + (debug.map { " (\($0))" } ?? ""), function: function, line: line)
    let t = g_strdup(text)
    let d = debug.flatMap { g_strdup($0) }
    gst_element_message_full(element, GST_MESSAGE_ERROR, domain, code, t, d, "McvdFilter.swift", function, Int32(line))
}

/// GST_ELEMENT_WARNING: posts a warning message on the bus (gst-launch prints it).
func postWarning(_ element: UnsafeMutablePointer<GstElement>, _ text: String,
                 function: String = #function, line: Int = #line) {
    gstLog(.warning, element, text, function: function, line: line)
    gst_element_message_full(element, GST_MESSAGE_WARNING, gst_stream_error_quark(),
                             Int32(GST_STREAM_ERROR_FAILED.rawValue), g_strdup(text), nil, "McvdFilter.swift",
                             function, Int32(line))
}

func postStreamError(_ element: UnsafeMutablePointer<GstElement>, _ code: GstStreamError, _ text: String,
                     debug: String? = nil, function: String = #function, line: Int = #line) {
    postError(element, domain: gst_stream_error_quark(), code: Int32(code.rawValue), text, debug: debug,
              function: function, line: line)
}

func postCoreError(_ element: UnsafeMutablePointer<GstElement>, _ code: GstCoreError, _ text: String,
                   debug: String? = nil, function: String = #function, line: Int = #line) {
    postError(element, domain: gst_core_error_quark(), code: Int32(code.rawValue), text, debug: debug,
              function: function, line: line)
}

// MARK: caps

func capsString(_ caps: CapsPtr?) -> String {
    guard let caps, let s = gst_caps_to_string(caps) else { return "(none)" }
    defer { g_free(s) }
    return String(cString: s)
}

/// A copy of `caps` with the framerate field removed from every structure (any frame rate).
func capsWithoutFramerate(_ caps: CapsPtr) -> CapsPtr {
    let c = gst_caps_copy(caps)!
    for i in 0..<gst_caps_get_size(c) {
        gst_structure_remove_field(gst_caps_get_structure(c, i), "framerate")
    }
    return c
}

func setFraction(_ s: UnsafeMutablePointer<GstStructure>?, _ field: String, _ f: Fraction) {
    var v = GValue()
    g_value_init(&v, gst_fraction_get_type())
    gst_value_set_fraction(&v, f.n, f.d)
    gst_structure_set_value(s, field, &v)
    g_value_unset(&v)
}

func getFraction(_ s: UnsafeMutablePointer<GstStructure>?, _ field: String) -> Fraction? {
    var n: Int32 = 0, d: Int32 = 0
    guard gst_structure_get_fraction(s, field, &n, &d) != 0 else { return nil }
    return Fraction(n: n, d: d)
}

// MARK: video frames

/// Reads element i of a homogeneous C fixed-size array (imported as a tuple).
@inline(__always) func tupleElement<Tuple, T>(_ tuple: Tuple, _ i: Int, as: T.Type) -> T {
    withUnsafeBytes(of: tuple) { $0.load(fromByteOffset: i * MemoryLayout<T>.stride, as: T.self) }
}

/// A mapped GstVideoFrame; unmap() must be called exactly once.
struct MappedFrame {
    var frame = GstVideoFrame()

    init?(_ info: inout GstVideoInfo, _ buffer: BufferPtr, write: Bool) {
        let flags = write ? GST_MAP_WRITE : GST_MAP_READ
        guard gst_video_frame_map(&frame, &info, buffer, flags) != 0 else { return nil }
    }

    mutating func unmap() { gst_video_frame_unmap(&frame) }

    /// The planes with the byte extent of their real samples (padding in strides excluded).
    var planes: VideoPlanes {
        let info = frame.info
        let finfo = info.finfo!.pointee
        let nPlanes = Int(finfo.n_planes)
        var p = VideoPlanes(data: [], strides: [], rowBytes: [], rows: [], bytesPerSample: finfo.bits > 8 ? 2 : 1)
        for plane in 0..<nPlanes {
            // Widest extent over the components stored in this plane (NV12's UV plane holds two).
            var rowBytes = 0, rows = 0
            for c in 0..<Int(finfo.n_components) where Int(tupleElement(finfo.plane, c, as: UInt32.self)) == plane {
                let wsub = Int(tupleElement(finfo.w_sub, c, as: UInt32.self))
                let hsub = Int(tupleElement(finfo.h_sub, c, as: UInt32.self))
                let pstride = Int(tupleElement(finfo.pixel_stride, c, as: Int32.self))
                let poff = Int(tupleElement(finfo.poffset, c, as: UInt32.self))
                let w = -((-Int(info.width)) >> wsub), h = -((-Int(info.height)) >> hsub)
                let bytesPerComp = (Int(finfo.bits) + 7) / 8
                rowBytes = max(rowBytes, (w - 1) * pstride + poff + bytesPerComp)
                rows = max(rows, h)
            }
            // Packed RGB-like formats: round the extent up to whole pixels (includes x/alpha bytes).
            let c0 = (0..<Int(finfo.n_components)).first { Int(tupleElement(finfo.plane, $0, as: UInt32.self)) == plane } ?? 0
            let pstride0 = Int(tupleElement(finfo.pixel_stride, c0, as: Int32.self))
            if pstride0 > 0 { rowBytes = ((rowBytes + pstride0 - 1) / pstride0) * pstride0 }
            p.data.append(tupleElement(frame.data, plane, as: UnsafeMutableRawPointer.self))
            p.strides.append(Int(tupleElement(info.stride, plane, as: Int32.self)))
            p.rowBytes.append(rowBytes)
            p.rows.append(rows)
        }
        return p
    }
}
