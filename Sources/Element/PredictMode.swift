// mode=predict: live extrapolation and clip extension (README "mode=predict"). The output keeps the input's
// frame grid (rate unchanged, anchored at the first frame); an original goes out as soon as it arrives (no
// added latency). A slot of the grid that no frame reached (a timestamp jump, a GAP event) gets a frame
// predicted from the frames before it: method=diffusion runs MCVDKit's Generator.extend on the last
// (k - 1) s + 1 frames of the grid (originals and earlier predictions: block-wise autoregression);
// other methods, and the model while the grid holds fewer frames than that, repeat the last original (the
// fallback, counted). A frame that arrives after its slot went out is late and dropped. extend-frames adds
// frames after EOS the same way; prepend-frames holds the first (f - 1) s + 1 originals and predicts the
// frames before them (Generator.extend backward). Everything runs on the streaming thread.
import CGStreamer
import CGstMcvd
import MCVDKit
import Tensor

struct PredictSettings: Equatable {
    var extendFrames = Int(GST_MCVD_DEFAULT_EXTEND_FRAMES)
    var prependFrames = Int(GST_MCVD_DEFAULT_PREPEND_FRAMES)
}

/// Lives in StreamState; only touched on the streaming thread or while the pads are inactive.
struct PredictState {
    /// method=diffusion: the model inputs of the last frames of the grid, oldest first (at most the
    /// model's past span; reset at a discontinuity).
    var history: [[Float]] = []
    /// prepend-frames: the first originals, held until the model has its future block.
    var holding: [(frame: HeldFrame, planar: [Float])] = []
    // Per run (READY -> PAUSED), kept across flushes:
    /// The prepended frames went out (once per run).
    var prependDone = false
    /// Added to every input PTS: room for the prepended frames when the first frame is too close to the
    /// segment start for them to fit before it.
    var shift: UInt = 0

    mutating func forget() {
        history = []
        for o in holding { bufferUnref(o.frame.buffer) }
        holding = []
    }
}

extension DiffusionEngine {
    /// `count` frames after `frames` (backward: before them) by block-wise autoregression, MCVDKit's
    /// Generator.extend, with this stream's next noise blocks.
    func extend(_ frames: [[Float]], count: Int, backward: Bool) throws -> [[Float]] {
        let block = noiseBlock
        noiseBlock &+= UInt32(generator.blocks(for: count))
        try simulateSlowModel()
        return try Engine.$threadsInTask.withValue(threads) {
            try generator.extend(frames, count: count, backward: backward, noiseBlock: block)
        }
    }

    /// Frames of the grid a forward prediction conditions on: (k - 1) s + 1.
    var predictSpan: Int { model.span(past) }
    /// Originals a backward (prepend) prediction conditions on: (f - 1) s + 1.
    var prependSpan: Int { model.span(future) }
}

extension McvdFilter {
    // MARK: properties and checks

    /// Sets extend-frames / prepend-frames; false when `id` is not one of them.
    func setPredictProperty(_ id: UInt32, _ value: UnsafePointer<GValue>, _ s: inout Settings) -> Bool {
        switch GstMcvdProp(id) {
        case GST_MCVD_PROP_EXTEND_FRAMES:
            let v = Int(g_value_get_int(value))
            gstLog(.info, element, "extend-frames: \(s.predict.extendFrames) -> \(v)")
            s.predict.extendFrames = v
        case GST_MCVD_PROP_PREPEND_FRAMES:
            let v = Int(g_value_get_int(value))
            gstLog(.info, element, "prepend-frames: \(s.predict.prependFrames) -> \(v)")
            s.predict.prependFrames = v
        default:
            return false
        }
        return true
    }

    func getPredictProperty(_ id: UInt32, _ value: UnsafeMutablePointer<GValue>, _ s: Settings) -> Bool {
        switch GstMcvdProp(id) {
        case GST_MCVD_PROP_EXTEND_FRAMES: g_value_set_int(value, Int32(s.predict.extendFrames))
        case GST_MCVD_PROP_PREPEND_FRAMES: g_value_set_int(value, Int32(s.predict.prependFrames))
        default: return false
        }
        return true
    }

    /// READY -> PAUSED: a fresh run; its mode and checks (takeMode).
    func preparePredict() -> Bool {
        stream.predict = PredictState()
        return takeMode()
    }

