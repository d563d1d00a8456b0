// method=diffusion's model side: loading and checking the model (MCVDKit's Model) against the settings
// and the stream, and a frame's way to the model and back. Frame-size rule (README "The element"):
// MCVDKit's FrameGenerator with the `processing-size` property: frames taller than it go to the model
// area-averaged to about that many rows, and the model's correction over its base comes back upsampled
// over the base computed at full size; others (and processing-size=0) run at their own size, padded to
// the model's size multiple. A working size above `DiffusionEngine.maxPixels` is refused before data
// flows. Originals never go through here:
// only inserted frames are written, into a copy of the earlier neighbouring original, or for a 1-channel
// model over the motion base on a colour stream of method=motion's frame (DiffusionFilter.colourCanvas); a
// 1-channel model keeps that frame's colour and alpha (MCVDKit's `keepColour`).
import CGStreamer
import CGstMcvd
import Diffusion
import MCVDKit
import Glibc
import Tensor

/// An error whose text goes to the user as is (GST_ELEMENT_ERROR).
struct DiffusionError: Error, CustomStringConvertible {
    var message: String
    init(_ message: String) { self.message = message }
    var description: String { message }
}

/// A model loaded for a path, checked against the sampling settings (the mode's tasks: checkModelForMode).
struct LoadedModel {
    let path: String
    let model: Model

    /// Loads and checks; every error says what is wrong and what to do. An empty `model` is the built-in
    /// default model for `task` (MCVDKit's DefaultModel: its search order and the places it lists when none
    /// is found; mode=predict's own file first).
    static func load(_ settings: DiffusionSettings, task: Task) throws -> LoadedModel {
        let model: Model
        if DefaultModel.isDefault(settings.model) {
            do { model = try Model(pathOrDefault: settings.model, task: task) } catch {
                throw DiffusionError("method=diffusion with no model file: \(error)")
            }
        } else {
            do { model = try Model(path: settings.model) } catch {
                throw DiffusionError("Cannot use model file \(settings.model): \(error). Give mcvd a model file that "
                                     + "`mcvd train` or `mcvd export` wrote.")
            }
        }
        let name = model.source
        let steps = settings.steps == 0 ? model.defaultSteps : settings.steps
        guard steps <= model.config.diffusion.numSteps else {
            throw DiffusionError("steps=\(steps) exceeds the model's \(model.config.diffusion.numSteps) noise levels "
                                 + "(\(name)); set steps between 1 and \(model.config.diffusion.numSteps)")
        }
        return LoadedModel(path: name, model: model)
    }
}

/// The model at one frame size and format, and the stream's conditioning geometry.
final class DiffusionEngine {
    /// Larger working sizes are refused (memory and time of a forward grow with the pixels).
    static let maxPixels = 640 * 480

    let model: Model
    let generator: FrameGenerator
    let format: PixelFormat
    let width: Int, height: Int
    let colour: ColourSpace
    /// Threads inside one forward, for this element only (`Engine.threadsInTask` around each call, so two
    /// elements in one process keep their own counts).
    let threads: Int
    /// Input frames between successive conditioning frames: condition_stride / (n + 1) when the model's
    /// stride is a multiple of n + 1 (its conditioning then lands on originals), else 1.
    let inputStride: Int
    /// method=motion's state for the colour a 1-channel model over the motion base keeps (DiffusionFilter's
    /// colourCanvas); touched only by the worker's gap jobs.
    lazy var canvasMotion = MotionSynthesizer()
    /// The noise block of the next model call: the count of gaps the model filled since caps.
    var noiseBlock: UInt32 = 0
    /// Test hook (README "QoS"): added to every model call, in ns, to stand for a model too slow for the
    /// stream; set from the element's GObject data "mcvd-test-model-delay" (a decimal string of ns).
    var testDelay: UInt = 0
    /// Set by a flush or a stop: a running model call gives up between sampler steps (throws Cancelled).
    var cancel: CancelFlag?

