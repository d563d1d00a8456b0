// The streaming side of the mcvd element: caps negotiation, chain, serialized events, queries.
// Timing rules (README "Timestamps"): output slots lie on a grid anchored at the first input PTS after a
// (re)start; a slot within the tolerance of an input PTS is that input frame, passed through untouched;
// other slots are synthesised from the input frames around them; at EOS (and before a discontinuity,
// a new segment, a gap or a caps change) the last frame is repeated until its own end time.
import CGStreamer
import CGstMcvd

extension McvdFilter {
    // MARK: caps (streaming thread)

    /// Sink CAPS event (or a RECONFIGURE from downstream, with `force`): parse the input caps, pick the
    /// output rate (downstream's if it fixes one, else input x factor) and push the output caps. When the
    /// input or the output rate changes, the held frame drains first (under the old caps) and the grid
    /// restarts; a renegotiation that changes nothing keeps both.
    func setCaps(_ caps: CapsPtr, force: Bool = false) -> Bool {
        var info = GstVideoInfo()
        guard gst_video_info_from_caps(&info, caps) != 0 else {
            postStreamError(element, GST_STREAM_ERROR_FORMAT, "Cannot parse input caps",
                            debug: capsString(caps))
            return false
        }
        guard info.fps_n >= 0, info.fps_d > 0 else {
            postStreamError(element, GST_STREAM_ERROR_FORMAT,
                            "Cannot use input frame rate \(info.fps_n)/\(info.fps_d)", debug: capsString(caps))
            return false
        }
        guard info.interlace_mode == GST_VIDEO_INTERLACE_MODE_PROGRESSIVE else {
            postStreamError(element, GST_STREAM_ERROR_FORMAT,
                            "mcvd needs progressive video; put deinterlace before it", debug: capsString(caps))
            return false
        }
        if !stream.negotiated && !takeMode() { return false }
        _ = worker.waitIdle()  // the frames of the old caps go out first
        if !stream.negotiated { stream.fillGaps = stream.mode == .interpolate && settings.withLock { $0.pairs.fillGaps } }
        let sameInput = stream.negotiated && gst_video_info_is_equal(&info, &stream.info) != 0
        if sameInput && !force { return true }

        // Variable-rate input (0/1): frames are placed by their timestamps; only the output rate must
        // come from somewhere, and `factor` has nothing to multiply, so downstream has to fix it.
        let inRate = Fraction(n: info.fps_n, d: info.fps_d)
        let variableRate = inRate.n == 0
        // mode=predict and fill-gaps keep the input rate: they fill missing frames, they insert none.
        let factor = stream.mode == .predict || stream.fillGaps ? 1 : settings.withLock { $0.factor }
        if stream.fillGaps && variableRate {
            postStreamError(element, GST_STREAM_ERROR_FORMAT,
                            "fill-gaps fills frames missing on the input's frame grid and needs a constant input frame "
                            + "rate in the caps: make it constant before mcvd (videorate ! video/x-raw,framerate=30/1 ! mcvd)",
                            debug: capsString(caps))
            return false
        }
        if stream.mode == .predict && variableRate {
            postStreamError(element, GST_STREAM_ERROR_FORMAT,
                            "mode=predict fills frames missing on the input's frame grid and needs a constant input "
                            + "frame rate: make it constant before mcvd (videorate ! video/x-raw,framerate=30/1 ! mcvd)",
                            debug: capsString(caps))
            return false
        }
        guard let target = variableRate ? Fraction(n: 30, d: 1) : inRate.times(factor) else {
            postStreamError(element, GST_STREAM_ERROR_FORMAT, "Output frame rate \(inRate) x \(factor) overflows")
            return false
        }
        guard let fixated = fixateOutputCaps(caps, target: target) else { return false }
        let (outCaps, downstreamFixed) = fixated
        defer { capsUnref(outCaps) }
        if variableRate && !downstreamFixed {
            postStreamError(element, GST_STREAM_ERROR_FORMAT,
                            "Variable-rate input (framerate=0/1) needs a fixed output rate: put a caps filter "
                            + "after mcvd (mcvd ! video/x-raw,framerate=60/1), or make the input rate constant "
                            + "before it (videorate ! video/x-raw,framerate=30/1 ! mcvd)",
                            debug: capsString(caps))
            return false
        }
        guard let outRate = getFraction(gst_caps_get_structure(outCaps, 0), "framerate"), outRate.n > 0 else {
            postStreamError(element, GST_STREAM_ERROR_FORMAT,
                            "Downstream wants a variable frame rate (0/1); mcvd outputs a fixed rate",
                            debug: capsString(outCaps))
            return false
        }
        if stream.fillGaps && outRate != inRate {
            postStreamError(element, GST_STREAM_ERROR_FORMAT,
                            "fill-gaps keeps the input frame rate (\(inRate)) but downstream wants \(outRate): change "
                            + "the rate after mcvd (mcvd fill-gaps=true ! videorate ! ...), or set fill-gaps=false",
                            debug: capsString(outCaps))
            return false
        }
        if stream.mode == .predict && outRate != inRate {
            postStreamError(element, GST_STREAM_ERROR_FORMAT,
                            "mode=predict keeps the input frame rate (\(inRate)) but downstream wants \(outRate): "
                            + "change the rate after mcvd (mcvd mode=predict ! videorate ! ...), or use mode=interpolate",
                            debug: capsString(outCaps))
            return false
        }
        let restart = !sameInput || outRate != stream.outRate
        let diffusion = diffusionEngine(for: info, restart: restart)
        guard diffusion.ok else { return false }
        if restart, stream.held != nil { _ = drainHeld(restartGrid: true) }
        stream.diffusion.engine = diffusion.engine
        gstLog(.info, element, "input \(capsString(caps)) -> output rate \(outRate)")
        stream.info = info
        if let old = stream.inCaps { capsUnref(old) }
        stream.inCaps = gst_caps_ref(caps)
        stream.inRate = inRate
        stream.outRate = outRate
        stream.timeline = InputTimeline(rate: variableRate ? nil : inRate,
                                        nominal: variableRate ? outRate.frameDuration : inRate.frameDuration,
                                        window: settings.withLock { $0.snapWindow })
        stream.negotiated = true
        if restart { stream.release() }
        lookAheadNs.store(stream.timeline.nominal * lookAheadFrames, ordering: .relaxed)
        noteCapsForQoS(outputFrame: outRate.frameDuration)
        return gst_pad_push_event(srcpad, gst_event_new_caps(outCaps)) != 0
    }

