// method=diffusion in mode=interpolate, the streaming side: the window of originals the model conditions
// on, when a gap between two originals can be filled (k past originals at the input stride q before it,
// f future ones after it: a look-ahead of (f - 1) q + 1 input frames, which the latency query reports),
// and the fallback where it cannot (stream start and end, around a DISCONT, GAP or caps change, and where
// the conditioning frames span a scene cut). Before the model: a scene cut between the two originals
// repeats the nearer one, a static pair is blended (PairDecisions.swift); these tests run on the streaming
// thread, on the input frames only. Slots, timestamps, originals and the inserted-frame meta are
// McvdFilter.emitSlots', as for blend. Each gap is a job of the worker thread (DiffusionWorker.swift), which
// runs the model and pushes in order; QoS may give a gap the fallback when the model's frame would be late
// (DiffusionQoS.swift).
import CGStreamer
import CGstMcvd
import MCVDKit

/// An original in the window: the frame (a ref of its own) and its model input.
struct DiffusionOriginal {
    var frame: HeldFrame
    var planar: FrameGenerator.Prepared
    /// Whether a scene cut lies between the original before this one and this one (scene-threshold);
    /// nil until a gap asks (DiffusionFilter.cutBefore).
    var cutBefore: Bool? = nil
}

/// Lives in StreamState; only touched on the streaming thread or while the pads are inactive.
struct DiffusionState {
    /// The model loaded for `loadedFor` (reloaded when a diffusion setting or the mode changes: the
    /// default model depends on the mode).
    var loaded: LoadedModel?
    var loadedFor: (settings: DiffusionSettings, mode: Mode)?
    /// Set while method=diffusion runs (built on caps: it knows the frame size).
    var engine: DiffusionEngine?
    /// Originals since the window (re)started, oldest first; window[0] has index `first`.
    var window: [DiffusionOriginal] = []
    var first = 0
    /// Gap i lies between originals i and i + 1; the next one to emit.
    var nextGap = 0

    mutating func forget() {
        for o in window { bufferUnref(o.frame.buffer) }
        window = []
        first = 0
        nextGap = 0
    }
}

extension McvdFilter {
    func postDiffusionError(_ text: String) {
        postError(element, domain: gst_library_error_quark(), code: Int32(GST_LIBRARY_ERROR_SETTINGS.rawValue), text)
    }

    /// The model for the current settings (cached).
    func loadDiffusionModel() throws -> LoadedModel {
        let s = settings.withLock { $0.diffusion }
        let mode = stream.mode
        if let l = stream.diffusion.loaded, let was = stream.diffusion.loadedFor, was.settings == s && was.mode == mode {
            try checkModelForMode(l)
            return l
        }
        stream.diffusion.loaded = nil
        let l = try LoadedModel.load(s, task: mode == .predict ? .predict : .interpolate)
        try checkModelForMode(l)
        stream.diffusion.loaded = l
        stream.diffusion.loadedFor = (s, mode)
        return l
    }

    /// READY -> PAUSED: with method=diffusion, load and check the model now, so that a bad model or
    /// setting fails the state change with an error before any data flows.
    func prepareDiffusion() -> Bool {
        guard settings.withLock({ $0.method }) == .diffusion else { return true }
        do { _ = try loadDiffusionModel() } catch {
            postDiffusionError("\(error)")
            return false
        }
        return true
    }

    /// On caps: the engine for this frame size (nil when the method is not diffusion); `ok` false after
    /// posting an error (the caps are refused). Without `restart` (same input, same output rate) the
    /// current engine, or none, stays: a method switch is followDiffusionMethod's, which drains first.
    func diffusionEngine(for info: GstVideoInfo, restart: Bool) -> (ok: Bool, engine: DiffusionEngine?) {
        if !restart { return (true, stream.diffusion.engine) }
        let s = settings.withLock { $0 }
        guard s.method == .diffusion else { return (true, nil) }
        do {
            let engine = try DiffusionEngine(try loadDiffusionModel(), info: info, settings: s.diffusion)
            engine.attach(cancel: cancel)
            engine.testDelay = testModelDelay
            if stream.mode == .interpolate, let w = engine.strideWarning { postWarning(element, w) }
            gstLog(.info, element, "diffusion: \(engine.model.summary) at \(engine.generator.workingWidth)x\(engine.generator.workingHeight)"
                   + "\(engine.generator.scaled ? " (processing size, frames \(engine.width)x\(engine.height))" : ""), "
                   + "\(engine.generator.steps) \(s.diffusion.sampler) steps, look-ahead \(engine.lookAhead) frame(s)")
            return (true, engine)
        } catch {
            postDiffusionError("\(error)")
            return (false, nil)
        }
    }