    var past: Int { model.past }
    var future: Int { model.future }
    var generated: Int { model.frames }
    /// Originals a gap needs before it, itself included: (k - 1) q + 1.
    var pastSpan: Int { (past - 1) * inputStride + 1 }
    /// Originals a gap needs after it: (f - 1) q + 1 (the look-ahead, in input frames).
    var lookAhead: Int { (future - 1) * inputStride + 1 }

    init(_ loaded: LoadedModel, info: GstVideoInfo, settings: DiffusionSettings) throws {
        let model = loaded.model
        let name = String(cString: gst_video_format_to_string(info.finfo.pointee.format))
        guard let format = PixelFormat(name: name) else {
            throw DiffusionError("method=diffusion cannot map \(name) frames")  // not in GST_MCVD_FORMATS
        }
        let w = Int(info.width), h = Int(info.height)
        let p = settings.processingSize
        let work = model.workingSize(height: h, width: w, processingSize: p)
        guard work.width * work.height <= Self.maxPixels else {
            throw DiffusionError("method=diffusion runs the model at \(work.width)x\(work.height) for this \(w)x\(h) stream "
                                 + "(processing-size=\(p)\(p == 0 ? ": native size" : "")); at most \(Self.maxPixels) pixels. "
                                 + "Set a smaller processing-size (the default, \(GST_MCVD_DEFAULT_PROCESSING_SIZE) rows, runs the "
                                 + "model small and upsamples its correction), scale down before mcvd (videoscale ! "
                                 + "video/x-raw,width=320,height=240 ! mcvd ...), or use method=blend")
        }
        self.model = model
        self.format = format
        width = w; height = h
        colour = Self.colourSpace(info)
        let n = model.frames, s = model.conditionStride
        inputStride = s % (n + 1) == 0 ? s / (n + 1) : 1
        threads = settings.engineThreads  // this element's own (Generator.init does the engine's set-up)
        do {
            generator = try FrameGenerator(model: model, height: h, width: w, processingSize: p, settings: settings.sampling)
        } catch {
            throw DiffusionError("Model \(loaded.path) with \(settings): \(error)")
        }
    }

    /// When the model's conditioning frames do not land on originals (condition stride not a multiple of
    /// n + 1 with more than one past or future frame): the text of a warning, else nil.
    var strideWarning: String? {
        let n = model.frames, s = model.conditionStride
        guard s % (n + 1) != 0, past > 1 || future > 1 else { return nil }
        return "Model \(model.source) was trained with condition stride \(s) and \(n) frame(s) per block: its "
            + "conditioning frames lie \(s) frame(s) apart, the originals around an inserted frame \(n + 1). "
            + "mcvd conditions on consecutive originals; train with --condition-stride \(n + 1) for this use."
    }

    /// The frame's colour space for YUV mapping: the caps' colorimetry when it names BT.601 or BT.709,
    /// else GStreamer's default for the height.
    static func colourSpace(_ info: GstVideoInfo) -> ColourSpace {
        var c = ColourSpace.defaultYUV(height: Int(info.height))
        switch info.colorimetry.matrix {
        case GST_VIDEO_COLOR_MATRIX_BT601: c.matrix = .bt601
        case GST_VIDEO_COLOR_MATRIX_BT709: c.matrix = .bt709
        default: break
        }
        switch info.colorimetry.range {
        case GST_VIDEO_COLOR_RANGE_0_255: c.limitedRange = false
        case GST_VIDEO_COLOR_RANGE_16_235: c.limitedRange = true
        default: break
        }
        return c
    }

    func view(_ frame: inout MappedFrame) throws -> FrameView {
        let planes = (0..<format.planeCount).map { p in
            FramePlane(data: tupleElement(frame.frame.data, p, as: UnsafeMutableRawPointer.self),
                       stride: Int(tupleElement(frame.frame.info.stride, p, as: Int32.self)))
        }
        return try FrameView(format: format, width: width, height: height, planes: planes, colour: colour)
    }

