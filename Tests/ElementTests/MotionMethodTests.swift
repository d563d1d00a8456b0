// method=motion through the real element: every format (planar, semi-planar, packed YUV, packed RGB,
// 8/10/16-bit), odd sizes, factors and a rational rate. Frames are a smooth texture moving by a known
// sub-pixel amount, so every inserted frame has a true value: it must be closer to the truth than the
// blend is, originals pass bit-exact, and a scene cut repeats the nearer original.
import CGStreamer
import CGstCheck
import Element
import Foundation
import Testing

/// A texture moving by (dx, dy) luma pixels per unit of `time`, written into every component of a frame
/// of `info` (chroma at its subsampled positions; samples scaled to the component's depth).
func movingFrame(_ info: GstVideoInfo, time: Double, dx: Double = 3.5, dy: Double = 1.5, pts: UInt) -> UnsafeMutablePointer<GstBuffer> {
    var info = info
    let buf = gst_buffer_new_allocate(nil, info.size, nil)!
    var frame = GstVideoFrame()
    precondition(gst_video_frame_map(&frame, &info, buf, GST_MAP_WRITE) != 0)
    let f = frame.info.finfo!.pointee
    func el<T, U>(_ t: T, _ i: Int, _: U.Type) -> U { withUnsafeBytes(of: t) { $0.load(fromByteOffset: i * MemoryLayout<U>.stride, as: U.self) } }
    // Unused bytes of packed formats (RGBx padding) get a fixed value.
    if f.n_planes == 1 {
        memset(el(frame.data, 0, UnsafeMutableRawPointer.self), 0x5A, Int(el(frame.info.stride, 0, Int32.self)) * Int(info.height))
    }
    for c in 0..<Int(f.n_components) {
        let plane = Int(el(f.plane, c, UInt32.self)), poff = Int(el(f.poffset, c, UInt32.self))
        let ps = Int(el(f.pixel_stride, c, Int32.self)), depth = Int(el(f.depth, c, UInt32.self))
        let ws = Int(el(f.w_sub, c, UInt32.self)), hs = Int(el(f.h_sub, c, UInt32.self))
        let w = -((-Int(info.width)) >> ws), h = -((-Int(info.height)) >> hs)
        let base = el(frame.data, plane, UnsafeMutableRawPointer.self)
        let stride = Int(el(frame.info.stride, plane, Int32.self))
        let maxV = Double((1 << depth) - 1)
        for y in 0..<h {
            for x in 0..<w {
                // Sample position on the luma grid; a different texture phase per component.
                let lx = (Double(x) + 0.5) * Double(1 << ws) - 0.5 - time * dx
                let ly = (Double(y) + 0.5) * Double(1 << hs) - 0.5 - time * dy
                let v = 0.5 + 0.25 * sin(0.35 * lx + 0.12 * ly + Double(c)) + 0.15 * sin(0.2 * ly - 0.27 * lx + 2 * Double(c))
                let s = Int((v * maxV).rounded())
                let p = base + y * stride + x * ps + poff
                if f.bits > 8 { p.storeBytes(of: UInt16(s), as: UInt16.self) } else { p.storeBytes(of: UInt8(s), as: UInt8.self) }
            }
        }
    }
    gst_video_frame_unmap(&frame)
    buf.pointee.pts = pts
    return buf
}

/// Sum of squared differences over all components, relative to each component's peak, in an interior
/// window (`border` luma pixels left out: content entering the frame is unknown).
func sse(_ a: [[Int]], _ b: [[Int]], _ info: GstVideoInfo, border: Int) -> Double {
    let f = info.finfo.pointee
    var total = 0.0
    for c in 0..<a.count {
        let ws = Int(withUnsafeBytes(of: f.w_sub) { $0.load(fromByteOffset: c * 4, as: UInt32.self) })
        let hs = Int(withUnsafeBytes(of: f.h_sub) { $0.load(fromByteOffset: c * 4, as: UInt32.self) })
        let depth = Int(withUnsafeBytes(of: f.depth) { $0.load(fromByteOffset: c * 4, as: UInt32.self) })
        let w = -((-Int(info.width)) >> ws), h = -((-Int(info.height)) >> hs)
        let bx = border >> ws, by = border >> hs
        let peak = Double((1 << depth) - 1)
        for y in by..<max(by, h - by) { for x in bx..<max(bx, w - bx) {
            let d = Double(a[c][y * w + x] - b[c][y * w + x]) / peak
            total += d * d
        } }
    }
    return total
}