    /// Input frames of latency: the model's look-ahead plus one frame for the model's own time (so that a
    /// live pipeline leaves it room: QoS falls back where it would pass even that), else one;
    /// mode=predict's (PredictMode.swift).
    var lookAheadFrames: UInt {
        stream.mode == .predict ? predictLookAhead : UInt(stream.diffusion.engine.map { $0.lookAhead + 1 } ?? 1)
    }

    /// The test hook: the element's GObject data "mcvd-test-model-delay" (ns, a decimal string) is added
    /// to every model call (tests of QoS with a model too slow for the stream; README "QoS and stats").
    var testModelDelay: UInt {
        let object = UnsafeMutableRawPointer(element).assumingMemoryBound(to: GObject.self)
        guard let p = g_object_get_data(object, "mcvd-test-model-delay") else { return 0 }
        return UInt(String(cString: p.assumingMemoryBound(to: CChar.self))) ?? 0
    }

    /// method changed to or from diffusion while streaming: drain like a DISCONT, then start or stop
    /// the engine and announce the new latency.
    func followDiffusionMethod() -> GstFlowReturn {
        let want = settings.withLock { $0.method } == .diffusion
        guard want != (stream.diffusion.engine != nil) else { return GST_FLOW_OK }
        let ret = drainHeld(restartGrid: false)
        if ret != GST_FLOW_OK { return ret }
        if want {
            let (ok, engine) = diffusionEngine(for: stream.info, restart: true)
            guard ok else { return GST_FLOW_ERROR }
            stream.diffusion.engine = engine
        } else {
            stream.diffusion.engine = nil
        }
        lookAheadNs.store(stream.timeline.nominal * lookAheadFrames, ordering: .relaxed)
        _ = gst_element_post_message(element, gst_message_new_latency(UnsafeMutableRawPointer(element).assumingMemoryBound(to: GstObject.self)))
        return GST_FLOW_OK
    }

    /// A new original: into the window, then every gap whose look-ahead has arrived goes out.
    func diffusionPush(_ frame: HeldFrame) -> GstFlowReturn {
        guard let engine = stream.diffusion.engine else { return GST_FLOW_OK }
        let planar: FrameGenerator.Prepared
        do { planar = try engine.planar(frame.buffer, info: &stream.info) } catch {
            postStreamError(element, GST_STREAM_ERROR_FORMAT, "\(error)")
            return GST_FLOW_ERROR
        }
        var held = frame
        held.buffer = bufferRef(frame.buffer)
        stream.diffusion.window.append(DiffusionOriginal(frame: held, planar: planar))
        let last = stream.diffusion.first + stream.diffusion.window.count - 1
        while stream.diffusion.nextGap + engine.lookAhead <= last {
            let ret = emitGap(stream.diffusion.nextGap, engine: engine)
            stream.diffusion.nextGap += 1
            if ret != GST_FLOW_OK { return ret }
        }
        // Keep what later gaps condition on.
        let keepFrom = max(stream.diffusion.first, stream.diffusion.nextGap - (engine.pastSpan - 1))
        let drop = keepFrom - stream.diffusion.first
        for o in stream.diffusion.window[..<drop] { bufferUnref(o.frame.buffer) }
        stream.diffusion.window.removeFirst(drop)
        stream.diffusion.first = keepFrom
        return GST_FLOW_OK
    }

    /// Whether a scene cut lies between originals i - 1 and i of the window (computed once, when first asked).
    func cutBefore(_ i: Int) throws -> Bool {
        let k = i - stream.diffusion.first
        guard k > 0 else { return false }  // the window's first original: nothing before it in this run
        if let known = stream.diffusion.window[k].cutBefore { return known }
        let cut = try isSceneCut(stream.diffusion.window[k - 1].frame.buffer, stream.diffusion.window[k].frame.buffer)
        stream.diffusion.window[k].cutBefore = cut
        return cut
    }

    /// Whether an output slot lies strictly between originals `from` and `to` (one emitSlots would
    /// synthesise). Reads the output grid: the worker's job calls it.
    func hasInsertedSlot(from: HeldFrame, to: HeldFrame) -> Bool {
        guard let grid = stream.grid else { return false }
        var i = stream.nextSlot
        while grid.slot(i, isBefore: to.pts) {
            let t = grid.start(i)
            if t > from.pts && t - from.pts > grid.tolerance { return true }
            i += 1
        }
        return false
    }