    /// Output caps = input caps with the frame rate downstream accepts nearest to `target`, and whether
    /// downstream allowed only one rate.
    func fixateOutputCaps(_ caps: CapsPtr, target: Fraction) -> (CapsPtr, Bool)? {
        let filter = capsWithoutFramerate(caps)
        defer { capsUnref(filter) }
        guard var peer = gst_pad_peer_query_caps(srcpad, filter) else { return nil }
        // Intersect ourselves: a peer may ignore the filter.
        let allowed = gst_caps_intersect(peer, filter)!
        capsUnref(peer)
        peer = allowed
        if gst_caps_is_empty(peer) != 0 {
            capsUnref(peer)
            postStreamError(element, GST_STREAM_ERROR_FORMAT,
                            "Downstream accepts no video of this format and size",
                            debug: capsString(filter))
            return nil
        }
        peer = gst_caps_truncate(peer)
        peer = capsMakeWritable(peer)
        let s = gst_caps_get_structure(peer, 0)
        var fixed = false
        if let rate = gst_structure_get_value(s, "framerate") {
            fixed = gst_value_is_fixed(rate) != 0
            _ = gst_structure_fixate_field_nearest_fraction(s, "framerate", target.n, target.d)
        } else {
            setFraction(s, "framerate", target)
        }
        return (gst_caps_fixate(peer), fixed)
    }

