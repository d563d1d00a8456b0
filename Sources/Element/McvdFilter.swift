// The mcvd element: settings, streaming state and the vfuncs (gst-plugins-rs reading order). It owns
// timing, buffering and negotiation; a FrameSynthesizer makes the inserted frames. Threading: chain and
// serialized events run on the streaming thread under the sink pad's stream lock; properties and queries
// may come from any thread, so settings and state sit behind their own locks. method=diffusion pushes its
// gaps from a worker thread (DiffusionWorker.swift).
import CGStreamer
import CGstMcvd
import Synchronization

enum Mode: Int32 { case interpolate = 0, predict = 1 }
enum Method: Int32 { case `repeat` = 0, blend = 1, motion = 2, diffusion = 3 }

/// User properties (GObject properties), changed from any thread.
struct Settings {
    var mode = Mode(rawValue: Int32(GST_MCVD_DEFAULT_MODE))!
    var method = Method(rawValue: Int32(GST_MCVD_DEFAULT_METHOD))!
    var factor = Int32(GST_MCVD_DEFAULT_FACTOR)
    /// snap-window in ns; nil = automatic (OutputGrid.autoTolerance).
    var snapWindow: UInt? = nil
    /// method=diffusion's properties (DiffusionSettings.swift).
    var diffusion = DiffusionSettings()
    /// mode=predict's extend-frames and prepend-frames (PredictMode.swift).
    var predict = PredictSettings()
    /// scene-threshold, static-threshold, fill-gaps (PairDecisions.swift).
    var pairs = PairSettings()
    /// stats-interval in ns of output time (DiffusionQoS.swift); 0 = the stats message at EOS only.
    var statsInterval: UInt = 0
}

struct Stats {
    var framesIn: UInt = 0
    var framesOut: UInt = 0
    var framesInserted: UInt = 0
    var framesDropped: UInt = 0
    var framesRetimed: UInt = 0
    var framesFallback: UInt = 0
    /// method=diffusion (DiffusionQoS.swift): inserted frames the model made, fallback frames QoS chose
    /// (also in framesFallback), model calls and their total time in ns.
    var framesGenerated: UInt = 0
    var framesFallbackQoS: UInt = 0
    var modelCalls: UInt = 0
    var modelTime: UInt = 0
    /// Inserted frames that repeat an original at a scene cut / blended at a static pair; input frames
    /// fill-gaps dropped as duplicates (PairDecisions.swift).
    var framesSceneCut: UInt = 0
    var framesStatic: UInt = 0
    var framesDuplicate: UInt = 0
    /// The first retimed / dropped frame of a run posts a warning; later ones are only counted.
    var warnedRetimed = false
    var warnedDropped = false
    var warnedLate = false
    /// stats-interval: the output timestamp at the last periodic mcvd-stats message (the first output's
    /// before one was posted); nil before the first output.
    var statsPostedAt: UInt?
}

/// An input frame held until the next one arrives (the one frame of look-ahead).
struct HeldFrame {
    var buffer: BufferPtr
    var pts: UInt
    var duration: UInt
}

/// Built on caps, dropped on stop/flush.
struct StreamState {
    var info = GstVideoInfo()
    /// The input caps (ref held), kept to renegotiate the output when downstream asks (RECONFIGURE).
    var inCaps: CapsPtr?
    var negotiated = false
    var inRate = Fraction(n: 0, d: 1)
    var outRate = Fraction(n: 0, d: 1)
    /// Where input frames go (the caps' nominal grid); reset whenever no frame is held.
    var timeline = InputTimeline(rate: nil, nominal: 0)
    var held: HeldFrame?
    /// fill-gaps: the end of the last duplicate of the held frame (its tail repeats until then).
    var heldEnd: UInt?
    /// fill-gaps in this run (the property with mode=interpolate, read when caps first come).
    var fillGaps = false
    var grid: OutputGrid?
    var nextSlot: UInt = 0
    var outOffset: UInt = 0
    var discontPending = true
    var segment = GstSegment()
    /// method=motion's estimator and the pair it holds (MotionMethod.swift).
    let motion = MotionSynthesizer()
    /// method=diffusion's model and window of originals (DiffusionFilter.swift).
    var diffusion = DiffusionState()
    /// The mode of this run (the property, read at READY -> PAUSED).
    var mode = Mode.interpolate
    /// mode=predict's past frames, prepend hold and timestamp shift (PredictMode.swift).
    var predict = PredictState()
    mutating func release() {
        motion.forget()
        diffusion.forget()
        predict.forget()
        if let h = held { bufferUnref(h.buffer) }
        held = nil
        heldEnd = nil
        grid = nil
        nextSlot = 0
        discontPending = true
    }
}

/// Box so that the raw element pointer can live in a Sendable class.
final class McvdFilter: @unchecked Sendable {
    let element: UnsafeMutablePointer<GstElement>
    let sinkpad: UnsafeMutablePointer<GstPad>
    let srcpad: UnsafeMutablePointer<GstPad>
    let settings = Mutex(Settings())
    let stats = Mutex(Stats())
    /// Only touched on the streaming thread (under the sink pad's stream lock) and on state changes while
    /// the pads are inactive, so it needs no lock of its own; never touch it from a query. Exception:
    /// method=diffusion's worker owns the output side (grid, nextSlot, outOffset, discontPending) while it
    /// has jobs; the streaming thread touches that only after worker.waitIdle() (DiffusionWorker.swift).
    var stream = StreamState()
    /// Look-ahead in ns (one input frame) for latency queries, which come from any thread.
    let lookAheadNs = Atomic<UInt>(0)
    /// method=diffusion: what QoS events, LATENCY events and the latency query told (any thread).
    let qos = Mutex(QoSState())
    /// method=diffusion, mode=interpolate: the thread that runs the model and pushes (DiffusionWorker.swift).
    let cancel: CancelFlag
    let worker: DiffusionWorker
    static let insertedCaps: CapsPtr = gst_caps_new_empty_simple("timestamp/x-mcvd-inserted")