    /// Before the held frame's tail: the gaps left in the window have no look-ahead; the fallback fills
    /// them. Returns once the worker has pushed everything queued (the caller goes on with the output).
    func drainDiffusionWindow() -> GstFlowReturn {
        defer { stream.diffusion.forget() }
        guard let engine = stream.diffusion.engine else { return worker.waitIdle() }
        let last = stream.diffusion.first + stream.diffusion.window.count - 1
        var ret = GST_FLOW_OK
        while stream.diffusion.nextGap < last && ret == GST_FLOW_OK {
            ret = emitGap(stream.diffusion.nextGap, engine: engine)
            stream.diffusion.nextGap += 1
        }
        let idle = worker.waitIdle()
        return ret == GST_FLOW_OK ? idle : ret
    }

    /// Queues on the worker original g's slots and the inserted ones before original g + 1, with the plan
    /// decided here from the input frames: at a scene cut between them, repeats of the nearer one
    /// (frames-scene-cut); for a static pair, their blend (frames-static); the model's frames when the
    /// window holds its conditioning and no cut lies inside it (and QoS does not find them late), else the
    /// fallback method's (frames-fallback). The job holds its own refs and inputs; the noise block is taken
    /// here, in stream order, so a run with the worker gives the bytes of a synchronous one.
    func emitGap(_ g: Int, engine: DiffusionEngine) -> GstFlowReturn {
        let d = stream.diffusion
        let from = d.window[g - d.first].frame, to = d.window[g + 1 - d.first].frame
        let last = d.first + d.window.count - 1
        var plan = GapPlan.fallback
        do {
            switch try GapDecision.decide(gap: g, past: engine.pastSpan, ahead: engine.lookAhead, available: d.first...last,
                                          cutBefore: cutBefore, isStatic: { try isStaticPair(from.buffer, to.buffer) }) {
            case .sceneCut: plan = .sceneCut
            case .still: plan = .still
            case .fallback: plan = .fallback
            case .model:
                let (k, f, q) = (engine.past, engine.future, engine.inputStride)
                plan = .model(GapInputs(past: (0..<k).map { j in d.window[g - (k - 1 - j) * q - d.first].planar },
                                        future: (0..<f).map { j in d.window[g + 1 + j * q - d.first].planar },
                                        block: engine.takeNoiseBlock()))
            }
        } catch {
            postStreamError(element, GST_STREAM_ERROR_FAILED, "method=diffusion: scene-cut or static test: \(error)")
            return GST_FLOW_ERROR
        }
        let a = HeldFrame(buffer: bufferRef(from.buffer), pts: from.pts, duration: from.duration)
        let b = HeldFrame(buffer: bufferRef(to.buffer), pts: to.pts, duration: to.duration)
        let info = stream.info
        return worker.submit { [self] run in
            defer { bufferUnref(a.buffer); bufferUnref(b.buffer) }
            guard run else { return GST_FLOW_FLUSHING }
            return emitGapSlots(from: a, to: b, plan: plan, engine: engine, info: info)
        }
    }