    // MARK: chain (streaming thread)

    func chain(_ buffer: BufferPtr) -> GstFlowReturn {
        stats.withLock { $0.framesIn += 1 }
        guard stream.segment.format == GST_FORMAT_TIME, stream.segment.rate > 0 else {
            bufferUnref(buffer)
            return GST_FLOW_ERROR  // the SEGMENT event already posted the error
        }
        guard stream.negotiated else {
            bufferUnref(buffer)
            postCoreError(element, GST_CORE_ERROR_NEGOTIATION, "Input not negotiated: upstream sent no caps, or they were refused because downstream accepts no video of that format and size")
            return GST_FLOW_NOT_NEGOTIATED
        }
        // A buffer that cannot hold a frame of the negotiated caps is an error, not a crash later.
        guard var check = MappedFrame(&stream.info, buffer, write: false) else {
            postStreamError(element, GST_STREAM_ERROR_FORMAT,
                            "Input buffer of \(gst_buffer_get_size(buffer)) bytes does not hold a "
                            + "\(stream.info.width)x\(stream.info.height) frame of the negotiated caps "
                            + "(\(stream.info.size) bytes)")
            bufferUnref(buffer)
            return GST_FLOW_ERROR
        }
        check.unmap()
        let follow = followDiffusionMethod()
        if follow != GST_FLOW_OK { bufferUnref(buffer); return follow }
        // Downstream asked to renegotiate (RECONFIGURE): redo the output caps from the input caps.
        if gst_pad_check_reconfigure(srcpad) != 0, let caps = stream.inCaps {
            let keep = gst_caps_ref(caps)!
            defer { capsUnref(keep) }
            guard setCaps(keep, force: true) else {
                gst_pad_mark_reconfigure(srcpad)  // try again with the next buffer
                bufferUnref(buffer)
                return GST_FLOW_NOT_NEGOTIATED
            }
        }
        let inDuration = stream.timeline.nominal
        // Input timestamp rules (InputTimeline): jittered PTS snap to the nominal grid; missing,
        // duplicated or slightly-off ones are re-placed on it; a DISCONT frame starts afresh (nothing is
        // synthesised across it).
        let rawPTS = buffer.pointee.pts
        let discont = stream.held != nil && bufferHasFlag(buffer, GST_BUFFER_FLAG_DISCONT)
        if stream.held == nil || (discont && rawPTS != clockTimeNone) { stream.timeline.reset() }
        let previous = stream.timeline.started ? stream.held?.pts : nil
        let pts: UInt
        switch stream.timeline.place(rawPTS, start: stream.segment.start) {
        case .at(let p):
            pts = p
        case .retimed(let p):
            pts = p
            noteRetimed(rawPTS, placed: p, previous: previous)
        case .dropped:
            noteDropped(rawPTS, previous: previous ?? 0)
            bufferUnref(buffer)
            return GST_FLOW_OK
        }
        if stream.mode == .predict {
            let duration = buffer.pointee.duration != clockTimeNone && buffer.pointee.duration > 0
                ? buffer.pointee.duration : inDuration
            return predictChain(HeldFrame(buffer: buffer, pts: pts, duration: duration), discont: discont)
        }
        let duration = buffer.pointee.duration != clockTimeNone && buffer.pointee.duration > 0
            ? buffer.pointee.duration : inDuration
        if stream.fillGaps, !discont, let held = stream.held, isDuplicate(buffer, of: held.buffer) {
            noteDuplicate(pts: pts, duration: duration)
            bufferUnref(buffer)
            return GST_FLOW_OK
        }
        if discont {
            gstLog(.debug, element, "DISCONT at \(pts): no synthesis across it")
            let ret = drainHeld(restartGrid: false)
            if ret != GST_FLOW_OK { bufferUnref(buffer); return ret }
        }
        if let grid = stream.grid, stream.held == nil, stream.nextSlot > 0,
           pts < grid.start(stream.nextSlot - 1) {
            // After a DISCONT or GAP that went back in time: restart the grid at this frame.
            stream.grid = nil
        }
        if let grid = stream.grid {
            // After a DISCONT or GAP the grid goes on: skip the slots that lie before this frame.
            if stream.held == nil { while grid.slot(stream.nextSlot, isBefore: pts) { stream.nextSlot += 1 } }
        } else {
            stream.grid = OutputGrid(anchor: pts, rate: stream.outRate, tolerance: settings.withLock { $0.snapWindow })
            stream.nextSlot = 0
        }
        var ret = GST_FLOW_OK
        if stream.diffusion.engine != nil {
            ret = diffusionPush(HeldFrame(buffer: buffer, pts: pts, duration: duration))
            if let held = stream.held { bufferUnref(held.buffer) }
        } else if let held = stream.held {
            ret = emitSlots(before: pts, from: held, to: HeldFrame(buffer: buffer, pts: pts, duration: duration))
            bufferUnref(held.buffer)
        }
        stream.held = HeldFrame(buffer: buffer, pts: pts, duration: duration)
        stream.heldEnd = nil
        return ret
    }

