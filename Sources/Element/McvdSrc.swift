// The mcvdsrc element: unconditional video generation as a GstPushSrc. The first block of the model's
// n frames comes from nothing, each next block is predicted from the frames before it (MCVDKit's
// Rollout, the same frames as Generator.generate). Frame i is a function of (model, seed, settings, size)
// alone: it gets PTS i / rate, and a seek to time t restarts or runs on to frame ceil(t x rate).
// Threading: create, set_caps and do_seek run on the streaming thread or with streaming stopped (the run
// is behind a lock held while a frame is made); unlock comes from any thread and only raises a flag the
// sampler checks after each step; properties come from any thread.
import CGStreamer
import CGstMcvd
import Diffusion
import MCVDKit
import Synchronization
import Tensor

/// Thrown by the sampler's progress callback when unlock() asks the streaming thread to stop.
struct SourceCancelled: Error {}

/// Built at start (the model) and on caps (the generator); dropped at stop.
struct SourceRun {
    var settings = DiffusionSettings()
    var model: Model?
    var info = GstVideoInfo()
    var format: PixelFormat?
    var colour = ColourSpace()
    var rate = Fraction(n: 0, d: 1)
    var generator: Generator?
    var rollout: Rollout?
    /// The block rolled out last; pending[0] is frame `pendingStart`.
    var pending: [[Float]] = []
    var pendingStart = 0
    /// The next frame to push; nil until caps give the rate to turn `seekTime` into an index.
    var next: Int?
    var seekTime: UInt = 0

    mutating func restartRollout() {
        rollout = generator.map { Rollout(generator: $0) }
        pending = []
        pendingStart = 0
    }
}

final class McvdSrc: @unchecked Sendable {
    let element: UnsafeMutablePointer<GstElement>
    let settings = Mutex(DiffusionSettings())
    let run = Mutex(SourceRun())
    /// The model loaded at start, also for caps queries from other threads while `run` is held by create.
    let loadedModel = Mutex<Model?>(nil)
    let cancelled = Atomic<Bool>(false)
    let framesGenerated = Atomic<UInt>(0)

    init(_ src: UnsafeMutablePointer<GstMcvdSrc>) {
        element = UnsafeMutableRawPointer(src).assumingMemoryBound(to: GstElement.self)
    }

    var baseSrc: UnsafeMutablePointer<GstBaseSrc> { UnsafeMutableRawPointer(element).assumingMemoryBound(to: GstBaseSrc.self) }

    func postSettingsError(_ text: String) {
        postError(element, domain: gst_library_error_quark(), code: Int32(GST_LIBRARY_ERROR_SETTINGS.rawValue), text)
    }

    // MARK: properties (any thread)

    func setProperty(_ id: UInt32, _ value: UnsafePointer<GValue>) {
        settings.withLock { s in
            switch GstMcvdSrcProp(id) {
            case GST_MCVD_SRC_PROP_MODEL: s.model = g_value_get_string(value).map { String(cString: $0) } ?? ""
            case GST_MCVD_SRC_PROP_SEED: s.seed = UInt64(g_value_get_uint64(value))
            case GST_MCVD_SRC_PROP_STEPS: s.steps = Int(g_value_get_int(value))
            case GST_MCVD_SRC_PROP_SAMPLER: s.sampler = g_value_get_enum(value) == 0 ? .ddpm : .ddim
            case GST_MCVD_SRC_PROP_ETA: s.eta = g_value_get_double(value)
            case GST_MCVD_SRC_PROP_THREADS: s.threads = Int(g_value_get_int(value))
            default: gstLog(.warning, element, "unknown property id \(id)"); return
            }
            gstLog(.info, element, "mcvdsrc settings: \(s)")
        }
    }

    func getProperty(_ id: UInt32, _ value: UnsafeMutablePointer<GValue>) {
        let s = settings.withLock { $0 }
        switch GstMcvdSrcProp(id) {
        case GST_MCVD_SRC_PROP_MODEL: g_value_set_string(value, s.model)
        case GST_MCVD_SRC_PROP_SEED: g_value_set_uint64(value, UInt(s.seed))
        case GST_MCVD_SRC_PROP_STEPS: g_value_set_int(value, Int32(s.steps))
        case GST_MCVD_SRC_PROP_SAMPLER: g_value_set_enum(value, s.sampler == .ddpm ? 0 : 1)
        case GST_MCVD_SRC_PROP_ETA: g_value_set_double(value, s.eta)
        case GST_MCVD_SRC_PROP_THREADS: g_value_set_int(value, Int32(s.threads))
        case GST_MCVD_SRC_PROP_FRAMES_GENERATED: g_value_set_uint64(value, framesGenerated.load(ordering: .relaxed))
        default: gstLog(.warning, element, "unknown property id \(id)")
        }
    }

