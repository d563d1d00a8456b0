// Events through the element: flush and seek, EOS tail, caps change mid-stream, DISCONT, GAP, missing
// frames, segments, latency.
import CGStreamer
import CGStreamerApp
import CGstCheck
import Element
import Testing

@Suite struct EventTests {
    let caps = "video/x-raw,format=GRAY8,width=4,height=4,framerate=30/1"
    func p(_ k: Int) -> UInt { scale(UInt(k), second, 30) }

    /// FLUSH_START/STOP in the middle drops the held frame; the next frames restart the grid at their PTS
    /// with DISCONT, and nothing is blended across the flush.
    @Test func flushDropsHeldFrameAndRestarts() {
        let h = Harness(caps: caps)
        for k in 0..<3 { h.push(seed: UInt64(k), pts: p(k)) }
        let before = h.pullAll()
        #expect(before.count == 4)  // frames 0,1 with their inserted slots; frame 2 is held
        #expect(h.event(gst_event_new_flush_start()))
        #expect(h.event(gst_event_new_flush_stop(1)))
        h.segment(start: p(10))
        for k in 10..<12 { h.push(seed: UInt64(k), pts: p(k)) }
        #expect(h.event(gst_event_new_eos()))
        let after = h.pullAll()
        // A flush restarts the grid at the first new frame's PTS.
        #expect(after.map(\.pts) == (0..<4).map { p(10) + scale(UInt($0), second, 60) })
        #expect(after.first?.discont == true)
        #expect(after.first?.samples == h.samples(seed: 10))
        #expect(after[1].samples == expectedBlend(h.samples(seed: 10), h.samples(seed: 11), weight: 128))
        #expect(after.allSatisfy { $0.samples != h.samples(seed: 2) })  // held frame 2 was dropped
    }

    /// EOS: the last frame is repeated until its own end (PTS + duration), so output duration = input's.
    @Test func eosTailPreservesDuration() {
        let h = Harness(["factor": "4"], caps: caps)
        for k in 0..<5 { h.push(seed: UInt64(k), pts: p(k), duration: p(k + 1) - p(k)) }
        #expect(h.event(gst_event_new_eos()))
        let outs = h.pullAll()
        #expect(outs.count == 20)
        #expect(outs.last.map { $0.pts + $0.duration } == p(5))
        #expect(outs.suffix(4).allSatisfy { $0.samples == h.samples(seed: 4) })
        // The EOS event itself is forwarded after the tail.
        var sawEOS = false
        while let e = gst_harness_try_pull_event(h.h) {
            if e.pointee.type == GST_EVENT_EOS { sawEOS = true }
            gst_event_unref(e)
        }
        #expect(sawEOS)
    }

    /// Caps change mid-stream: the old frames drain (tail repeated) in the old caps, then new caps with
    /// the new size and the doubled rate go downstream; nothing is blended across the change.
    @Test func capsChangeDrainsThenRenegotiates() {
        let h = Harness(caps: caps)
        for k in 0..<2 { h.push(seed: UInt64(k), pts: p(k)) }
        let first = h.pullAll()
        #expect(first.count == 2)
        h.setCaps("video/x-raw,format=GRAY8,width=6,height=2,framerate=15/1")
        let drained = h.pullAll()
        #expect(drained.count == 2)  // frame 1 and its repeat
        #expect(drained.allSatisfy { $0.size == 16 })  // old 4x4 caps
        #expect(h.outRate == (30, 1))
        let q = { (k: Int) in scale(UInt(k), second, 15) }
        for k in 4..<6 { h.push(seed: UInt64(k), pts: q(k)) }
        #expect(h.event(gst_event_new_eos()))
        let outs = h.pullAll()
        #expect(outs.count == 4)
        #expect(outs.allSatisfy { $0.samples[0].count == 12 })
        #expect(outs.first?.discont == true)
        #expect(outs.map(\.pts) == (0..<4).map { q(4) + scale(UInt($0), second, 30) })  // new grid
    }