    /// The run's mode, taken at READY -> PAUSED and again at the first caps of the run (properties may be
    /// set in between, as a GstHarness does); extend-frames / prepend-frames outside mode=predict are an
    /// error (the state change or the caps fail).
    func takeMode() -> Bool {
        let s = settings.withLock { $0 }
        stream.mode = s.mode
        if s.mode != .predict && (s.predict.extendFrames > 0 || s.predict.prependFrames > 0) {
            postDiffusionError("extend-frames and prepend-frames need mode=predict (mode=interpolate inserts frames "
                               + "between input frames and adds none at the ends): set mode=predict")
            return false
        }
        return true
    }

    /// Whether the model can do what the mode asks of it; every error says what to train or set instead.
    func checkModelForMode(_ l: LoadedModel) throws {
        let model = l.model
        switch stream.mode {
        case .interpolate:
            do { try model.check(task: .interpolate) } catch {
                throw DiffusionError("Model \(l.path): \(error). mode=interpolate needs a model trained with past "
                                     + "and future frames (mcvd train --past K --future F with K, F >= 1).")
            }
        case .predict:
            do { try model.check(task: .predict) } catch {
                throw DiffusionError("Model \(l.path): \(error). mode=predict needs a model trained with past "
                                     + "frames (mcvd train --past K with K >= 1).")
            }
            if settings.withLock({ $0.predict.prependFrames }) > 0 {
                do { try model.check(task: .predictPast) } catch {
                    throw DiffusionError("Model \(l.path): \(error). prepend-frames predicts frames from the frames "
                                         + "after them and needs a model trained with future frames (mcvd train "
                                         + "--future F with F >= 1); or set prepend-frames=0.")
                }
            }
        }
    }

    /// Input frames of latency in mode=predict: none, except while prepend-frames holds the first originals
    /// for the model ((f - 1) s of them wait for the last).
    var predictLookAhead: UInt {
        guard let engine = stream.diffusion.engine, !stream.predict.prependDone,
              settings.withLock({ $0.predict.prependFrames }) > 0 else { return 0 }
        return UInt(engine.prependSpan - 1)
    }

    // MARK: the grid

    /// The longest run of missing slots that is filled: one second of frames. A longer jump is taken
    /// for a discontinuity (a stream that stopped and came back), not a dropped frame.
    var maxFill: UInt { max(1, UInt(stream.outRate.n) / UInt(stream.outRate.d)) }

    /// The grid slot nearest to `t`.
    func slotIndex(_ grid: OutputGrid, _ t: UInt) -> UInt {
        guard t > grid.anchor else { return 0 }
        return gst_util_uint64_scale_round(t - grid.anchor, UInt(grid.rate.n), nsPerSecond * UInt(grid.rate.d))
    }

    /// Pushes `out` (owned) as slot `nextSlot`; `reference` (start, duration) marks an inserted frame.
    func pushPredicted(_ out: BufferPtr, reference: (UInt, UInt)?) -> GstFlowReturn {
        guard let grid = stream.grid else { bufferUnref(out); return GST_FLOW_OK }
        let t = grid.start(stream.nextSlot)
        if let r = reference { gst_buffer_add_reference_timestamp_meta(out, McvdFilter.insertedCaps, r.0, r.1) }
        out.pointee.pts = t
        out.pointee.dts = clockTimeNone
        out.pointee.duration = grid.start(stream.nextSlot + 1) - t
        out.pointee.offset = stream.outOffset
        out.pointee.offset_end = stream.outOffset + 1
        if stream.discontPending { bufferSetFlag(out, GST_BUFFER_FLAG_DISCONT) } else { bufferClearFlag(out, GST_BUFFER_FLAG_DISCONT) }
        stream.discontPending = false
        stream.nextSlot += 1
        stream.outOffset += 1
        stats.withLock { $0.framesOut += 1; if reference != nil { $0.framesInserted += 1 } }
        postStatsIfDue(pts: t)
        return gst_pad_push(srcpad, out)
    }

    /// Adds a frame of the grid to the model's past (method=diffusion).
    func remember(_ planar: [Float]) {
        guard let engine = stream.diffusion.engine else { return }
        stream.predict.history.append(planar)
        let extra = stream.predict.history.count - engine.predictSpan
        if extra > 0 { stream.predict.history.removeFirst(extra) }
    }