    init(_ mcvd: UnsafeMutablePointer<GstMcvd>) {
        element = UnsafeMutableRawPointer(mcvd).assumingMemoryBound(to: GstElement.self)
        sinkpad = mcvd.pointee.sinkpad
        srcpad = mcvd.pointee.srcpad
        cancel = CancelFlag()
        worker = DiffusionWorker(cancel: cancel)
    }

    deinit {
        worker.stop()
        stream.release()
        if let c = stream.inCaps { capsUnref(c) }
    }

    // MARK: properties (any thread)

    func setProperty(_ id: UInt32, _ value: UnsafePointer<GValue>) {
        settings.withLock { s in
            switch GstMcvdProp(id) {
            case GST_MCVD_PROP_MODE:
                let v = g_value_get_enum(value)
                gstLog(.info, element, "mode: \(s.mode) -> \(v)")
                s.mode = Mode(rawValue: v) ?? s.mode
            case GST_MCVD_PROP_METHOD:
                let v = Method(rawValue: g_value_get_enum(value)) ?? s.method
                gstLog(.info, element, "method: \(s.method) -> \(v)")
                s.method = v
            case GST_MCVD_PROP_FACTOR:
                let v = g_value_get_int(value)
                gstLog(.info, element, "factor: \(s.factor) -> \(v)")
                s.factor = v
            case GST_MCVD_PROP_STATS_INTERVAL:
                s.statsInterval = UInt(g_value_get_uint64(value))
            case GST_MCVD_PROP_SNAP_WINDOW:
                let v = g_value_get_int64(value)
                let new: UInt? = v < 0 ? nil : UInt(v)
                gstLog(.info, element, "snap-window: \(s.snapWindow.map { "\($0)" } ?? "auto") -> \(new.map { "\($0)" } ?? "auto")")
                s.snapWindow = new
            default:
                if !setDiffusionProperty(id, value, &s) && !setPredictProperty(id, value, &s) && !setPairProperty(id, value, &s) { gstLog(.warning, element, "unknown property id \(id)") }
            }
        }
    }

    func getProperty(_ id: UInt32, _ value: UnsafeMutablePointer<GValue>) {
        let s = settings.withLock { $0 }
        let st = stats.withLock { $0 }
        switch GstMcvdProp(id) {
        case GST_MCVD_PROP_MODE: g_value_set_enum(value, s.mode.rawValue)
        case GST_MCVD_PROP_METHOD: g_value_set_enum(value, s.method.rawValue)
        case GST_MCVD_PROP_FACTOR: g_value_set_int(value, s.factor)
        case GST_MCVD_PROP_FRAMES_IN: g_value_set_uint64(value, st.framesIn)
        case GST_MCVD_PROP_FRAMES_OUT: g_value_set_uint64(value, st.framesOut)
        case GST_MCVD_PROP_FRAMES_INSERTED: g_value_set_uint64(value, st.framesInserted)
        case GST_MCVD_PROP_FRAMES_DROPPED: g_value_set_uint64(value, st.framesDropped)
        case GST_MCVD_PROP_FRAMES_RETIMED: g_value_set_uint64(value, st.framesRetimed)
        case GST_MCVD_PROP_SNAP_WINDOW: g_value_set_int64(value, s.snapWindow.map { Int($0) } ?? -1)
        case GST_MCVD_PROP_STATS: g_value_take_boxed(value, statsStructure())
        case GST_MCVD_PROP_STATS_INTERVAL: g_value_set_uint64(value, guint64(s.statsInterval))
        default: if !getDiffusionProperty(id, value, s, st) && !getPredictProperty(id, value, s) && !getPairProperty(id, value, s, st) { gstLog(.warning, element, "unknown property id \(id)") }
        }
    }

    // MARK: state changes (application thread)

    func stateBefore(_ transition: GstStateChange) -> Bool {
        if transition == GST_STATE_CHANGE_PAUSED_TO_READY {
            worker.setFlushing(true)  // a streaming thread waiting on the worker returns; the pads can stop
        }
        if transition == GST_STATE_CHANGE_READY_TO_PAUSED {
            stats.withLock { $0 = Stats() }
            qos.withLock { $0 = QoSState() }
            worker.setFlushing(false)
            stream.release()
            stream.negotiated = false
            gst_segment_init(&stream.segment, GST_FORMAT_TIME)
            if !preparePredict() { return false }
            if !prepareDiffusion() { return false }
        }
        return true
    }

    func stateAfter(_ transition: GstStateChange) {
        // Pads are deactivated by now (streaming stopped): drop held frames.
        if transition == GST_STATE_CHANGE_PAUSED_TO_READY {
            worker.stop()
            stream.release()
            stream.diffusion.engine = nil  // its buffers; the loaded model stays cached for the next run
            stream.negotiated = false
            if let caps = stream.inCaps { capsUnref(caps) }
            stream.inCaps = nil
            stream.outOffset = 0
        }
    }
}