    /// Downstream changes its caps mid-stream (RECONFIGURE): the held frame drains at the old rate, then
    /// output continues at the new rate on a grid restarted at the next input frame.
    @Test func downstreamRateChangeRenegotiates() {
        let h = Harness(caps: caps, sinkCaps: "video/x-raw,format=GRAY8,width=4,height=4,framerate=60/1")
        for k in 0..<3 { h.push(seed: UInt64(k), pts: p(k)) }
        #expect(h.pullAll().count == 4)
        gst_harness_set_sink_caps_str(h.h, "video/x-raw,format=GRAY8,width=4,height=4,framerate=90/1")
        for k in 3..<5 { h.push(seed: UInt64(k), pts: p(k)) }
        #expect(h.event(gst_event_new_eos()))
        let outs = h.pullAll()
        #expect(h.outRate == (90, 1))
        // Frame 2 drains at 60 fps (2 slots), then frames 3 and 4 at 90 fps (3 slots each).
        #expect(outs.map(\.pts) == [scale(4, second, 60), scale(5, second, 60)] + (0..<6).map { p(3) + scale(UInt($0), second, 90) })
        #expect(outs[2].discont && outs[2].samples == h.samples(seed: 3))
        #expect(outs[3].samples == expectedBlend(h.samples(seed: 3), h.samples(seed: 4), weight: 85))
    }

    /// A DISCONT buffer is not blended with its predecessor; the predecessor's tail is repeated.
    @Test func discontIsNotBlendedAcross() {
        let h = Harness(caps: caps)
        h.push(seed: 0, pts: p(0))
        h.push(seed: 1, pts: p(1), discont: true)
        h.push(seed: 2, pts: p(2))
        #expect(h.event(gst_event_new_eos()))
        let outs = h.pullAll()
        #expect(outs.count == 6)
        #expect(outs[1].samples == h.samples(seed: 0) && outs[1].inserted)
        #expect(outs[2].discont && outs[2].samples == h.samples(seed: 1))
        #expect(outs[3].samples == expectedBlend(h.samples(seed: 1), h.samples(seed: 2), weight: 128))
    }