    /// Pushes every output slot that starts before `end` (minus the tolerance): `from` itself for the slot
    /// at its PTS, synthesised frames between `from` and `to` (or repeats of `from` when `to` is nil).
    /// `method` overrides the property (diffusion's fallback); `model` makes the frame at a blend weight
    /// (method=diffusion: given the weight and the slot's PTS; nil = error posted).
    func emitSlots(before end: UInt, from: HeldFrame, to: HeldFrame?, method: Method? = nil,
                   model: ((_ weight: Int, _ pts: UInt) -> BufferPtr?)? = nil) -> GstFlowReturn {
        guard let grid = stream.grid else { return GST_FLOW_OK }
        let method = method ?? settings.withLock { $0.method }
        while grid.slot(stream.nextSlot, isBefore: end) {
            let t = grid.start(stream.nextSlot), tEnd = grid.start(stream.nextSlot + 1)
            let out: BufferPtr
            var inserted = false
            if t <= from.pts || t - from.pts <= grid.tolerance {
                out = bufferMakeWritable(bufferRef(from.buffer))
            } else if let to, let model {
                guard let b = model(blendWeight(t: t, p0: from.pts, p1: to.pts), t) else { return GST_FLOW_ERROR }
                out = b
                inserted = true
            } else if let to, method == .motion {
                guard let m = motionSlot(t: t, from: from, to: to) else { return GST_FLOW_ERROR }
                out = m
                inserted = true
            } else if let to, method == .blend {
                let w = blendWeight(t: t, p0: from.pts, p1: to.pts)
                guard let b = blend(from.buffer, to.buffer, weight: w) else { return GST_FLOW_ERROR }
                out = b
                inserted = true
            } else {
                out = bufferMakeWritable(bufferRef(from.buffer))
                inserted = true
            }
            if inserted {
                gst_buffer_add_reference_timestamp_meta(out, McvdFilter.insertedCaps, from.pts,
                                                        to.map { $0.pts - from.pts } ?? from.duration)
            }
            out.pointee.pts = t
            out.pointee.dts = clockTimeNone
            out.pointee.duration = tEnd - t
            out.pointee.offset = stream.outOffset
            out.pointee.offset_end = stream.outOffset + 1
            if stream.discontPending { bufferSetFlag(out, GST_BUFFER_FLAG_DISCONT) }
            else { bufferClearFlag(out, GST_BUFFER_FLAG_DISCONT) }
            stream.discontPending = false
            stream.nextSlot += 1
            stream.outOffset += 1
            stats.withLock { $0.framesOut += 1; if inserted { $0.framesInserted += 1 } }
            postStatsIfDue(pts: t)
            let ret = gst_pad_push(srcpad, out)
            if ret != GST_FLOW_OK { return ret }
        }
        return GST_FLOW_OK
    }

