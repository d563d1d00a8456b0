// Blend pixel values for every supported format, odd sizes and input buffers with padded strides
// (GstVideoMeta): the output is checked sample by sample against the documented rounding rule.
import CGStreamer
import CGstCheck
import Element
import Testing

let allFormats = ["GRAY8", "RGB", "BGR", "RGBx", "BGRx", "xRGB", "xBGR", "RGBA", "BGRA", "ARGB", "ABGR", "AYUV",
                  "I420", "YV12", "NV12", "NV21", "Y42B", "NV16", "Y41B", "Y444", "NV24", "YUY2", "UYVY", "YVYU",
                  "GRAY16_LE", "I420_10LE", "I422_10LE", "Y444_10LE"]

@Suite struct FormatTests {
    /// 3x slot positions 1/3 and 2/3: weights 85 and 171. Sizes: odd, tiny and one wide enough for the
    /// vector loop (>= 32 samples per row) with a scalar tail.
    @Test(arguments: allFormats, [(1, 1), (7, 5), (33, 17), (77, 3)])
    func blendEveryFormat(format: String, size: (Int, Int)) {
        let caps = "video/x-raw,format=\(format),width=\(size.0),height=\(size.1),framerate=20/1"
        let h = Harness(["factor": "3"], caps: caps)
        let p = (0...3).map { scale(UInt($0), second, 20) }
        for k in 0..<3 { #expect(h.push(seed: UInt64(100 + k), pts: p[k]) == GST_FLOW_OK) }
        #expect(h.event(gst_event_new_eos()))
        let outs = h.pullAll()
        #expect(outs.count == 9)
        guard outs.count == 9 else { return }
        for k in 0..<3 {
            let a = h.samples(seed: UInt64(100 + k))
            #expect(outs[3 * k].samples == a, "original \(k) bit-exact")
            if k < 2 {
                let b = h.samples(seed: UInt64(101 + k))
                for j in 1...2 {
                    let t = scale(UInt(3 * k + j), second, 60)
                    let w = Int(gst_util_uint64_scale_round(t - p[k], 256, p[k + 1] - p[k]))
                    #expect(outs[3 * k + j].samples == expectedBlend(a, b, weight: w), "\(format) slot \(3 * k + j)")
                }
            } else {
                #expect(outs[7].samples == a && outs[8].samples == a, "EOS tail repeats the last frame")
            }
        }
    }

    /// Input buffers whose rows are padded (stride > row) and whose planes sit at odd offsets, described
    /// by a GstVideoMeta: the element must honour the meta, not assume packed rows.
    @Test(arguments: ["GRAY8", "RGB", "I420", "NV12", "GRAY16_LE", "BGRx"])
    func paddedStrides(format: String) {
        let caps = "video/x-raw,format=\(format),width=37,height=9,framerate=30/1"
        let h = Harness(caps: caps)
        let info = h.info
        var inputs: [[[Int]]] = []
        for k in 0..<2 {
            let nPlanes = Int(info.finfo.pointee.n_planes)
            var offsets: (gsize, gsize, gsize, gsize) = (0, 0, 0, 0)
            var strides: (gint, gint, gint, gint) = (0, 0, 0, 0)
            var total = 0
            withUnsafeMutableBytes(of: &offsets) { off in
                withUnsafeMutableBytes(of: &strides) { st in
                    for plane in 0..<nPlanes {
                        let defStride = Int(withUnsafeBytes(of: info.stride) { $0.load(fromByteOffset: plane * 4, as: Int32.self) })
                        let nextOff = plane + 1 < nPlanes
                            ? withUnsafeBytes(of: info.offset) { Int($0.load(fromByteOffset: (plane + 1) * 8, as: UInt.self)) }
                            : Int(info.size)
                        let thisOff = withUnsafeBytes(of: info.offset) { Int($0.load(fromByteOffset: plane * 8, as: UInt.self)) }
                        let rows = (nextOff - thisOff) / defStride
                        let stride = defStride + 13 + 3 * plane  // padded, deliberately not aligned
                        off.storeBytes(of: gsize(total + 5), toByteOffset: plane * 8, as: gsize.self)
                        st.storeBytes(of: gint(stride), toByteOffset: plane * 4, as: gint.self)
                        total += 5 + stride * rows
                    }
                }
            }
            let buf = gst_buffer_new_allocate(nil, gsize(total), nil)!
            let bytes = noiseBytes(total, seed: UInt64(7 + k))
            _ = bytes.withUnsafeBytes { gst_buffer_fill(buf, 0, $0.baseAddress, gsize(total)) }
            withUnsafeMutablePointer(to: &offsets) { o in
                withUnsafeMutablePointer(to: &strides) { s in
                    _ = gst_buffer_add_video_meta_full(buf, GST_VIDEO_FRAME_FLAG_NONE, info.finfo.pointee.format,
                                                       37, 9, UInt32(nPlanes),
                                                       UnsafeMutableRawPointer(o).assumingMemoryBound(to: gsize.self),
                                                       UnsafeMutableRawPointer(s).assumingMemoryBound(to: gint.self))
                }
            }
            inputs.append(componentSamples(buf, info))
            buf.pointee.pts = scale(UInt(k), second, 30)
            #expect(gst_harness_push(h.h, buf) == GST_FLOW_OK)
        }
        _ = info
        #expect(h.event(gst_event_new_eos()))
        let outs = h.pullAll()
        #expect(outs.count == 4)
        guard outs.count == 4 else { return }
        #expect(outs[0].samples == inputs[0])
        #expect(outs[1].samples == expectedBlend(inputs[0], inputs[1], weight: 128))
        #expect(outs[2].samples == inputs[1])
        #expect(outs[3].samples == inputs[1])
    }
}