    // MARK: start / stop (READY <-> PAUSED, streaming stopped)

    /// Loads and checks the model, so that a bad model or setting fails the state change before data flows.
    static func load(_ s: DiffusionSettings, numBuffers: Int) throws -> Model {
        let model: Model
        if DefaultModel.isDefault(s.model) {
            do { model = try Model(pathOrDefault: s.model, task: .generate) } catch {
                throw DiffusionError("mcvdsrc with no model file: \(error)")
            }
        } else {
            do { model = try Model(path: s.model) } catch {
                throw DiffusionError("Cannot use model file \(s.model): \(error). Give mcvdsrc a model file that `mcvd train` "
                                     + "or `mcvd export` wrote.")
            }
        }
        do { try model.checkGeneration(count: numBuffers < 0 ? nil : numBuffers) } catch {
            throw DiffusionError("Model \(s.model) cannot generate video: \(error)"
                                 + (numBuffers < 0 ? " (num-buffers=-1 asks for an endless video)" : ""))
        }
        let steps = s.steps == 0 ? model.defaultSteps : s.steps
        guard steps <= model.config.diffusion.numSteps else {
            throw DiffusionError("steps=\(steps) exceeds the model's \(model.config.diffusion.numSteps) noise levels "
                                 + "(\(s.model)); set steps between 1 and \(model.config.diffusion.numSteps)")
        }
        return model
    }

    func start() -> Bool {
        let s = settings.withLock { $0 }
        framesGenerated.store(0, ordering: .relaxed)
        let model: Model
        do { model = try Self.load(s, numBuffers: Int(baseSrc.pointee.num_buffers)) } catch {
            postSettingsError("\(error)")
            return false
        }
        gstLog(.info, element, "mcvdsrc: \(model.summary), \(s.sampling)")
        run.withLock { r in
            r = SourceRun()
            r.settings = s
            r.model = model
        }
        loadedModel.withLock { $0 = model }
        return true
    }

    func stop() -> Bool {
        run.withLock { $0 = SourceRun() }
        loadedModel.withLock { $0 = nil }
        return true
    }

    // MARK: caps

    /// Formats in order of preference: the model's own colour first (GRAY8 for 1 channel, RGB for 3).
    static func formats(channels: Int) -> [PixelFormat] {
        let order: [PixelFormat.Family] = channels == 1 ? [.gray, .yuv, .rgb] : [.rgb, .yuv, .gray]
        return order.flatMap { f in PixelFormat.allCases.filter { $0.family == f } }
    }

    /// Any thread. Before start: the template; after: the model's formats, sizes in multiples of its size
    /// multiple.
    func getCaps(_ filter: CapsPtr?) -> CapsPtr {
        let model = loadedModel.withLock { $0 }
        let caps: CapsPtr
        if let model {
            let m = model.sizeMultiple, top = 4096 / m * m
            let formats = Self.formats(channels: model.channels).map(\.name).joined(separator: ", ")
            caps = gst_caps_from_string("video/x-raw, format=(string){ \(formats) }, width=(int)[ \(m), \(top), \(m) ], "
                                        + "height=(int)[ \(m), \(top), \(m) ], framerate=(fraction)[ 1/2147483647, 2147483647/1 ], "
                                        + "pixel-aspect-ratio=(fraction)1/1")!
        } else {
            caps = gst_pad_get_pad_template_caps(baseSrc.pointee.srcpad)
        }
        guard let filter else { return caps }
        defer { capsUnref(caps) }
        return gst_caps_intersect_full(filter, caps, GST_CAPS_INTERSECT_FIRST)
    }

    /// The model's own size and colour, 30/1.
    func fixate(_ caps: CapsPtr) -> CapsPtr {
        let model = loadedModel.withLock { $0 }
        let c = gst_caps_truncate(capsMakeWritable(caps))!
        let s = gst_caps_get_structure(c, 0)
        if let model {
            _ = gst_structure_fixate_field_nearest_int(s, "width", Int32(model.imageSize))
            _ = gst_structure_fixate_field_nearest_int(s, "height", Int32(model.imageSize))
            _ = gst_structure_fixate_field_string(s, "format", Self.formats(channels: model.channels)[0].name)
        }
        _ = gst_structure_fixate_field_nearest_fraction(s, "framerate", 30, 1)
        return gst_caps_fixate(c)
    }

