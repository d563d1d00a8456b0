// method=diffusion under real-time pressure and on its worker thread, in real pipelines (videotestsrc ->
// mcvd -> appsink) with the committed tiny-concat model: with a model made too slow for the stream (the test
// hook: GObject data "mcvd-test-model-delay" on the element, ns added to every model call), a live or
// synchronised pipeline falls back (frames-fallback-qos > 0) and still delivers every slot on time's grid,
// a file pipeline never does; the stats property and the mcvd-stats message; bit-identical runs with the
// worker; flushing seeks, EOS and NULL with model work queued neither hang nor lose slots.
import CGStreamer
import CGStreamerApp
import CGstCheck
import Element
import Foundation
import Testing

/// One run of a launch line whose mcvd is named `m` and whose last element is `appsink name=sink`.
struct QoSRun {
    var outs: [Out] = []
    /// The stats property after EOS, and the mcvd-stats element message, as uint64 fields (booleans 0/1).
    var stats: [String: UInt] = [:]
    var message: [String: UInt]?
    /// Every mcvd-stats message in order, with its eos field.
    var messages: [(fields: [String: UInt], eos: Bool)] = []
    var error: String?
}

let statsFields = ["frames-in", "frames-out", "frames-inserted", "frames-generated", "frames-fallback",
                   "frames-fallback-qos", "model-calls", "model-time", "mean-model-time", "mean-model-time-per-frame"]

func structureFields(_ s: UnsafePointer<GstStructure>) -> [String: UInt] {
    var out: [String: UInt] = [:]
    for f in statsFields {
        var v: guint64 = 0
        if gst_structure_get_uint64(s, f, &v) != 0 { out[f] = UInt(v) }
    }
    for f in ["live", "synced"] {
        var b: gboolean = 0
        if gst_structure_get_boolean(s, f, &b) != 0 { out[f] = b != 0 ? 1 : 0 }
    }
    return out
}

/// Plays `description` with the model delayed by `delay` ns; `during(pipe, buffers so far)` runs after each
/// buffer (seeks, state changes: return false to stop pulling). Stops at EOS, an error or `timeout`.
func qosRun(_ description: String, delay: UInt, timeout: Double = 120,
            during: ((UnsafeMutablePointer<GstElement>, Int) -> Bool)? = nil) throws -> QoSRun {
    precondition(gstReady)
    var err: UnsafeMutablePointer<GError>?
    guard let pipe = gst_parse_launch(description, &err), err == nil else {
        throw PipelineError(message: err.map { String(cString: $0.pointee.message) } ?? "cannot parse")
    }
    defer { gst_element_set_state(pipe, GST_STATE_NULL); gst_object_unref(pipe) }
    let bin = UnsafeMutableRawPointer(pipe).assumingMemoryBound(to: GstBin.self)
    let m = gst_bin_get_by_name(bin, "m")!
    defer { gst_object_unref(m) }
    let mObject = UnsafeMutableRawPointer(m).assumingMemoryBound(to: GObject.self)
    g_object_set_data_full(mObject, "mcvd-test-model-delay", g_strdup(String(delay)), g_free)
    let sink = gst_bin_get_by_name(bin, "sink")!
    defer { gst_object_unref(sink) }
    let appsink = UnsafeMutableRawPointer(sink).assumingMemoryBound(to: GstAppSink.self)
    let bus = gst_element_get_bus(pipe)!
    defer { gst_object_unref(bus) }
    gst_element_set_state(pipe, GST_STATE_PLAYING)
    var run = QoSRun()
    let deadline = Date().addingTimeInterval(timeout)
    func drainBus() {
        while let msg = gst_bus_pop(bus) {
            defer { gst_message_unref(msg) }
            if msg.pointee.type == GST_MESSAGE_ERROR, run.error == nil {
                var e: UnsafeMutablePointer<GError>?
                gst_message_parse_error(msg, &e, nil)
                run.error = String(cString: e!.pointee.message)
                g_error_free(e)
            }
            if msg.pointee.type == GST_MESSAGE_ELEMENT, let s = gst_message_get_structure(msg),
               String(cString: gst_structure_get_name(s)) == "mcvd-stats" {
                run.message = structureFields(s)
                var eos: gboolean = 0
                _ = gst_structure_get_boolean(s, "eos", &eos)
                run.messages.append((structureFields(s), eos != 0))
            }
        }
    }
    var pulling = true
    while pulling {
        guard Date() < deadline else { throw PipelineError(message: "timeout after \(timeout) s with \(run.outs.count) buffers") }
        drainBus()
        if run.error != nil { break }
        guard let sample = gst_app_sink_try_pull_sample(appsink, 100_000_000) else {
            if gst_app_sink_is_eos(appsink) != 0 { break }
            continue
        }
        let b = gst_sample_get_buffer(sample)!
        var info = GstVideoInfo()
        gst_video_info_from_caps(&info, gst_sample_get_caps(sample))
        run.outs.append(Out(pts: b.pointee.pts, duration: b.pointee.duration, offset: b.pointee.offset,
                            inserted: isInserted(b), discont: isDiscont(b), size: Int(gst_buffer_get_size(b)),
                            samples: componentSamples(b, info)))
        gst_sample_unref(sample)
        if let during, !during(pipe, run.outs.count) { pulling = false }
    }
    drainBus()
    var v = GValue()
    g_value_init(&v, gst_structure_get_type())
    g_object_get_property(mObject, "stats", &v)
    if let s = g_value_get_boxed(&v) { run.stats = structureFields(s.assumingMemoryBound(to: GstStructure.self)) }
    g_value_unset(&v)
    return run
}

