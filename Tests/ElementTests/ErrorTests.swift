// Bad input ends in a clear GStreamer error (or a documented fallback), never a crash or a hang.
import CGStreamer
import CGstCheck
import Element
import Testing

@Suite struct ErrorTests {
    @Test func interlacedIsRefusedWithAHint() {
        let h = Harness(caps: "video/x-raw,format=I420,width=8,height=8,framerate=25/1,interlace-mode=interleaved")
        #expect(h.error()?.contains("deinterlace") == true)
    }

    @Test func downstreamRejectsFormat() {
        let h = Harness(caps: "video/x-raw,format=GRAY8,width=4,height=4,framerate=30/1",
                        sinkCaps: "video/x-raw,format=RGB,width=4,height=4,framerate=60/1")
        // The sink pad's accept-caps already refuses the caps (our caps query answers EMPTY), so the
        // buffer is refused as not-negotiated; in a pipeline the source then posts the standard
        // not-negotiated error (impossibleCapsInPipelineFailsFast).
        #expect(h.push(seed: 0, pts: 0) == GST_FLOW_NOT_NEGOTIATED)
    }

    @Test func downstreamWantsVariableRate() {
        let h = Harness(caps: "video/x-raw,format=GRAY8,width=4,height=4,framerate=30/1",
                        sinkCaps: "video/x-raw,format=GRAY8,width=4,height=4,framerate=0/1")
        #expect(h.error()?.contains("variable frame rate") == true)
    }

    @Test func truncatedBufferIsAnError() {
        let h = Harness(caps: "video/x-raw,format=I420,width=16,height=16,framerate=30/1")
        let small = gst_buffer_new_allocate(nil, 100, nil)!
        small.pointee.pts = 0
        #expect(gst_harness_push(h.h, small) == GST_FLOW_ERROR)
        #expect(h.error()?.contains("does not hold") == true)
    }

    @Test func nonTimeSegmentIsRejected() {
        let h = Harness(caps: "video/x-raw,format=GRAY8,width=4,height=4,framerate=30/1")
        var seg = GstSegment()
        gst_segment_init(&seg, GST_FORMAT_BYTES)
        _ = h.event(gst_event_new_segment(&seg))
        #expect(h.error()?.contains("TIME segments") == true)
        #expect(h.push(seed: 0, pts: 0) == GST_FLOW_ERROR)
    }

    @Test func impossibleCapsInPipelineFailsFast() {
        #expect(throws: PipelineError.self) {
            _ = try runPipeline("videotestsrc num-buffers=5 ! video/x-raw,format=GRAY8,width=8,height=8,framerate=30/1 ! mcvd ! video/x-raw,format=RGB ! appsink name=sink", timeout: 20)
        }
    }

    /// GLib refuses out-of-range values with a warning and the property keeps its value (standard GObject
    /// behaviour, documented in the README); a bad enum nick fails the launch line outright.
    @Test func badPropertyValues() {
        let h = Harness(caps: "video/x-raw,format=GRAY8,width=4,height=4,framerate=30/1")
        let obj = UnsafeMutableRawPointer(h.h.pointee.element).assumingMemoryBound(to: GObject.self)
        var v = GValue()
        g_value_init(&v, GType(6 << 2))  // G_TYPE_INT
        g_value_set_int(&v, 99)
        g_object_set_property(obj, "factor", &v)
        g_value_set_int(&v, 0)
        g_object_get_property(obj, "factor", &v)
        #expect(g_value_get_int(&v) == 2)
        var err: UnsafeMutablePointer<GError>?
        let pipe = gst_parse_launch("videotestsrc ! mcvd method=bogus ! fakesink", &err)
        #expect(err != nil)
        if let err { #expect(String(cString: err.pointee.message).contains("method")); g_error_free(err) }
        if let pipe { gst_object_unref(pipe) }
    }
}