@Suite struct MotionMethodTests {
    /// 2x and 3x on a moving texture: originals bit-exact, inserted frames flagged and much closer to the
    /// true in-between frame than the blend (per component, all formats).
    @Test(arguments: allFormats, [2, 3])
    func everyFormatBeatsBlendOnKnownMotion(format: String, factor: Int) {
        let (w, h) = (67, 45)
        let caps = "video/x-raw,format=\(format),width=\(w),height=\(h),framerate=10/1"
        let hm = Harness(["factor": "\(factor)", "method": "motion"], caps: caps)
        let info = hm.info
        let pts = (0..<3).map { scale(UInt($0), second, 10) }
        for k in 0..<3 { #expect(gst_harness_push(hm.h, movingFrame(info, time: Double(k), pts: pts[k])) == GST_FLOW_OK) }
        #expect(hm.event(gst_event_new_eos()))
        let outs = hm.pullAll()
        #expect(outs.count == 3 * factor, "\(format): \(outs.count) frames")
        guard outs.count == 3 * factor else { return }
        #expect(hm.error() == nil)
        func truth(_ time: Double) -> [[Int]] {
            let b = movingFrame(info, time: time, pts: 0)
            defer { gst_buffer_unref(b) }
            return componentSamples(b, info)
        }
        for k in 0..<3 {
            #expect(outs[factor * k].samples == truth(Double(k)), "\(format): original \(k) bit-exact")
            #expect(!outs[factor * k].inserted)
        }
        for k in 0..<2 {
            for j in 1..<factor {
                let o = outs[factor * k + j]
                let time = Double(k) + Double(j) / Double(factor)
                let blend = expectedBlend(truth(Double(k)), truth(Double(k + 1)),
                                          weight: Int((256 * Double(j) / Double(factor)).rounded()))
                let eMotion = sse(o.samples, truth(time), info, border: 8)
                let eBlend = sse(blend, truth(time), info, border: 8)
                #expect(o.inserted)
                #expect(eMotion < eBlend / 4, "\(format) t=\(time): motion SSE \(eMotion), blend \(eBlend)")
            }
        }
    }

    /// Tiny and odd sizes: the right frames come out, originals bit-exact, nothing crashes.
    @Test(arguments: ["GRAY8", "I420", "NV12", "YUY2", "RGBx", "GRAY16_LE", "Y41B"], [(1, 1), (2, 3), (7, 5), (33, 17)])
    func oddAndTinySizes(format: String, size: (Int, Int)) {
        let caps = "video/x-raw,format=\(format),width=\(size.0),height=\(size.1),framerate=10/1"
        let hm = Harness(["method": "motion"], caps: caps)
        for k in 0..<3 { #expect(hm.push(seed: UInt64(7 + k), pts: scale(UInt(k), second, 10)) == GST_FLOW_OK) }
        #expect(hm.event(gst_event_new_eos()))
        let outs = hm.pullAll()
        #expect(outs.count == 6)
        guard outs.count == 6 else { return }
        for k in 0..<3 { #expect(outs[2 * k].samples == hm.samples(seed: UInt64(7 + k))) }
        #expect(outs[1].inserted && outs[3].inserted)
        #expect(hm.error() == nil)
    }

    /// Unrelated frames (a cut): each inserted slot repeats the nearer original (1/3 -> earlier,
    /// 2/3 -> later), flagged as inserted.
    @Test(arguments: ["GRAY8", "I420", "RGB"])
    func sceneCutRepeatsTheNearerOriginal(format: String) {
        let caps = "video/x-raw,format=\(format),width=64,height=48,framerate=10/1"
        let hm = Harness(["method": "motion", "factor": "3"], caps: caps)
        let info = hm.info
        #expect(gst_harness_push(hm.h, movingFrame(info, time: 0, pts: 0)) == GST_FLOW_OK)
        #expect(hm.push(seed: 99, pts: scale(1, second, 10)) == GST_FLOW_OK)  // noise: a different scene
        let outs = hm.pullAll()
        #expect(outs.count == 3)
        guard outs.count == 3 else { return }
        let first = outs[0].samples, second = hm.samples(seed: 99)
        #expect(outs[1].inserted && outs[2].inserted)
        #expect(outs[1].samples == first, "slot 1/3 repeats the earlier frame")
        #expect(outs[2].samples == second, "slot 2/3 repeats the later frame")
    }

    /// 24 -> 60 fps (downstream fixes the rate): the grid, the originals and the inserted count are as
    /// for blend, and the result is the same on a second run (deterministic).
    @Test func rationalRateAndDeterminism() {
        func run() -> [Out] {
            let caps = "video/x-raw,format=I420,width=96,height=64,framerate=24/1"
            let hm = Harness(["method": "motion"], caps: caps, sinkCaps: "video/x-raw,framerate=60/1")
            let info = hm.info
            for k in 0..<5 {
                #expect(gst_harness_push(hm.h, movingFrame(info, time: Double(k), pts: scale(UInt(k), second, 24))) == GST_FLOW_OK)
            }
            #expect(hm.event(gst_event_new_eos()))
            return hm.pullAll()
        }
        let outs = run()
        // 5 input frames of 1/24 s = 208.3 ms -> slots 0 ..< 12.5 at 60 fps: 13 slots.
        #expect(outs.count == 13)
        #expect(outs.enumerated().allSatisfy { $0.element.pts == scale(UInt($0.offset), second, 60) })
        // Originals land on slots 0, 5 and 10 (0, 1/12 s, 1/6 s): inputs 0, 2, 4.
        #expect(outs.filter { !$0.inserted }.count == 3)
        #expect(outs[5].inserted == false && outs[10].inserted == false)
        let again = run()
        let differing = zip(outs, again).enumerated().filter { $0.element.0.samples != $0.element.1.samples }.map(\.offset)
        let originals = [outs[0], outs[5], outs[10]].map(\.samples)
        let repeats = differing.map { i in (originals.contains(outs[i].samples), originals.contains(again[i].samples)) }
        #expect(again.count == outs.count && differing.isEmpty,
                "slots that differ between two runs: \(differing); (run 1, run 2) a copy of an original: \(repeats); PTS \(outs.map(\.pts)) / \(again.map(\.pts))")
    }

    /// Input buffers with padded, unaligned strides and odd plane offsets (GstVideoMeta) give exactly
    /// the output of the same frames packed: the planes are read through the meta.
    @Test(arguments: ["GRAY8", "RGB", "I420", "NV12", "YUY2", "GRAY16_LE", "BGRx"])
    func paddedStridesGiveThePackedResult(format: String) {
        let caps = "video/x-raw,format=\(format),width=37,height=29,framerate=30/1"
        func run(padded: Bool) -> [Out] {
            let h = Harness(["method": "motion"], caps: caps)
            let info = h.info
            for k in 0..<2 {
                let packed = movingFrame(info, time: Double(k), pts: scale(UInt(k), second, 30))
                #expect(gst_harness_push(h.h, padded ? repacked(packed, info) : packed) == GST_FLOW_OK)
            }
            #expect(h.event(gst_event_new_eos()))
            return h.pullAll()
        }
        let a = run(padded: false), b = run(padded: true)
        #expect(a.count == 4 && b.count == 4)
        #expect(a.count == 4 && a.map(\.samples) == b.map(\.samples))
    }
}

/// A copy of a default-layout frame with every plane's rows padded (stride + 13 + 3 * plane bytes) and
/// planes 5 bytes apart, described by a GstVideoMeta; consumes `packed`.
func repacked(_ packed: UnsafeMutablePointer<GstBuffer>, _ info: GstVideoInfo) -> UnsafeMutablePointer<GstBuffer> {
    defer { gst_buffer_unref(packed) }
    let nPlanes = Int(info.finfo.pointee.n_planes)
    func el<T, U>(_ t: T, _ i: Int, _: U.Type) -> U { withUnsafeBytes(of: t) { $0.load(fromByteOffset: i * MemoryLayout<U>.stride, as: U.self) } }
    var offsets: (gsize, gsize, gsize, gsize) = (0, 0, 0, 0)
    var strides: (gint, gint, gint, gint) = (0, 0, 0, 0)
    var layout: [(from: Int, to: Int, rowBytes: Int, rows: Int, stride: Int)] = []
    var total = 0
    for plane in 0..<nPlanes {
        let defStride = Int(el(info.stride, plane, Int32.self))
        let thisOff = Int(el(info.offset, plane, UInt.self))
        let nextOff = plane + 1 < nPlanes ? Int(el(info.offset, plane + 1, UInt.self)) : Int(info.size)
        let rows = (nextOff - thisOff) / defStride
        let stride = defStride + 13 + 3 * plane
        layout.append((thisOff, total + 5, defStride, rows, stride))
        total += 5 + stride * rows
    }
    withUnsafeMutableBytes(of: &offsets) { o in withUnsafeMutableBytes(of: &strides) { st in
        for (plane, l) in layout.enumerated() {
            o.storeBytes(of: gsize(l.to), toByteOffset: plane * 8, as: gsize.self)
            st.storeBytes(of: gint(l.stride), toByteOffset: plane * 4, as: gint.self)
        }
    } }
    let buf = gst_buffer_new_allocate(nil, gsize(total), nil)!
    var src = GstMapInfo(), dst = GstMapInfo()
    precondition(gst_buffer_map(packed, &src, GST_MAP_READ) != 0 && gst_buffer_map(buf, &dst, GST_MAP_WRITE) != 0)
    memset(dst.data, 0xC3, total)
    for l in layout {
        for r in 0..<l.rows { memcpy(dst.data + l.to + r * l.stride, src.data + l.from + r * l.rowBytes, l.rowBytes) }
    }
    gst_buffer_unmap(packed, &src)
    gst_buffer_unmap(buf, &dst)
    withUnsafeMutablePointer(to: &offsets) { o in withUnsafeMutablePointer(to: &strides) { s in
        _ = gst_buffer_add_video_meta_full(buf, GST_VIDEO_FRAME_FLAG_NONE, info.finfo.pointee.format,
                                           UInt32(info.width), UInt32(info.height), UInt32(nPlanes),
                                           UnsafeMutableRawPointer(o).assumingMemoryBound(to: gsize.self),
                                           UnsafeMutableRawPointer(s).assumingMemoryBound(to: gint.self))
    } }
    buf.pointee.pts = packed.pointee.pts
    return buf
}