@Suite(.serialized) struct QoSTests {
    /// No scene-cut or static tests: the QoS decisions alone (the ball at 16x16 is near-static, noise
    /// frames are all cuts; SceneTests covers those).
    static let model = "method=diffusion model=\(tinyConcat) steps=1 seed=9 scene-threshold=0 static-threshold=0"
    static let delay: UInt = 150_000_000  // a model call of 150 ms against frames 50 ms apart

    /// A live source at 20 fps and a model call of 150 ms: QoS gives late gaps the fallback, so the output
    /// keeps every slot (2 per input frame, on the 40 fps grid, no hang) and the counts add up.
    @Test func liveSlowModelFallsBack() throws {
        let run = try qosRun("videotestsrc is-live=true num-buffers=24 pattern=ball ! video/x-raw,format=I420,width=16,height=16,"
                             + "framerate=20/1 ! mcvd name=m \(Self.model) ! appsink name=sink sync=true", delay: Self.delay)
        #expect(run.error == nil)
        #expect(run.outs.count == 48)
        guard let p0 = run.outs.first?.pts else { return }
        #expect(run.outs.map(\.pts) == (0..<run.outs.count).map { p0 + scale(UInt($0), second, 40) })
        #expect(run.outs.map(\.inserted) == (0..<run.outs.count).map { $0 % 2 == 1 })
        let s = run.stats
        #expect(s["live"] == 1)
        #expect((s["frames-fallback-qos"] ?? 0) > 0, "\(s)")
        #expect(s["frames-inserted"] == 24)
        // Inserted = generated + fallback + the tail's repeat.
        #expect((s["frames-generated"] ?? 0) + (s["frames-fallback"] ?? 0) + 1 == 24, "\(s)")
        #expect((s["frames-fallback"] ?? 0) >= (s["frames-fallback-qos"] ?? 0) + 2, "the edges fall back too")
        #expect(run.message?["frames-fallback-qos"] == s["frames-fallback-qos"], "the EOS message carries the stats")
    }