    /// A gap's job (worker thread): emitSlots with the model, or with the fallback where the model cannot
    /// condition, where its frame would be late (QoS, decided before the call, for the gap's first
    /// inserted slot). A flush that cancels the model call ends the job (FLUSHING).
    func emitGapSlots(from: HeldFrame, to: HeldFrame, plan: GapPlan, engine: DiffusionEngine,
                      info: GstVideoInfo) -> GstFlowReturn {
        func counted(_ key: WritableKeyPath<Stats, UInt>, _ emit: () -> GstFlowReturn) -> GstFlowReturn {
            let before = stats.withLock { $0.framesInserted }
            let ret = emit()
            stats.withLock { $0[keyPath: key] += $0.framesInserted - before }
            return ret
        }
        // No slot to make (fill-gaps between consecutive originals): the original only.
        guard hasInsertedSlot(from: from, to: to) else { return emitSlots(before: to.pts, from: from, to: to, method: .repeat) }
        var inputs: GapInputs?
        switch plan {
        case .sceneCut:
            // Weight 128 (exactly halfway) takes the earlier original, as method=motion does.
            return counted(\.framesSceneCut) {
                emitSlots(before: to.pts, from: from, to: to, model: { w, _ in bufferMakeWritable(bufferRef(w <= 128 ? from.buffer : to.buffer)) })
            }
        case .still:
            return counted(\.framesStatic) { emitSlots(before: to.pts, from: from, to: to, method: .blend) }
        case .fallback: inputs = nil
        case .model(let given): inputs = given
        }
        let fallback = settings.withLock { $0.diffusion.fallback }
        var made: [[Float]]?   // the model's frames, or its corrections (engine.correctsMotionColour)
        var late = inputs == nil
        var cancelled = false
        var rendered: [Int: BufferPtr] = [:]
        defer { for b in rendered.values { bufferUnref(b) } }
        let n = engine.generated
        let fallbackFrame = { [self] (weight: Int) -> BufferPtr? in
            fallback == .blend ? blend(from.buffer, to.buffer, weight: weight) : bufferMakeWritable(bufferRef(from.buffer))
        }
        let model = { [self] (weight: Int, t: UInt) -> BufferPtr? in
            if made == nil, !late, let inputs {
                if modelWouldBeLate(t) {
                    late = true
                    gstLog(.debug, element, "QoS: the model's frame at \(timeString(t)) would be late: \(fallback)")
                } else {
                    do {
                        made = try timedModelCall { try engine.generate(past: inputs.past, future: inputs.future, block: inputs.block) }
                    } catch is Cancelled {
                        cancelled = true  // a flush: nothing more of this gap goes out
                        return nil
                    } catch {
                        postStreamError(element, GST_STREAM_ERROR_FAILED, "method=diffusion: \(error)")
                        return nil
                    }
                }
            }
            guard let made else {
                stats.withLock { $0.framesFallback += 1; if inputs != nil { $0.framesFallbackQoS += 1 } }
                return fallbackFrame(weight)
            }
            // The model's n frames sit at (j + 1) / (n + 1) of the gap; a slot takes the nearest one.
            let j = min(max(Int((Double(weight) * Double(n + 1) / 256).rounded()) - 1, 0), n - 1)
            do {
                if rendered[j] == nil {
                    var info = info
                    if engine.correctsMotionColour {
                        guard let canvas = motionCanvas(from: from, to: to, t: Float(j + 1) / Float(n + 1), engine: engine, info: &info) else {
                            stats.withLock { $0.framesFallback += 1 }
                            return fallbackFrame(weight)
                        }
                        defer { bufferUnref(canvas) }
                        rendered[j] = try engine.render(made[j], over: canvas, addsCorrection: true, info: &info)
                    } else {
                        rendered[j] = try engine.render(made[j], over: from.buffer, info: &info)
                    }
                }
            } catch {
                postStreamError(element, GST_STREAM_ERROR_FAILED, "method=diffusion: \(error)")
                return nil
            }
            stats.withLock { $0.framesGenerated += 1 }
            return bufferMakeWritable(bufferRef(rendered[j]!))
        }
        let ret = emitSlots(before: to.pts, from: from, to: to, model: model)
        return cancelled ? GST_FLOW_FLUSHING : ret
    }

    /// The frame a 1-channel model refining the motion base on a colour stream adds its correction to:
    /// method=motion's full-colour frame at t (the model's luma change then lands on motion-compensated
    /// colour, as `mcvd eval` scores it; on a scene cut there, the nearer original, as eval's motion row
    /// gives). A new ref; nil when motion fails (a warning; the slot gets the fallback). Runs on the
    /// worker, with the engine's own motion state (the streaming thread's `stream.motion` serves the
    /// scene-cut test) and the gap's caps `info`.
    func motionCanvas(from: HeldFrame, to: HeldFrame, t: Float, engine: DiffusionEngine, info: inout GstVideoInfo) -> BufferPtr? {
        switch engine.canvasMotion.synthesize(info: &info, from.buffer, to.buffer, t: t) {
        case .frame(let out): return out
        case .sceneCut(let useFirst): return bufferRef(useFirst ? from.buffer : to.buffer)
        case .failed(let why):
            gstLog(.warning, element, "motion's frame for the model's correction failed (\(why)): the fallback instead")
            return nil
        }
    }
}

/// A gap's model inputs: k past and f future originals as the model takes them, and its noise block.
struct GapInputs {
    var past: [FrameGenerator.Prepared]
    var future: [FrameGenerator.Prepared]
    var block: UInt32
}

/// What a gap's job makes (decided on the streaming thread from the input frames).
enum GapPlan {
    /// A scene cut between the two originals: repeats of the nearer one.
    case sceneCut
    /// A static pair: their blend.
    case still
    /// The model cannot condition (window edge, a cut inside its frames): `fallback`.
    case fallback
    case model(GapInputs)
}
