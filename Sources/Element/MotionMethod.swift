// method=motion: inserted frames by motion-compensated interpolation (the Motion module). This file maps
// a mapped GstVideoFrame to Motion's planes (one per component: planar, semi-planar, packed YUV and
// packed RGB alike, 8/10/16-bit) and picks the luma motion is searched on (Y, or R G B for RGB formats).
// The motion between a pair of input frames is estimated once and reused for every slot between them.
// A scene cut (Motion's SceneCut score of the pair, at its midpoint, above scene-threshold) gives a copy of
// the nearer original instead; method=diffusion asks the same estimate for its cut test (sceneScore).
import CGStreamer
import CGstMcvd
import Motion
#if canImport(Glibc)
import Glibc
#endif

/// The element's motion state; touched only on the streaming thread.
final class MotionSynthesizer {
    let interpolator: MotionInterpolator
    /// The pair the interpolator's motion is for (refs held so that the pointers stay theirs).
    private var pair: (a: BufferPtr, b: BufferPtr)?
    private var planesA: [MotionPlane] = [], planesB: [MotionPlane] = [], planesOut: [MotionPlane] = []
    /// Wall ns of the last frame's stages (estimate is 0 when the pair's motion was reused), for the log.
    private(set) var lastTimes: (estimate: UInt64, field: UInt64, render: UInt64) = (0, 0, 0)
    /// The pair's scene-cut score (SceneCut, from the field at the midpoint); nil until estimated.
    private var pairScore: Float?
    /// scene-threshold (set by the element before each use; 0 = no cuts).
    var sceneThreshold = SceneCut.defaultThreshold

