// method=diffusion under real-time pressure (README "QoS and stats"): whether an inserted frame made by
// the model would reach the sink late, from what GStreamer tells the element (QoS events from a syncing
// sink, the pipeline latency the LATENCY event carries, whether upstream is live, the element's clock),
// and the stats: generated vs fallback frames and model time, as the `stats` property (a GstStructure
// named mcvd-stats) and an element message of the same name posted at EOS and every stats-interval. A pipeline that neither is
// live nor has a sink that syncs and sends QoS (a file transcode) never falls back for time.
import CGStreamer
import CGstMcvd

/// Written from any thread (src events, queries, caps), read by the worker before each model call.
struct QoSState {
    /// Upstream is live (latency query).
    var live = false
    /// A sink downstream syncs to the clock and sends QoS events (seen at least one).
    var synced = false
    /// Running time before which a frame is late (from the last QoS event); none = unknown.
    var earliest: UInt = clockTimeNone
    /// The last QoS event's proportion (1 = on time).
    var proportion = 1.0
    /// The pipeline latency from the LATENCY event (live pipelines); none = not seen.
    var latency: UInt = clockTimeNone
    /// One output frame in ns (set on caps).
    var frame: UInt = 0
    /// A model call's expected time: each call's time averaged with the previous estimate (recent calls
    /// weigh most), and when the last call ended (monotonic ns; 0 = none yet).
    var estimate: UInt = 0
    var lastCall: UInt = 0
    /// Without a model call for this long (monotonic ns), one runs with no time estimate (a probe: only a
    /// frame already late falls back), so that a slow first call (warm-up) or a busy spell does not lock
    /// the model out. Each probe doubles it (1 s, 2 s, ... 32 s: a model that is too slow stalls the output
    /// ever more rarely); a call that fits resets it.
    var probeInterval = QoSState.firstProbe
    static let firstProbe: UInt = 1_000_000_000
    static let lastProbe: UInt = 32_000_000_000
}

extension McvdFilter {
    // MARK: src pad events (any thread)

    /// QOS and LATENCY events from downstream are noted, then go upstream as usual.
    func srcEvent(_ pad: UnsafeMutablePointer<GstPad>, _ parent: UnsafeMutablePointer<GstObject>?,
                  _ event: EventPtr) -> Bool {
        switch event.pointee.type {
        case GST_EVENT_QOS:
            var type = GST_QOS_TYPE_OVERFLOW
            var proportion = 0.0
            var diff: GstClockTimeDiff = 0
            var timestamp: GstClockTime = 0
            gst_event_parse_qos(event, &type, &proportion, &diff, &timestamp)
            qos.withLock { q in
                q.synced = true
                q.proportion = proportion
                guard timestamp != clockTimeNone else { return }
                // As GstVideoDecoder: late by diff -> skip what falls within twice that (and a frame) after it.
                if diff > 0 { q.earliest = timestamp + 2 * UInt(diff) + q.frame }
                else { q.earliest = timestamp > UInt(-diff) ? timestamp - UInt(-diff) : 0 }
            }
            gstLog(.log, element, "QoS: proportion \(proportion), diff \(diff), timestamp \(timeString(timestamp))")
        case GST_EVENT_LATENCY:
            var latency: GstClockTime = 0
            gst_event_parse_latency(event, &latency)
            qos.withLock { $0.latency = latency }
            gstLog(.debug, element, "pipeline latency \(timeString(latency))")
        default:
            break
        }
        return gst_pad_event_default(pad, parent, event) != 0
    }

    /// Upstream live or not, and the output frame duration, at caps (streaming thread).
    func noteCapsForQoS(outputFrame: UInt) {
        qos.withLock { $0.frame = outputFrame }
        let query = gst_query_new_latency()!
        defer { gst_query_unref(query) }
        guard gst_pad_peer_query(sinkpad, query) != 0 else { return }
        var live: gboolean = 0
        var minLatency: GstClockTime = 0, maxLatency: GstClockTime = 0
        gst_query_parse_latency(query, &live, &minLatency, &maxLatency)
        qos.withLock { $0.live = live != 0 }
    }

    /// Forgets what QoS events said (flush, new segment): running times start again.
    func resetQoSTimes() {
        qos.withLock { $0.earliest = clockTimeNone; $0.proportion = 1 }
    }

    // MARK: the decision (worker or streaming thread)