    /// Streaming thread (negotiation). A new size restarts the rollout (frames are regenerated up to the
    /// current position: frame i depends on the size).
    func setCaps(_ caps: CapsPtr) -> Bool {
        var info = GstVideoInfo()
        guard gst_video_info_from_caps(&info, caps) != 0 else {
            postStreamError(element, GST_STREAM_ERROR_FORMAT, "mcvdsrc cannot use caps \(capsString(caps))")
            return false
        }
        let name = String(cString: gst_video_format_to_string(info.finfo.pointee.format))
        let w = Int(info.width), h = Int(info.height)
        let ok: Bool = run.withLock { r in
            guard let model = r.model else { return false }
            guard let format = PixelFormat(name: name) else {
                postStreamError(element, GST_STREAM_ERROR_FORMAT, "mcvdsrc cannot write \(name) frames"); return false
            }
            guard info.fps_n > 0, info.fps_d > 0 else {
                postStreamError(element, GST_STREAM_ERROR_FORMAT, "mcvdsrc needs a frame rate above 0 (caps \(capsString(caps)))")
                return false
            }
            guard w * h <= DiffusionEngine.maxPixels else {
                postSettingsError("mcvdsrc runs the model on the whole frame, at most \(DiffusionEngine.maxPixels) pixels; "
                                  + "downstream asks for \(w)x\(h). Ask for a smaller size (the model's own is "
                                  + "\(model.imageSize)x\(model.imageSize)) and scale after mcvdsrc (videoscale).")
                return false
            }
            if r.generator?.width != w || r.generator?.height != h {
                do {
                    r.generator = try Generator(model: model, height: h, width: w, settings: r.settings.sampling)
                } catch {
                    postSettingsError("Model \(model.source) with \(r.settings): \(error)")
                    return false
                }
                r.restartRollout()
            }
            r.info = info
            r.format = format
            r.colour = DiffusionEngine.colourSpace(info)
            let rate = Fraction(n: info.fps_n, d: info.fps_d)
            if rate != r.rate, let next = r.next {
                // Keep the stream time: the frame at the current time under the new rate.
                r.seekTime = frameTime(next, r.rate)
                r.next = nil
            }
            r.rate = rate
            gstLog(.info, element, "mcvdsrc: \(w)x\(h) \(name) at \(rate), \(r.generator!.steps) step(s) per block of \(model.frames)")
            return true
        }
        return ok
    }

    /// PTS of frame i at `rate`: i / rate, from the index (no drift).
    func frameTime(_ i: Int, _ rate: Fraction) -> UInt {
        gst_util_uint64_scale(UInt(i), nsPerSecond * UInt(rate.d), UInt(rate.n))
    }

    // MARK: seeking, unlocking

    /// With streaming stopped: the first frame at or after the segment's start comes next.
    func doSeek(_ segment: UnsafeMutablePointer<GstSegment>) -> Bool {
        guard segment.pointee.format == GST_FORMAT_TIME, segment.pointee.rate > 0 else {
            gstLog(.warning, element, "mcvdsrc plays forwards in TIME only; seek refused")
            return false
        }
        let start = segment.pointee.start
        segment.pointee.time = start
        segment.pointee.position = start
        run.withLock { r in
            r.seekTime = start
            r.next = nil
        }
        gstLog(.info, element, "mcvdsrc: seek to \(start) ns")
        return true
    }

    /// Any thread: make create() return FLUSHING soon (after the sampler step under way).
    func unlock() -> Bool { cancelled.store(true, ordering: .sequentiallyConsistent); return true }
    func unlockStop() -> Bool { cancelled.store(false, ordering: .sequentiallyConsistent); return true }

    // MARK: create (streaming thread)