    init() {
        var settings = MotionInterpolator.Settings()
        settings.threads = max(1, min(4, sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        interpolator = MotionInterpolator(settings: settings)
    }

    deinit { forget() }

    /// Drops the pair (and its buffer refs).
    func forget() {
        if let p = pair { bufferUnref(p.a); bufferUnref(p.b) }
        pair = nil
        pairScore = nil
    }

    /// Estimates the motion of (a, b) unless that pair is the one in hand; returns its scene-cut score.
    private func estimatePair(_ a: BufferPtr, _ b: BufferPtr, _ fa: GstVideoFrame, _ fb: GstVideoFrame) throws -> Float {
        if pair?.a != a || pair?.b != b || pairScore == nil {
            forget()
            try interpolator.estimate(a: luma(fa, planesA), b: luma(fb, planesB))
            pair = (bufferRef(a), bufferRef(b))
            interpolator.prepare(t: 0.5)
            pairScore = interpolator.sceneScore
        }
        return pairScore!
    }

    /// The scene-cut score of a and b (buffers of `info`): the same estimate method=motion renders from.
    func sceneScore(info: inout GstVideoInfo, _ a: BufferPtr, _ b: BufferPtr) throws -> Float {
        guard var fa = MappedFrame(&info, a, write: false) else { throw MotionSlotError("cannot map the earlier input frame") }
        defer { fa.unmap() }
        guard var fb = MappedFrame(&info, b, write: false) else { throw MotionSlotError("cannot map the later input frame") }
        defer { fb.unmap() }
        componentPlanes(fa.frame, into: &planesA)
        componentPlanes(fb.frame, into: &planesB)
        do { return try estimatePair(a, b, fa.frame, fb.frame) } catch { forget(); throw error }
    }

    enum Result {
        case frame(BufferPtr)
        /// A scene cut: the caller repeats the nearer original (`useFirst`: a; a at exactly halfway).
        case sceneCut(useFirst: Bool)
        case failed(String)
    }

    /// The frame at time t in (0, 1) between a and b (buffers of `info`), in a new buffer.
    func synthesize(info: inout GstVideoInfo, _ a: BufferPtr, _ b: BufferPtr, t: Float) -> Result {
        guard var fa = MappedFrame(&info, a, write: false) else { return .failed("cannot map the earlier input frame") }
        defer { fa.unmap() }
        guard var fb = MappedFrame(&info, b, write: false) else { return .failed("cannot map the later input frame") }
        defer { fb.unmap() }
        componentPlanes(fa.frame, into: &planesA)
        componentPlanes(fb.frame, into: &planesB)
        do {
            let t0 = monotonicNs()
            let score = try estimatePair(a, b, fa.frame, fb.frame)
            if SceneCut.isCut(score: score, threshold: sceneThreshold) { return .sceneCut(useFirst: t <= 0.5) }
            let t1 = monotonicNs()
            interpolator.prepare(t: t)
            lastTimes = (t1 - t0, monotonicNs() - t1, 0)
            guard let out = gst_buffer_new_allocate(nil, info.size, nil) else {
                return .failed("out of memory allocating a \(info.size)-byte frame")
            }
            guard var fo = MappedFrame(&info, out, write: true) else { bufferUnref(out); return .failed("cannot map the output frame") }
            defer { fo.unmap() }
            componentPlanes(fo.frame, into: &planesOut)
            if hasPaddingBytes(fo.frame) {
                // RGBx-style formats: the bytes no component covers are A's (the rest is rendered).
                let pa = fa.planes, po = fo.planes
                for y in 0..<po.rows[0] {
                    (po.data[0] + y * po.strides[0]).copyMemory(from: pa.data[0] + y * pa.strides[0], byteCount: po.rowBytes[0])
                }
            }
            let t2 = monotonicNs()
            try interpolator.render(t: t, a: planesA, b: planesB, output: planesOut)
            lastTimes.render = monotonicNs() - t2
            return .frame(out)
        } catch {
            forget()
            return .failed("\(error)")
        }
    }

    /// Motion's view of every component of a mapped frame (reusing `planes`' storage).
    func componentPlanes(_ frame: GstVideoFrame, into planes: inout [MotionPlane]) {
        let info = frame.info
        let f = info.finfo!.pointee
        planes.removeAll(keepingCapacity: true)
        for c in 0..<Int(f.n_components) {
            let plane = Int(tupleElement(f.plane, c, as: UInt32.self))
            let wsub = Int(tupleElement(f.w_sub, c, as: UInt32.self)), hsub = Int(tupleElement(f.h_sub, c, as: UInt32.self))
            let base = tupleElement(frame.data, plane, as: UnsafeMutableRawPointer.self)
                + Int(tupleElement(f.poffset, c, as: UInt32.self))
            planes.append(MotionPlane(
                base: base, width: -((-Int(info.width)) >> wsub), height: -((-Int(info.height)) >> hsub),
                rowStride: Int(tupleElement(info.stride, plane, as: Int32.self)),
                pixelStride: Int(tupleElement(f.pixel_stride, c, as: Int32.self)),
                bytesPerSample: f.bits > 8 ? 2 : 1, xShift: wsub, yShift: hsub,
                bits: Int(tupleElement(f.depth, c, as: UInt32.self))))
        }
    }

    /// Luma: R, G, B for RGB formats, else component 0 (Y or gray).
    func luma(_ frame: GstVideoFrame, _ planes: [MotionPlane]) -> LumaSource {
        let f = frame.info.finfo!.pointee
        if f.flags.rawValue & GST_VIDEO_FORMAT_FLAG_RGB.rawValue != 0 && planes.count >= 3 {
            return .rgb(planes[0], planes[1], planes[2])
        }
        return .plane(planes[0])
    }

    /// Packed formats whose pixels hold bytes of no component (RGBx, xRGB, ...).
    func hasPaddingBytes(_ frame: GstVideoFrame) -> Bool {
        let f = frame.info.finfo!.pointee
        guard f.n_planes == 1 else { return false }
        let bytes = (Int(f.bits) + 7) / 8
        let pixel = Int(tupleElement(f.pixel_stride, 0, as: Int32.self))
        return Int(f.n_components) * bytes < pixel && (0..<Int(f.n_components)).allSatisfy {
            Int(tupleElement(f.pixel_stride, $0, as: Int32.self)) == pixel
        }
    }
}

extension McvdFilter {
    /// method=motion's frame for the output slot at `t` between input frames `from` and `to`: the
    /// motion-compensated frame, or on a scene cut the nearer input frame (memory shared); nil after
    /// posting an error.
    func motionSlot(t: UInt, from: HeldFrame, to: HeldFrame) -> BufferPtr? {
        let position = Float(Double(t - from.pts) / Double(to.pts - from.pts))
        stream.motion.sceneThreshold = settings.withLock { $0.pairs.sceneThreshold }
        switch stream.motion.synthesize(info: &stream.info, from.buffer, to.buffer, t: position) {
        case .frame(let out):
            let ms = stream.motion.lastTimes
            gstLog(.log, element, "motion frame at \(position): estimate \(ms.estimate / 1000) us, field \(ms.field / 1000) us, render \(ms.render / 1000) us")
            return out
        case .sceneCut(let useFirst):
            gstLog(.debug, element, "scene cut between \(from.pts) and \(to.pts): repeating the nearer frame")
            stats.withLock { $0.framesSceneCut += 1 }
            return bufferMakeWritable(bufferRef(useFirst ? from.buffer : to.buffer))
        case .failed(let why):
            postCoreError(element, GST_CORE_ERROR_FAILED, "method=motion failed: \(why)")
            return nil
        }
    }
}

struct MotionSlotError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

func monotonicNs() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}