    /// Whether a model frame for output time `pts` would be late: the pipeline is live (with its latency
    /// configured) or a sink syncs and sends QoS, and the frame's running time is before the earliest QoS
    /// allows, or the clock's running time now plus the expected model call (QoSState.estimate; none for
    /// a probe after QoSState.probeInterval without a call) passes the time the sink renders it (running time +
    /// the pipeline latency when live; `clock` false: only the QoS events). Files and unsynchronised sinks:
    /// never.
    func modelWouldBeLate(_ pts: UInt, clock: Bool = true) -> Bool {
        let q = qos.withLock { $0 }
        // Live: once the pipeline has configured its latency (the LATENCY event a live sink sends up), the
        // time a frame is due is known; before that (or with no sink, as in a GstHarness) nothing is late.
        let liveDeadline = q.live && q.latency != clockTimeNone
        guard liveDeadline || q.synced else { return false }
        var segment = stream.segment
        let rt = gst_segment_to_running_time(&segment, GST_FORMAT_TIME, pts)
        guard rt != clockTimeNone else { return false }
        if q.earliest != clockTimeNone && rt <= q.earliest { return true }
        guard clock else { return false }
        let now = gst_element_get_current_running_time(element)
        guard now != clockTimeNone else { return false }
        let due = rt + (liveDeadline ? q.latency : 0)
        if now + q.estimate <= due {
            qos.withLock { $0.probeInterval = QoSState.firstProbe }
            return false
        }
        if now <= due && UInt(monotonicNs()) - q.lastCall >= q.probeInterval {
            qos.withLock { $0.probeInterval = min(2 * $0.probeInterval, QoSState.lastProbe) }
            gstLog(.debug, element, "QoS: probing the model's time at \(timeString(pts))")
            return false
        }
        return true
    }

    /// Times one model call for the stats (and the next QoS estimates).
    func timedModelCall<T>(_ body: () throws -> T) rethrows -> T {
        let start = UInt(monotonicNs())
        defer {
            let end = UInt(monotonicNs()), t = end - start
            stats.withLock { $0.modelCalls += 1; $0.modelTime += t }
            qos.withLock { $0.estimate = $0.lastCall == 0 ? t : ($0.estimate + t) / 2; $0.lastCall = end }
        }
        return try body()
    }

    // MARK: stats

    /// The `stats` property and the mcvd-stats message: a GstStructure named mcvd-stats (caller owns it).
    func statsStructure() -> UnsafeMutablePointer<GstStructure> {
        let st = stats.withLock { $0 }
        let q = qos.withLock { $0 }
        let s = gst_structure_new_empty("mcvd-stats")!
        func u64(_ name: String, _ v: UInt) {
            var g = GValue(); g_value_init(&g, GType(11 << 2)); g_value_set_uint64(&g, v)  // G_TYPE_UINT64
            gst_structure_take_value(s, name, &g)
        }
        func f64(_ name: String, _ v: Double) {
            var g = GValue(); g_value_init(&g, GType(15 << 2)); g_value_set_double(&g, v)  // G_TYPE_DOUBLE
            gst_structure_take_value(s, name, &g)
        }
        func flag(_ name: String, _ v: Bool) {
            var g = GValue(); g_value_init(&g, GType(5 << 2)); g_value_set_boolean(&g, v ? 1 : 0)  // G_TYPE_BOOLEAN
            gst_structure_take_value(s, name, &g)
        }
        u64("frames-in", st.framesIn)
        u64("frames-out", st.framesOut)
        u64("frames-inserted", st.framesInserted)
        u64("frames-generated", st.framesGenerated)
        u64("frames-fallback", st.framesFallback)
        u64("frames-fallback-qos", st.framesFallbackQoS)
        u64("model-calls", st.modelCalls)
        u64("model-time", st.modelTime)
        u64("mean-model-time", st.modelCalls > 0 ? st.modelTime / st.modelCalls : 0)
        u64("mean-model-time-per-frame", st.framesGenerated > 0 ? st.modelTime / st.framesGenerated : 0)
        flag("live", q.live)
        flag("synced", q.synced)
        f64("qos-proportion", q.proportion)
        return s
    }

    /// stats-interval: posts the stats (not final) when the output timestamp `pts`, about to be pushed, lies
    /// the interval or more after the last post's (the first output starts the count; a timestamp before it,
    /// after a seek or a new segment, starts it again).
    func postStatsIfDue(pts: UInt) {
        let interval = settings.withLock { $0.statsInterval }
        guard interval > 0 else { return }
        let due = stats.withLock { st -> Bool in
            guard let last = st.statsPostedAt, pts >= last else { st.statsPostedAt = pts; return false }
            guard pts - last >= interval else { return false }
            st.statsPostedAt = pts
            return true
        }
        if due { postStats(final: false) }
    }

    /// Posts the stats as an element message when method=diffusion ran: at EOS (`final`: its eos field
    /// true), and every stats-interval.
    func postStats(final: Bool = true) {
        guard stats.withLock({ $0.modelCalls > 0 || $0.framesFallback > 0 }) else { return }
        let s = statsStructure()
        var eos = GValue(); g_value_init(&eos, GType(5 << 2)); g_value_set_boolean(&eos, final ? 1 : 0)  // G_TYPE_BOOLEAN
        gst_structure_take_value(s, "eos", &eos)
        gstLog(.info, element, {
            let text = gst_structure_to_string(s)!
            defer { g_free(text) }
            return "stats: " + String(cString: text)
        }())
        let object = UnsafeMutableRawPointer(element).assumingMemoryBound(to: GstObject.self)
        _ = gst_element_post_message(element, gst_message_new_element(object, s))
    }
}