    /// Not live, but the sink syncs to the clock and sends QoS events (qos=true): the same fallback.
    @Test func synchronisedSinkWithQoSFallsBack() throws {
        let run = try qosRun("videotestsrc num-buffers=24 pattern=ball ! video/x-raw,format=I420,width=16,height=16,"
                             + "framerate=20/1 ! mcvd name=m \(Self.model) ! appsink name=sink sync=true qos=true", delay: Self.delay)
        #expect(run.error == nil)
        #expect(run.outs.count == 48)
        #expect(run.outs.map(\.pts) == (0..<48).map { scale(UInt($0), second, 40) })
        #expect(run.stats["live"] == 0 && run.stats["synced"] == 1)
        #expect((run.stats["frames-fallback-qos"] ?? 0) > 0, "\(run.stats)")
    }

    /// A file pipeline (not live, sink not syncing) with the same slow model: every gap the model can
    /// condition is modelled, however long it takes; the stats property and the EOS message agree.
    @Test func filePipelineNeverFallsBack() throws {
        let run = try qosRun("videotestsrc num-buffers=8 pattern=ball ! video/x-raw,format=I420,width=16,height=16,"
                             + "framerate=20/1 ! mcvd name=m \(Self.model) ! appsink name=sink sync=false", delay: Self.delay)
        #expect(run.error == nil)
        #expect(run.outs.count == 16)
        #expect(run.outs.map(\.pts) == (0..<16).map { scale(UInt($0), second, 40) })
        let s = run.stats
        // 8 frames, k = f = 2: gaps 1...5 from the model, gaps 0 and 6 fall back, the tail repeats.
        #expect(s["frames-fallback-qos"] == 0)
        #expect(s["frames-fallback"] == 2)
        #expect(s["frames-generated"] == 5)
        #expect(s["model-calls"] == 5)
        #expect(s["frames-in"] == 8 && s["frames-out"] == 16 && s["frames-inserted"] == 8)
        #expect(s["live"] == 0 && s["synced"] == 0)
        let total = s["model-time"] ?? 0
        #expect(total >= 5 * Self.delay, "model time includes the hook's delay")
        #expect(s["mean-model-time"] == total / 5 && s["mean-model-time-per-frame"] == total / 5)
        var m = run.message ?? [:]
        // The message is posted at EOS, before the property is read: everything but the model time equal.
        #expect(m.removeValue(forKey: "model-time") != nil)
        #expect(m == s.filter { !["model-time"].contains($0.key) }, "message \(m) vs property \(s)")
    }

    /// stats-interval=100 ms on the 40 fps output of 8 input frames (outputs at 0, 25, ..., 375 ms): a
    /// message as the outputs at 100, 200 and 300 ms go out (frames-out 5, 9, 13), then the final one at EOS.
    /// Without the property: the final one only.
    @Test func statsIntervalPostsPeriodicMessages() throws {
        let line = "videotestsrc num-buffers=8 pattern=ball ! video/x-raw,format=I420,width=16,height=16,framerate=20/1 "
            + "! mcvd name=m \(Self.model) stats-interval=100000000 ! appsink name=sink sync=false"
        let run = try qosRun(line, delay: 0)
        #expect(run.error == nil && run.outs.count == 16)
        #expect(run.messages.map(\.eos) == [false, false, false, true], "\(run.messages)")
        #expect(run.messages.map { $0.fields["frames-out"] ?? 0 } == [5, 9, 13, 16], "\(run.messages)")
        let generated = run.messages.map { $0.fields["frames-generated"] ?? 0 }
        #expect(generated == generated.sorted() && generated.last == 5, "\(generated)")
        let once = try qosRun(line.replacingOccurrences(of: " stats-interval=100000000", with: ""), delay: 0)
        #expect(once.messages.map(\.eos) == [true])
    }