    /// Emits the held frame's remaining slots up to its end time (repeats), then forgets it; the next
    /// output buffer is flagged DISCONT. With `restartGrid` (new segment, caps, flush) the next input
    /// frame anchors a new grid; without (DISCONT, GAP) the grid continues.
    func drainHeld(restartGrid: Bool) -> GstFlowReturn {
        if stream.mode == .predict { return predictDrain(restartGrid: restartGrid) }
        var ret = drainDiffusionWindow()
        if let held = stream.held {
            let tail = emitSlots(before: max(held.pts &+ held.duration, stream.heldEnd ?? 0), from: held, to: nil)
            if ret == GST_FLOW_OK { ret = tail }
            bufferUnref(held.buffer)
            stream.held = nil
            stream.heldEnd = nil
        }
        stream.discontPending = true
        if restartGrid { stream.release() }
        return ret
    }

    func blend(_ a: BufferPtr, _ b: BufferPtr, weight: Int) -> BufferPtr? {
        guard let out = gst_buffer_new_allocate(nil, stream.info.size, nil) else {
            postCoreError(element, GST_CORE_ERROR_FAILED, "Out of memory allocating a \(stream.info.size)-byte frame")
            return nil
        }
        guard var fa = MappedFrame(&stream.info, a, write: false) else {
            postStreamError(element, GST_STREAM_ERROR_FORMAT, "Input buffer too small for the negotiated caps")
            bufferUnref(out); return nil
        }
        defer { fa.unmap() }
        guard var fb = MappedFrame(&stream.info, b, write: false) else {
            postStreamError(element, GST_STREAM_ERROR_FORMAT, "Input buffer too small for the negotiated caps")
            bufferUnref(out); return nil
        }
        defer { fb.unmap() }
        guard var fo = MappedFrame(&stream.info, out, write: true) else { bufferUnref(out); return nil }
        defer { fo.unmap() }
        BlendSynthesizer().synthesize(past: fa.planes, future: fb.planes, weight: weight, output: fo.planes)
        return out
    }

    // MARK: events

    /// Sink pad events. Serialized ones run on the streaming thread.
    func sinkEvent(_ pad: UnsafeMutablePointer<GstPad>, _ parent: UnsafeMutablePointer<GstObject>?,
                   _ event: EventPtr) -> Bool {
        let type = event.pointee.type
        if type == GST_EVENT_FLUSH_START {
            // Any thread: stop the worker's jobs and wake a streaming thread waiting on it, then flush downstream.
            worker.setFlushing(true)
            return gst_pad_event_default(pad, parent, event) != 0
        }
        // Serialized events follow the frames queued before them (method=diffusion's worker).
        if type.rawValue & GST_EVENT_TYPE_SERIALIZED.rawValue != 0 && type != GST_EVENT_FLUSH_STOP {
            _ = worker.waitIdle()
        }
        switch type {
        case GST_EVENT_CAPS:
            var caps: CapsPtr?
            gst_event_parse_caps(event, &caps)
            let ok = caps.map { setCaps($0) } ?? false
            gst_event_unref(event)
            return ok
        case GST_EVENT_SEGMENT:
            var segment = GstSegment()
            gst_event_copy_segment(event, &segment)
            guard segment.format == GST_FORMAT_TIME else {
                postStreamError(element, GST_STREAM_ERROR_FORMAT,
                                "mcvd needs TIME segments, got \(String(cString: gst_format_get_name(segment.format)))")
                stream.segment = segment  // refuses buffers until a TIME segment comes
                gst_event_unref(event)
                return false
            }
            _ = drainHeld(restartGrid: true)
            stream.segment = segment
            guard segment.rate > 0 else {
                // Reverse playback delivers frames in decreasing PTS order: refuse it rather than lose them.
                postStreamError(element, GST_STREAM_ERROR_FAILED,
                                "mcvd does not support reverse playback (segment rate \(segment.rate)); "
                                + "play forwards, or reverse after mcvd")
                gst_event_unref(event)
                return false
            }
            return gst_pad_event_default(pad, parent, predictSegment(event)) != 0
        case GST_EVENT_GAP where stream.mode == .predict:
            return predictGap(pad, parent, event)
        case GST_EVENT_EOS where stream.mode == .predict:
            _ = predictEOS()
            reportTimestampSummary()
            postStats()
            return gst_pad_event_default(pad, parent, event) != 0
        case GST_EVENT_GAP, GST_EVENT_EOS:
            // Nothing is synthesised across a gap; EOS drains the held frame (tail rule).
            _ = drainHeld(restartGrid: false)
            if event.pointee.type == GST_EVENT_EOS { reportTimestampSummary(); postStats() }
            return gst_pad_event_default(pad, parent, event) != 0
        case GST_EVENT_FLUSH_STOP:
            _ = worker.waitIdle()  // the flushed jobs are gone; a running one has returned
            worker.setFlushing(false)
            resetQoSTimes()
            stream.release()
            stream.outOffset = 0
            gst_segment_init(&stream.segment, GST_FORMAT_TIME)
            return gst_pad_event_default(pad, parent, event) != 0
        default:
            return gst_pad_event_default(pad, parent, event) != 0
        }
    }