    /// A DISCONT that jumps back in time restarts the grid at the new frame instead of waiting for the
    /// old grid to catch up.
    @Test func discontBackwardsRestartsGrid() {
        let h = Harness(caps: caps)
        for k in 10..<12 { h.push(seed: UInt64(k), pts: p(k)) }
        h.push(seed: 2, pts: p(2), discont: true)
        h.push(seed: 3, pts: p(3))
        #expect(h.event(gst_event_new_eos()))
        let outs = h.pullAll()
        #expect(outs.map(\.pts) == [p(10), p(10) + scale(1, second, 60), p(11), p(11) + scale(1, second, 60) + 1,
                                     p(2), p(2) + scale(1, second, 60), p(3) - 1, p(2) + scale(3, second, 60)])
        #expect(outs[4].discont && outs[4].samples == h.samples(seed: 2))
    }

    /// A GAP event: the held frame drains to its end, the gap goes downstream, frames after it restart.
    @Test func gapEventDrainsAndForwards() {
        let h = Harness(caps: caps)
        h.push(seed: 0, pts: p(0))
        h.push(seed: 1, pts: p(1))
        #expect(h.event(gst_event_new_gap(p(2), p(3))))
        h.push(seed: 5, pts: p(5))
        h.push(seed: 6, pts: p(6))
        #expect(h.event(gst_event_new_eos()))
        let outs = h.pullAll()
        #expect(outs.map(\.pts) == [0, 1, 2, 3, 10, 11, 12, 13].map { scale(UInt($0), second, 60) })
        #expect(outs[3].samples == h.samples(seed: 1))
        var gaps = 0
        while let e = gst_harness_try_pull_event(h.h) {
            if e.pointee.type == GST_EVENT_GAP { gaps += 1 }
            gst_event_unref(e)
        }
        #expect(gaps == 1)
    }

    /// Frames missing without DISCONT (a 3-frame hole): the slots in between are interpolated with
    /// weights from the real timestamps.
    @Test func missingFramesAreInterpolatedByTime() {
        let h = Harness(caps: caps)
        h.push(seed: 0, pts: p(0))
        h.push(seed: 4, pts: p(4))
        #expect(h.event(gst_event_new_eos()))
        let outs = h.pullAll()
        #expect(outs.count == 10)
        for j in 1..<8 {
            #expect(outs[j].samples == expectedBlend(h.samples(seed: 0), h.samples(seed: 4), weight: 32 * j))
        }
    }

    /// Out-of-order or duplicate timestamps (up to two frames back) are re-placed on the nominal grid
    /// after the previous frame: every frame still comes out, as an original, and is counted.
    @Test func nonIncreasingPTSIsReplaced() {
        let h = Harness(caps: caps)
        h.push(seed: 0, pts: p(1))
        h.push(seed: 1, pts: p(0))
        h.push(seed: 2, pts: p(1))
        h.push(seed: 3, pts: p(2))
        #expect(h.event(gst_event_new_eos()))
        let outs = h.pullAll()
        #expect(outs.count == 8)
        for k in 0..<4 where outs.count == 8 {
            #expect(outs[2 * k].pts == p(1) + scale(UInt(2 * k), second, 60) && !outs[2 * k].inserted && outs[2 * k].samples == h.samples(seed: UInt64(k)))
        }
        #expect(h.counter("frames-retimed") == 3)
        #expect(h.counter("frames-dropped") == 0)
    }

    /// A segment with a playback rate (and applied rate) goes downstream unchanged; timestamps are not
    /// rescaled by mcvd.
    @Test func segmentRateIsForwarded() {
        let h = Harness(caps: caps)
        var seg = GstSegment()
        gst_segment_init(&seg, GST_FORMAT_TIME)
        seg.rate = 2.0
        seg.applied_rate = 0.5
        seg.start = p(3)
        #expect(h.event(gst_event_new_segment(&seg)))
        h.push(seed: 3, pts: p(3))
        h.push(seed: 4, pts: p(4))
        var last = GstSegment()
        while let e = gst_harness_try_pull_event(h.h) {
            if e.pointee.type == GST_EVENT_SEGMENT { gst_event_copy_segment(e, &last) }
            gst_event_unref(e)
        }
        #expect(last.rate == 2.0 && last.applied_rate == 0.5 && last.start == p(3))
        #expect(h.pullAll().map(\.pts) == [p(3), p(3) + scale(1, second, 60)])
    }

    /// Latency = upstream latency + one input frame (the look-ahead).
    @Test func latencyIncludesLookAhead() {
        let h = Harness(caps: caps)
        gst_harness_set_upstream_latency(h.h, 5_000_000)
        h.push(seed: 0, pts: 0)
        #expect(gst_harness_query_latency(h.h) == 5_000_000 + scale(1, second, 30))
    }

    /// A real seek on a running pipeline (videotestsrc): after the flushing seek the output restarts at
    /// the seek position on the doubled-rate grid, with the right count up to the segment stop.
    @Test func seekInRealPipeline() throws {
        precondition(gstReady)
        var err: UnsafeMutablePointer<GError>?
        let pipe = gst_parse_launch("videotestsrc pattern=ball ! video/x-raw,format=I420,width=32,height=24,framerate=10/1 ! mcvd ! appsink name=sink sync=false", &err)!
        defer { gst_element_set_state(pipe, GST_STATE_NULL); gst_object_unref(pipe) }
        gst_element_set_state(pipe, GST_STATE_PAUSED)
        #expect(gst_element_get_state(pipe, nil, nil, 10 * second) == GST_STATE_CHANGE_SUCCESS)
        #expect(gst_element_seek(pipe, 1.0, GST_FORMAT_TIME, GstSeekFlags(GST_SEEK_FLAG_FLUSH.rawValue | GST_SEEK_FLAG_ACCURATE.rawValue),
                                 GST_SEEK_TYPE_SET, gint64(2 * second), GST_SEEK_TYPE_SET, gint64(3 * second)) != 0)
        gst_element_set_state(pipe, GST_STATE_PLAYING)
        let bin = UnsafeMutableRawPointer(pipe).assumingMemoryBound(to: GstBin.self)
        let sink = gst_bin_get_by_name(bin, "sink")!
        defer { gst_object_unref(sink) }
        var pts: [UInt] = []
        while let s = gst_app_sink_try_pull_sample(UnsafeMutableRawPointer(sink).assumingMemoryBound(to: GstAppSink.self), 5 * second) {
            pts.append(gst_sample_get_buffer(s)!.pointee.pts)
            gst_sample_unref(s)
        }
        // Frames 2.0 .. 2.9 s at 10 fps -> 20 slots at 20 fps from 2.0 s (a preroll frame from before the
        // seek may come first; everything after the restart must be on the new grid).
        let tail = Array(pts.drop { $0 < 2 * second })
        #expect(tail == (0..<20).map { 2 * second + scale(UInt($0), second, 20) })
    }
}