    /// The model input of an original (method=diffusion; else empty).
    func predictPlanar(_ buffer: BufferPtr) throws -> [Float] {
        guard let engine = stream.diffusion.engine else { return [] }
        return try engine.fullPlanar(buffer, info: &stream.info)
    }

    /// Pushes an original as slot `nextSlot` (the same memory, bit-exact).
    func pushOriginal(_ frame: HeldFrame, planar: [Float]) -> GstFlowReturn {
        if stream.diffusion.engine != nil { remember(planar) }
        return pushPredicted(bufferMakeWritable(bufferRef(frame.buffer)), reference: nil)
    }

    // MARK: streaming

    /// A placed input frame (owned; it becomes `stream.held`, the last original).
    func predictChain(_ input: HeldFrame, discont: Bool) -> GstFlowReturn {
        var frame = input
        let prepend = settings.withLock { $0.predict.prependFrames }
        if discont {
            // Nothing is predicted across a DISCONT: the grid and the model's past restart at this frame.
            gstLog(.debug, element, "DISCONT at \(frame.pts): the grid restarts")
            let ret = finishPrepend()
            if ret != GST_FLOW_OK { bufferUnref(frame.buffer); return ret }
            stream.predict.history = []
            stream.grid = nil
            stream.discontPending = true
        }
        let prependPending = !stream.predict.prependDone && prepend > 0
        if stream.grid == nil && prependPending && stream.predict.holding.isEmpty {
            // The first frame: prepend-frames grid positions before it, or, when they would start before
            // the segment start, every timestamp from here on delayed by that much.
            let room = gst_util_uint64_scale(UInt(prepend), nsPerSecond * UInt(stream.outRate.d), UInt(stream.outRate.n))
            let start = stream.segment.start == clockTimeNone ? 0 : stream.segment.start
            stream.predict.shift = frame.pts >= start && frame.pts - start >= room ? 0 : room
            if stream.predict.shift > 0 {
                gstLog(.info, element, "prepend-frames=\(prepend): no room before the first frame at \(timeString(frame.pts)); "
                       + "timestamps delayed by \(timeString(room))")
            }
            frame.pts += stream.predict.shift
            stream.grid = OutputGrid(anchor: frame.pts - room, rate: stream.outRate, tolerance: settings.withLock { $0.snapWindow })
            stream.nextSlot = 0
        } else {
            frame.pts += stream.predict.shift
        }
        if stream.grid == nil {
            stream.grid = OutputGrid(anchor: frame.pts, rate: stream.outRate, tolerance: settings.withLock { $0.snapWindow })
            stream.nextSlot = 0
        }
        let grid = stream.grid!
        var slot = slotIndex(grid, frame.pts)
        let planar: [Float]
        do { planar = try predictPlanar(frame.buffer) } catch {
            postStreamError(element, GST_STREAM_ERROR_FORMAT, "\(error)")
            bufferUnref(frame.buffer)
            return GST_FLOW_ERROR
        }
        if prependPending {
            if slot == UInt(prepend + stream.predict.holding.count) {
                // Next of the first originals: held until the model has its future block.
                stream.predict.holding.append((frame: HeldFrame(buffer: bufferRef(frame.buffer), pts: frame.pts,
                                                                                 duration: frame.duration), planar: planar))
                setHeld(frame)
                let need = stream.diffusion.engine?.prependSpan ?? 1
                return stream.predict.holding.count >= need ? finishPrepend() : GST_FLOW_OK
            }
            // A gap before the hold was complete: prepend from what is held.
            let ret = finishPrepend()
            if ret != GST_FLOW_OK { bufferUnref(frame.buffer); return ret }
        }
        if slot < stream.nextSlot {
            noteLate(frame.pts, slot: grid.start(slot))
            bufferUnref(frame.buffer)
            return GST_FLOW_OK
        }
        if slot - stream.nextSlot > maxFill {
            gstLog(.info, element, "\(slot - stream.nextSlot) frames missing before \(timeString(frame.pts)): a discontinuity, "
                   + "the grid restarts")
            stream.predict.history = []
            stream.grid = OutputGrid(anchor: frame.pts, rate: stream.outRate, tolerance: grid.tolerance)
            stream.nextSlot = 0
            stream.discontPending = true
            slot = 0
        }
        var ret = predictForward(to: slot)
        if ret == GST_FLOW_OK {
            stream.nextSlot = slot  // after a method switch nothing fills the slots before this frame
            ret = pushOriginal(frame, planar: planar)
        }
        setHeld(frame)
        return ret
    }