    func create(_ out: UnsafeMutablePointer<UnsafeMutablePointer<GstBuffer>?>) -> GstFlowReturn {
        if cancelled.load(ordering: .sequentiallyConsistent) { return GST_FLOW_FLUSHING }
        return run.withLock { r -> GstFlowReturn in
            guard let model = r.model, let generator = r.generator, let format = r.format, r.rate.n > 0 else {
                postStreamError(element, GST_STREAM_ERROR_FAILED, "mcvdsrc: no caps negotiated"); return GST_FLOW_NOT_NEGOTIATED
            }
            let index = r.next ?? Int(gst_util_uint64_scale_ceil(r.seekTime, UInt(r.rate.n), nsPerSecond * UInt(r.rate.d)))
            let planar: [Float]
            do {
                generator.progress = { [unowned self] _, _, _ in
                    if self.cancelled.load(ordering: .relaxed) { throw SourceCancelled() }
                }
                defer { generator.progress = nil }
                planar = try frame(index, in: &r, threads: r.settings.engineThreads)
            } catch is SourceCancelled {
                return GST_FLOW_FLUSHING
            } catch {
                postStreamError(element, GST_STREAM_ERROR_FAILED, "mcvdsrc: generating frame \(index) failed: \(error)")
                return GST_FLOW_ERROR
            }
            var info = r.info
            guard let buffer = gst_buffer_new_allocate(nil, info.size, nil) else {
                postCoreError(element, GST_CORE_ERROR_FAILED, "mcvdsrc: out of memory for a \(info.size)-byte frame")
                return GST_FLOW_ERROR
            }
            _ = gst_buffer_memset(buffer, 0, 0, info.size)  // stride padding and unused bytes: the same on every run
            do {
                guard var mapped = MappedFrame(&info, buffer, write: true) else { throw DiffusionError("cannot map an output frame") }
                defer { mapped.unmap() }
                try mapped.view(format: format, colour: r.colour).write(planar, channels: model.channels, range: model.range)
            } catch {
                bufferUnref(buffer)
                postStreamError(element, GST_STREAM_ERROR_FAILED, "mcvdsrc: writing frame \(index) failed: \(error)")
                return GST_FLOW_ERROR
            }
            let pts = frameTime(index, r.rate)
            buffer.pointee.pts = pts
            buffer.pointee.dts = pts
            buffer.pointee.duration = frameTime(index + 1, r.rate) - pts
            buffer.pointee.offset = UInt(index)
            buffer.pointee.offset_end = UInt(index + 1)
            r.next = index + 1
            out.pointee = buffer
            return GST_FLOW_OK
        }
    }

    /// Frame `index` of the rollout (planar, the model's range): blocks before it are generated and
    /// dropped; an index before the current block restarts the rollout from frame 0.
    func frame(_ index: Int, in r: inout SourceRun, threads: Int) throws -> [Float] {
        if index < r.pendingStart { r.restartRollout() }
        while index >= r.pendingStart + r.pending.count {
            guard let rollout = r.rollout else { throw DiffusionError("no generator") }
            let block = try Engine.$threadsInTask.withValue(threads) { try rollout.next() }
            r.pendingStart += r.pending.count
            r.pending = block
            _ = framesGenerated.wrappingAdd(UInt(block.count), ordering: .relaxed)
        }
        return r.pending[index - r.pendingStart]
    }
}

extension MappedFrame {
    /// The mapped planes as MCVDKit's FrameView.
    mutating func view(format: PixelFormat, colour: ColourSpace) throws -> FrameView {
        let planes = (0..<format.planeCount).map { p in
            FramePlane(data: tupleElement(frame.data, p, as: UnsafeMutableRawPointer.self),
                       stride: Int(tupleElement(frame.info.stride, p, as: Int32.self)))
        }
        return try FrameView(format: format, width: Int(frame.info.width), height: Int(frame.info.height),
                             planes: planes, colour: colour)
    }
}

// MARK: the callback table

@inline(__always) private func source(_ impl: UnsafeMutableRawPointer?) -> McvdSrc {
    Unmanaged<McvdSrc>.fromOpaque(impl!).takeUnretainedValue()
}

@_cdecl("gst_mcvd_src_swift_install")
public func gstMcvdSrcSwiftInstall(_ table: UnsafeMutablePointer<GstMcvdSrcCallbacks>) {
    table.pointee.create = { element in UnsafeMutableRawPointer(Unmanaged.passRetained(McvdSrc(element!)).toOpaque()) }
    table.pointee.destroy = { impl in Unmanaged<McvdSrc>.fromOpaque(impl!).release() }
    table.pointee.set_property = { impl, id, value in source(impl).setProperty(id, value!) }
    table.pointee.get_property = { impl, id, value in source(impl).getProperty(id, value!) }
    table.pointee.start = { impl in source(impl).start() ? 1 : 0 }
    table.pointee.stop = { impl in source(impl).stop() ? 1 : 0 }
    table.pointee.get_caps = { impl, filter in source(impl).getCaps(filter) }
    table.pointee.fixate = { impl, caps in source(impl).fixate(caps!) }
    table.pointee.set_caps = { impl, caps in source(impl).setCaps(caps!) ? 1 : 0 }
    table.pointee.do_seek = { impl, segment in source(impl).doSeek(segment!) ? 1 : 0 }
    table.pointee.unlock = { impl in source(impl).unlock() ? 1 : 0 }
    table.pointee.unlock_stop = { impl in source(impl).unlockStop() ? 1 : 0 }
    table.pointee.fill = { impl, buffer in source(impl).create(buffer!) }
}