    // MARK: queries (any thread)

    func sinkQuery(_ pad: UnsafeMutablePointer<GstPad>, _ parent: UnsafeMutablePointer<GstObject>?,
                   _ query: UnsafeMutablePointer<GstQuery>) -> Bool {
        if query.pointee.type == GST_QUERY_CAPS { return capsQuery(pad, peerOf: srcpad, query) }
        return gst_pad_query_default(pad, parent, query) != 0
    }

    func srcQuery(_ pad: UnsafeMutablePointer<GstPad>, _ parent: UnsafeMutablePointer<GstObject>?,
                  _ query: UnsafeMutablePointer<GstQuery>) -> Bool {
        switch query.pointee.type {
        case GST_QUERY_CAPS:
            return capsQuery(pad, peerOf: sinkpad, query)
        case GST_QUERY_LATENCY:
            // Upstream latency plus the look-ahead: an output slot is known once the next input arrives.
            guard gst_pad_peer_query(sinkpad, query) != 0 else { return false }
            var live: gboolean = 0
            var minLatency: GstClockTime = 0, maxLatency: GstClockTime = 0
            gst_query_parse_latency(query, &live, &minLatency, &maxLatency)
            let extra = lookAheadNs.load(ordering: .relaxed)
            qos.withLock { $0.live = live != 0 }
            gstLog(.debug, element, "latency: upstream min \(minLatency) + look-ahead \(extra)")
            gst_query_set_latency(query, live, minLatency + extra,
                                  maxLatency == clockTimeNone ? maxLatency : maxLatency + extra)
            return true
        default:
            return gst_pad_query_default(pad, parent, query) != 0
        }
    }

    /// What `pad` can do = what the other side's peer can do, at any frame rate, within our template.
    func capsQuery(_ pad: UnsafeMutablePointer<GstPad>, peerOf other: UnsafeMutablePointer<GstPad>,
                   _ query: UnsafeMutablePointer<GstQuery>) -> Bool {
        var filter: CapsPtr?
        gst_query_parse_caps(query, &filter)
        let template = gst_pad_get_pad_template_caps(pad)!
        var result: CapsPtr
        let otherFilter = filter.map { capsWithoutFramerate($0) }
        if let peer = gst_pad_peer_query_caps(other, otherFilter) {
            let anyRate = capsWithoutFramerate(peer)
            result = gst_caps_intersect(anyRate, template)
            capsUnref(anyRate)
            capsUnref(peer)
        } else {
            result = gst_caps_ref(template)
        }
        if let otherFilter { capsUnref(otherFilter) }
        capsUnref(template)
        if let filter {
            let r = gst_caps_intersect_full(filter, result, GST_CAPS_INTERSECT_FIRST)!
            capsUnref(result)
            result = r
        }
        gst_query_set_caps_result(query, result)
        capsUnref(result)
        return true
    }
}
