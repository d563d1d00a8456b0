// Scene cuts, static content and fill-gaps in mode=interpolate (README "Scene cuts, static content,
// fill-gaps"): the properties scene-threshold, static-threshold and fill-gaps with their counters, and
// the tests on a pair of input buffers. The tests themselves are the Motion library's (SceneCut through
// the motion estimate method=motion renders from; StaticContent); this file only maps buffers to them.
// Where they act: DiffusionFilter.emitGap (cuts and static pairs), MotionMethod.motionSlot (cuts),
// McvdFilter.chain (fill-gaps' duplicates) and setCaps (fill-gaps keeps the input rate).
import CGStreamer
import CGstMcvd
import Glibc
import Motion

struct PairSettings: Equatable {
    /// scene-threshold: SceneCut score above which a pair is a cut; 0 = no detection.
    var sceneThreshold = Float(GST_MCVD_DEFAULT_SCENE_THRESHOLD)
    /// static-threshold: StaticContent difference (levels) at or below which a pair is static; 0 = off.
    var staticThreshold = Float(GST_MCVD_DEFAULT_STATIC_THRESHOLD)
    /// fill-gaps: keep the input rate and fill missing and duplicated frames (mode=interpolate).
    var fillGaps = GST_MCVD_DEFAULT_FILL_GAPS != 0
}

extension McvdFilter {
    /// Sets scene-threshold, static-threshold or fill-gaps; false when `id` is none of them.
    func setPairProperty(_ id: UInt32, _ value: UnsafePointer<GValue>, _ s: inout Settings) -> Bool {
        let old = s.pairs
        switch GstMcvdProp(id) {
        case GST_MCVD_PROP_SCENE_THRESHOLD: s.pairs.sceneThreshold = Float(g_value_get_double(value))
        case GST_MCVD_PROP_STATIC_THRESHOLD: s.pairs.staticThreshold = Float(g_value_get_double(value))
        case GST_MCVD_PROP_FILL_GAPS: s.pairs.fillGaps = g_value_get_boolean(value) != 0
        default: return false
        }
        gstLog(.info, element, "\(old) -> \(s.pairs)")
        return true
    }

    /// Reads those properties and their counters; false when `id` is none of them.
    func getPairProperty(_ id: UInt32, _ value: UnsafeMutablePointer<GValue>, _ s: Settings, _ st: Stats) -> Bool {
        switch GstMcvdProp(id) {
        case GST_MCVD_PROP_SCENE_THRESHOLD: g_value_set_double(value, Double(s.pairs.sceneThreshold))
        case GST_MCVD_PROP_STATIC_THRESHOLD: g_value_set_double(value, Double(s.pairs.staticThreshold))
        case GST_MCVD_PROP_FILL_GAPS: g_value_set_boolean(value, s.pairs.fillGaps ? 1 : 0)
        case GST_MCVD_PROP_FRAMES_SCENE_CUT: g_value_set_uint64(value, st.framesSceneCut)
        case GST_MCVD_PROP_FRAMES_STATIC: g_value_set_uint64(value, st.framesStatic)
        case GST_MCVD_PROP_FRAMES_DUPLICATE: g_value_set_uint64(value, st.framesDuplicate)
        default: return false
        }
        return true
    }

    /// Whether input frames a and b (of the negotiated caps, a before b) are a scene cut at scene-threshold.
    func isSceneCut(_ a: BufferPtr, _ b: BufferPtr) throws -> Bool {
        let threshold = settings.withLock { $0.pairs.sceneThreshold }
        guard threshold > 0 else { return false }
        let score = try stream.motion.sceneScore(info: &stream.info, a, b)
        let cut = SceneCut.isCut(score: score, threshold: threshold)
        gstLog(cut ? .debug : .log, element, "scene score \(score)\(cut ? ": scene cut" : "")")
        return cut
    }

    /// Whether input frames a and b are static at static-threshold (StaticContent on their luma).
    func isStaticPair(_ a: BufferPtr, _ b: BufferPtr) throws -> Bool {
        let threshold = settings.withLock { $0.pairs.staticThreshold }
        guard threshold > 0 else { return false }
        guard var fa = MappedFrame(&stream.info, a, write: false), var fb = MappedFrame(&stream.info, b, write: false) else {
            throw MotionSlotError("cannot map an input frame")
        }
        defer { fa.unmap(); fb.unmap() }
        var pa: [MotionPlane] = [], pb: [MotionPlane] = []
        stream.motion.componentPlanes(fa.frame, into: &pa)
        stream.motion.componentPlanes(fb.frame, into: &pb)
        let difference = try StaticContent.difference(stream.motion.luma(fa.frame, pa), stream.motion.luma(fb.frame, pb))
        let still = StaticContent.isStatic(difference: difference, threshold: threshold)
        gstLog(.log, element, "static difference \(difference)\(still ? ": static" : "")")
        return still
    }

    /// fill-gaps: whether `b` is an exact copy of `a` (every byte of every plane's samples; padding in the
    /// strides not compared).
    func isDuplicate(_ b: BufferPtr, of a: BufferPtr) -> Bool {
        if a == b { return true }
        guard var fa = MappedFrame(&stream.info, a, write: false) else { return false }
        defer { fa.unmap() }
        guard var fb = MappedFrame(&stream.info, b, write: false) else { return false }
        defer { fb.unmap() }
        let pa = fa.planes, pb = fb.planes
        for p in pa.data.indices {
            for y in 0..<pa.rows[p] where memcmp(pa.data[p] + y * pa.strides[p], pb.data[p] + y * pb.strides[p], pa.rowBytes[p]) != 0 {
                return false
            }
        }
        return true
    }

    /// fill-gaps: an input frame that copies the previous one stands for a dropped frame: it is counted and
    /// dropped, and its slots are filled like a hole (or, at the end, repeat the frame held until its end).
    func noteDuplicate(pts: UInt, duration: UInt) {
        stats.withLock { $0.framesDuplicate += 1 }
        stream.heldEnd = max(stream.heldEnd ?? 0, pts &+ duration)
        gstLog(.debug, element, "fill-gaps: frame at \(pts) copies the previous one: filled like a missing frame")
    }
}