    /// An original as the model's input (the frame generator's working size) and at full size.
    func planar(_ buffer: BufferPtr, info: inout GstVideoInfo) throws -> FrameGenerator.Prepared {
        try generator.prepare(try fullPlanar(buffer, info: &info))
    }

    /// An original as planar floats at its own size (what FrameGenerator's frame-level calls take).
    func fullPlanar(_ buffer: BufferPtr, info: inout GstVideoInfo) throws -> [Float] {
        guard var frame = MappedFrame(&info, buffer, write: false) else {
            throw DiffusionError("Input buffer too small for the negotiated caps")
        }
        defer { frame.unmap() }
        return try view(&frame).planar(channels: model.channels, range: model.range)
    }

    /// The noise block of the next gap the model fills (taken in stream order on the streaming thread, so
    /// that the worker's calls use the same blocks as a synchronous run).
    func takeNoiseBlock() -> UInt32 {
        defer { noiseBlock &+= 1 }
        return noiseBlock
    }

    /// A 1-channel model over the motion base on a colour stream: its correction (its frame minus its base)
    /// is added to method=motion's colour frame (`render(_:over:addsCorrection:info:)`), as `mcvd eval` does.
    var correctsMotionColour: Bool { model.channels == 1 && model.base == .motion && format.family != .gray }

    /// The model's n frames for one gap (k past originals oldest first, f future nearest first), with noise
    /// block `block`; its corrections instead when `correctsMotionColour`. Throws Cancelled when the cancel
    /// flag is set.
    func generate(past: [FrameGenerator.Prepared], future: [FrameGenerator.Prepared], block: UInt32) throws -> [[Float]] {
        try simulateSlowModel()
        return try Engine.$threadsInTask.withValue(threads) {
            try generator.sample(task: .interpolate, prepared: [(past: past, future: future)], noiseBlock: block,
                                 output: correctsMotionColour ? .corrections : .frames)[0]
        }
    }

    /// Lets a flush cancel a running call: checked after every sampler step.
    func attach(cancel flag: CancelFlag) {
        cancel = flag
        generator.generator.progress = { _, _, _ in if flag.isSet { throw Cancelled() } }
    }

    /// The test hook's delay, in 2 ms sleeps that a flush cuts short.
    func simulateSlowModel() throws {
        guard testDelay > 0 else { return }
        let end = UInt(monotonicNs()) + testDelay
        while UInt(monotonicNs()) < end {
            if cancel?.isSet == true { throw Cancelled() }
            var ts = timespec(tv_sec: 0, tv_nsec: Int(min(2_000_000, end - min(end, UInt(monotonicNs())))))
            nanosleep(&ts, nil)
        }
    }

    /// A new buffer: a copy of `base` (a frame of `info`) with the model's frame written over it (a 1-channel
    /// model keeps `base`'s colour), or with its correction added to its luma (`addsCorrection`: `base` is
    /// motion's colour frame).
    func render(_ planar: [Float], over base: BufferPtr, addsCorrection: Bool = false, info: inout GstVideoInfo) throws -> BufferPtr {
        guard let out = gst_buffer_new_allocate(nil, info.size, nil) else {
            throw DiffusionError("Out of memory allocating a \(info.size)-byte frame")
        }
        do {
            guard var src = MappedFrame(&info, base, write: false) else {
                throw DiffusionError("Input buffer too small for the negotiated caps")
            }
            defer { src.unmap() }
            guard var dst = MappedFrame(&info, out, write: true) else { throw DiffusionError("Cannot map an output frame") }
            defer { dst.unmap() }
            _ = gst_video_frame_copy(&dst.frame, &src.frame)
            if addsCorrection {
                try view(&dst).addLuma(planar, range: model.range)
            } else {
                try view(&dst).write(planar, channels: model.channels, range: model.range, keepColour: true)
            }
        } catch {
            bufferUnref(out)
            throw error
        }
        return out
    }
}