    /// `frame` (owned) becomes the last original.
    func setHeld(_ frame: HeldFrame) {
        if let h = stream.held { bufferUnref(h.buffer) }
        stream.held = frame
    }

    /// Fills slots nextSlot..<end after the last original: the model's prediction from the grid's last
    /// frames when it has enough of them, else repeats of that original (the fallback).
    func predictForward(to end: UInt) -> GstFlowReturn {
        guard end > stream.nextSlot, let last = stream.held, let grid = stream.grid else { return GST_FLOW_OK }
        let count = Int(end - stream.nextSlot)
        let engine = stream.diffusion.engine
        var made: [[Float]]?
        var late = false
        if let engine, stream.predict.history.count >= engine.predictSpan {
            // QoS: a sink that reported this slot late gets the repeat (no clock estimate: these frames
            // stand in for ones that did not come, and are due when they are made).
            late = modelWouldBeLate(grid.start(stream.nextSlot), clock: false)
            if !late {
                do { made = try timedModelCall { try engine.extend(stream.predict.history, count: count, backward: false) } }
                catch is Cancelled { return GST_FLOW_FLUSHING }
                catch {
                    postStreamError(element, GST_STREAM_ERROR_FAILED, "mode=predict: \(error)")
                    return GST_FLOW_ERROR
                }
            }
        }
        for i in 0..<count {
            let out: BufferPtr
            if let engine, let made {
                do { out = try engine.render(made[i], over: last.buffer, info: &stream.info) } catch {
                    postStreamError(element, GST_STREAM_ERROR_FAILED, "mode=predict: \(error)")
                    return GST_FLOW_ERROR
                }
                remember(made[i])
                stats.withLock { $0.framesGenerated += 1 }
            } else {
                out = bufferMakeWritable(bufferRef(last.buffer))
                if engine != nil {
                    stats.withLock { $0.framesFallback += 1; if late { $0.framesFallbackQoS += 1 } }
                    if let l = stream.predict.history.last { remember(l) }
                }
            }
            let t = grid.start(stream.nextSlot)
            let ret = pushPredicted(out, reference: (last.pts, t > last.pts ? t - last.pts : 0))
            if ret != GST_FLOW_OK { return ret }
        }
        return GST_FLOW_OK
    }

    /// Pushes the prepended frames, then the held originals: the model's frames predicted backward from
    /// the first (f - 1) s + 1 originals, or repeats of the first (the fallback, when the stream gave fewer
    /// before a gap, a discontinuity or EOS).
    func finishPrepend() -> GstFlowReturn {
        let held = stream.predict.holding
        guard let first = held.first?.frame else { return GST_FLOW_OK }
        stream.predict.holding = []
        stream.predict.prependDone = true
        defer { for o in held { bufferUnref(o.frame.buffer) } }
        let count = settings.withLock { $0.predict.prependFrames }
        let engine = stream.diffusion.engine
        var made: [[Float]]?
        if let engine, held.count >= engine.prependSpan {
            do { made = try timedModelCall { try engine.extend(held.map(\.planar), count: count, backward: true) } }
            catch is Cancelled { return GST_FLOW_FLUSHING }
            catch {
                postStreamError(element, GST_STREAM_ERROR_FAILED, "prepend-frames: \(error)")
                return GST_FLOW_ERROR
            }
        } else if engine != nil {
            gstLog(.info, element, "prepend-frames: \(held.count) original(s) before the stream's first gap; the model needs "
                   + "\(engine!.prependSpan): the fallback repeats the first")
        }
        for i in 0..<count {
            guard let grid = stream.grid else { break }
            let out: BufferPtr
            if let engine, let made {
                do { out = try engine.render(made[i], over: first.buffer, info: &stream.info) } catch {
                    postStreamError(element, GST_STREAM_ERROR_FAILED, "prepend-frames: \(error)")
                    return GST_FLOW_ERROR
                }
                remember(made[i])
                stats.withLock { $0.framesGenerated += 1 }
            } else {
                out = bufferMakeWritable(bufferRef(first.buffer))
                if engine != nil {
                    stats.withLock { $0.framesFallback += 1 }
                    remember(held[0].planar)
                }
            }
            let t = grid.start(stream.nextSlot)
            let ret = pushPredicted(out, reference: (t, first.pts > t ? first.pts - t : 0))
            if ret != GST_FLOW_OK { return ret }
        }
        for o in held {
            let ret = pushOriginal(o.frame, planar: o.planar)
            if ret != GST_FLOW_OK { return ret }
        }
        return GST_FLOW_OK
    }