    /// Two runs with the same seed, the worker thread and 2 threads per forward: the same bytes; the model
    /// frames are not the blend (the model ran).
    @Test func workerRunsAreBitIdentical() throws {
        let line = "videotestsrc num-buffers=10 pattern=ball ! video/x-raw,format=RGB,width=24,height=16,framerate=20/1 "
            + "! mcvd name=m method=diffusion model=\(tinyConcat) steps=2 seed=4 threads=2 scene-threshold=0 static-threshold=0 ! appsink name=sink sync=false"
        let a = try qosRun(line, delay: 0), b = try qosRun(line, delay: 20_000_000)
        #expect(a.outs.count == 20 && b.outs.count == 20)
        guard a.outs.count == 20, b.outs.count == 20 else { return }
        #expect(a.outs.map(\.samples) == b.outs.map(\.samples))
        #expect(a.outs.map(\.pts) == b.outs.map(\.pts))
        #expect(a.stats["frames-generated"] == 7)
        let blend = expectedBlend(a.outs[4].samples, a.outs[6].samples, weight: 128)
        #expect(a.outs[5].samples != blend, "gap 2 is the model's")
    }

    /// A flushing seek while model work is queued (slow model): no hang; after the seek the output restarts
    /// at the seek position on the 40 fps grid and runs to the segment stop with every slot.
    @Test func flushingSeekWithWorkQueued() throws {
        var seeked = false
        let run = try qosRun("videotestsrc pattern=ball ! video/x-raw,format=I420,width=16,height=16,framerate=20/1 "
                             + "! mcvd name=m \(Self.model) ! appsink name=sink sync=false", delay: 60_000_000) { pipe, n in
            if n == 5 && !seeked {
                seeked = true
                #expect(gst_element_seek(pipe, 1.0, GST_FORMAT_TIME, GstSeekFlags(GST_SEEK_FLAG_FLUSH.rawValue | GST_SEEK_FLAG_ACCURATE.rawValue),
                                         GST_SEEK_TYPE_SET, gint64(2 * second), GST_SEEK_TYPE_SET, gint64(2 * second + second / 2)) != 0)
            }
            return true
        }
        #expect(run.error == nil)
        #expect(seeked)
        // 2.0 ... 2.45 s at 20 fps: 10 frames -> 20 slots from 2.0 s (frames from before the seek may come first).
        let tail = Array(run.outs.map(\.pts).drop { $0 < 2 * second })
        #expect(tail == (0..<20).map { 2 * second + scale(UInt($0), second, 40) })
        #expect((run.stats["model-calls"] ?? 0) > 0)
        #expect(run.stats["frames-fallback-qos"] == 0, "a file pipeline: a flush is no QoS fallback")
    }

    /// QoS events alone (a GstHarness has no running clock): a QoS event saying the sink rendered the frame
    /// at 0.3 s 50 ms late sets the earliest time to 0.3 + 2 x 0.05 + 0.05 s = 0.45 s; gaps whose first
    /// inserted slot lies at or before it get the fallback (the documented blend), later ones the model.
    @Test func qosEventsMakeEarlyGapsFallBack() {
        let h = Harness(["method": "diffusion", "model": tinyConcat, "steps": "1", "seed": "3", "scene-threshold": "0", "static-threshold": "0"],
                        caps: "video/x-raw,format=I420,width=16,height=16,framerate=10/1")
        let frame = scale(1, second, 10)
        #expect(h.push(seed: 100, pts: 0) == GST_FLOW_OK)
        #expect(gst_harness_push_upstream_event(h.h, gst_event_new_qos(GST_QOS_TYPE_UNDERFLOW, 1.5, 50_000_000, 3 * frame)) != 0)
        for i in 1..<10 { #expect(h.push(seed: UInt64(100 + i), pts: UInt(i) * frame) == GST_FLOW_OK) }
        #expect(h.event(gst_event_new_eos()))
        let outs = h.pullAll()
        #expect(outs.count == 20)
        guard outs.count == 20 else { return }
        // Gaps 1...7 can condition; inserted slots at g + 0.5 frames: gaps 1...3 (0.15, 0.25, 0.35 s) and
        // gap 4 (0.45 s) are late; gaps 5...7 are the model's.
        for g in 1...4 {
            #expect(outs[2 * g + 1].samples == expectedBlend(h.samples(seed: UInt64(100 + g)), h.samples(seed: UInt64(101 + g)), weight: 128), "gap \(g)")
        }
        for g in 5...7 {
            #expect(outs[2 * g + 1].samples != expectedBlend(h.samples(seed: UInt64(100 + g)), h.samples(seed: UInt64(101 + g)), weight: 128), "gap \(g)")
        }
        #expect(h.counter("frames-fallback") == 6)  // gaps 0 and 8, and the four late ones
        var v = GValue()
        g_value_init(&v, gst_structure_get_type())
        g_object_get_property(UnsafeMutableRawPointer(h.h.pointee.element).assumingMemoryBound(to: GObject.self), "stats", &v)
        let stats = structureFields(g_value_get_boxed(&v)!.assumingMemoryBound(to: GstStructure.self))
        g_value_unset(&v)
        #expect(stats["frames-fallback-qos"] == 4 && stats["frames-generated"] == 3 && stats["model-calls"] == 3, "\(stats)")
        #expect(stats["synced"] == 1)
    }

    /// mode=predict: a missing frame whose slot the sink already reported late is repeated, not predicted.
    @Test func predictModeHonoursQoSEvents() {
        let h = Harness(["mode": "predict", "method": "diffusion", "model": tinyConcat, "steps": "1", "seed": "3", "scene-threshold": "0", "static-threshold": "0"],
                        caps: "video/x-raw,format=I420,width=16,height=16,framerate=10/1")
        let frame = scale(1, second, 10)
        for i in 0..<3 { #expect(h.push(seed: UInt64(100 + i), pts: UInt(i) * frame) == GST_FLOW_OK) }
        #expect(h.push(seed: 104, pts: 4 * frame) == GST_FLOW_OK)    // slot 3 predicted by the model
        #expect(gst_harness_push_upstream_event(h.h, gst_event_new_qos(GST_QOS_TYPE_UNDERFLOW, 1.5, 100_000_000, 4 * frame)) != 0)
        #expect(h.push(seed: 106, pts: 6 * frame) == GST_FLOW_OK)    // slot 5 (0.5 s <= 0.4 + 0.2 + 0.1): late
        #expect(h.push(seed: 107, pts: 7 * frame) == GST_FLOW_OK)
        #expect(h.push(seed: 110, pts: 10 * frame) == GST_FLOW_OK)   // slots 8, 9 (after 0.7 s): the model
        #expect(h.event(gst_event_new_eos()))
        let outs = h.pullAll()
        #expect(outs.count == 11)
        guard outs.count == 11 else { return }
        #expect(outs[3].inserted && outs[5].inserted && outs[8].inserted && outs[9].inserted)
        #expect(outs[3].samples != h.samples(seed: 102), "slot 3: predicted")
        #expect(outs[5].samples == h.samples(seed: 104), "slot 5: late, repeats the last original")
        #expect(outs[8].samples != h.samples(seed: 107) && outs[9].samples != h.samples(seed: 107), "slots 8, 9: predicted")
        var v = GValue()
        g_value_init(&v, gst_structure_get_type())
        g_object_get_property(UnsafeMutableRawPointer(h.h.pointee.element).assumingMemoryBound(to: GObject.self), "stats", &v)
        let stats = structureFields(g_value_get_boxed(&v)!.assumingMemoryBound(to: GstStructure.self))
        g_value_unset(&v)
        #expect(stats["frames-fallback-qos"] == 1 && stats["frames-generated"] == 3, "\(stats)")
    }

    /// PLAYING -> NULL while the worker holds queued gaps and a model call is running: returns promptly.
    @Test func stopWithWorkQueued() throws {
        let start = Date()
        let run = try qosRun("videotestsrc pattern=ball ! video/x-raw,format=I420,width=16,height=16,framerate=20/1 "
                             + "! mcvd name=m \(Self.model) ! appsink name=sink sync=false", delay: 30_000_000_000) { _, n in n < 3 }
        #expect(run.outs.count >= 3)
        // The run's end sets NULL: the running 30 s model call is cut short by the flush.
        #expect(Date().timeIntervalSince(start) < 15)
    }
}