    /// drainHeld in mode=predict (DISCONT, caps, segment, method switch): the held first originals go out;
    /// the model's past and the last original are forgotten.
    func predictDrain(restartGrid: Bool) -> GstFlowReturn {
        let ret = finishPrepend()
        stream.predict.history = []
        if let h = stream.held { bufferUnref(h.buffer) }
        stream.held = nil
        stream.discontPending = true
        if restartGrid { stream.release() }
        return ret
    }

    /// EOS: the held first originals, then extend-frames frames after the last one.
    func predictEOS() -> GstFlowReturn {
        var ret = finishPrepend()
        let count = settings.withLock { $0.predict.extendFrames }
        if ret == GST_FLOW_OK, count > 0, stream.held != nil {
            ret = predictForward(to: stream.nextSlot + UInt(count))
        }
        let drained = predictDrain(restartGrid: false)
        return ret == GST_FLOW_OK ? drained : ret
    }

    /// GAP: the slots it covers (up to its end; one frame without a duration) are filled as missing frames
    /// and the event goes no further (the frames cover its time). Before the first frame, or a gap longer
    /// than maxFill, it is forwarded.
    func predictGap(_ pad: UnsafeMutablePointer<GstPad>, _ parent: UnsafeMutablePointer<GstObject>?,
                    _ event: EventPtr) -> Bool {
        var ts: GstClockTime = 0, duration: GstClockTime = clockTimeNone
        gst_event_parse_gap(event, &ts, &duration)
        if finishPrepend() != GST_FLOW_OK { gst_event_unref(event); return false }
        guard let grid = stream.grid, stream.held != nil, ts != clockTimeNone else {
            return gst_pad_event_default(pad, parent, event) != 0
        }
        let end = ts + stream.predict.shift + (duration == clockTimeNone ? stream.timeline.nominal : duration)
        let slot = slotIndex(grid, end)
        guard slot > stream.nextSlot, slot - stream.nextSlot <= maxFill else {
            return gst_pad_event_default(pad, parent, event) != 0
        }
        gstLog(.debug, element, "GAP \(timeString(ts)) + \(timeString(duration)): predicting \(slot - stream.nextSlot) frame(s)")
        gst_event_unref(event)
        let ret = predictForward(to: slot)
        return ret == GST_FLOW_OK
    }

    /// A new SEGMENT: with extend-frames or prepend-frames the output runs past the input's end, so a
    /// stop time is lifted (else downstream would clip the added frames).
    func predictSegment(_ event: EventPtr) -> EventPtr {
        let s = settings.withLock { $0.predict }
        guard stream.mode == .predict, s.extendFrames > 0 || s.prependFrames > 0 else { return event }
        var segment = GstSegment()
        gst_event_copy_segment(event, &segment)
        guard segment.stop != clockTimeNone else { return event }
        segment.stop = clockTimeNone
        let lifted = gst_event_new_segment(&segment)!
        gst_event_set_seqnum(lifted, gst_event_get_seqnum(event))
        gst_event_unref(event)
        return lifted
    }

    /// A frame whose slot already went out (filled by a prediction, or taken by an earlier frame).
    func noteLate(_ pts: UInt, slot: UInt) {
        let first = countFirst(\.framesDropped, warned: \.warnedLate)
        gstLog(.info, element, "late frame at \(timeString(pts)): its slot \(timeString(slot)) already went out")
        if first {
            postWarning(element, "mode=predict: a frame (PTS \(timeString(pts))) arrived after its slot was filled "
                        + "(by a prediction, after a GAP or a later frame); it was dropped. Late frames are counted in "
                        + "frames-dropped.")
        }
    }
}
