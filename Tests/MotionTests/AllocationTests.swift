// "No allocation per frame after warm-up": the interpolator's estimate, field and rendering run on
// frames after the first pair without one call to the malloc family (counted by the test-only
// CMallocCounter, which interposes malloc in the test process). One thread: all the work runs on the
// test's thread, whose own count is exact while other tests run in parallel.
import CMallocCounter
import Testing
@testable import Motion

@Suite struct AllocationTests {
    /// I420 frames of a texture moving 2.5 px right and 1 px down per frame, in buffers made up front.
    final class Clip {
        let w: Int, h: Int, frames: [UnsafeMutableRawBufferPointer]
        let out: UnsafeMutableRawBufferPointer
        init(w: Int, h: Int, count: Int) {
            self.w = w
            self.h = h
            let tex = Texture(seed: 3)
            let cw = (w + 1) / 2, ch = (h + 1) / 2
            frames = (0..<count).map { i in
                let b = UnsafeMutableRawBufferPointer.allocate(byteCount: w * h + 2 * cw * ch, alignment: 16)
                for y in 0..<h { for x in 0..<w {
                    b[y * w + x] = UInt8(tex(Double(x) - 2.5 * Double(i), Double(y) - Double(i)).rounded())
                } }
                for j in 0..<(2 * cw * ch) { b[w * h + j] = UInt8(truncatingIfNeeded: 100 + j % 50 + 3 * i) }
                return b
            }
            out = UnsafeMutableRawBufferPointer.allocate(byteCount: w * h + 2 * cw * ch, alignment: 16)
        }
        deinit { frames.forEach { $0.deallocate() }; out.deallocate() }

        func planes(_ p: UnsafeMutableRawBufferPointer) -> [MotionPlane] {
            let cw = (w + 1) / 2, ch = (h + 1) / 2
            return [MotionPlane(base: p.baseAddress!, width: w, height: h, rowStride: w, pixelStride: 1),
                    MotionPlane(base: p.baseAddress! + w * h, width: cw, height: ch, rowStride: cw, pixelStride: 1, xShift: 1, yShift: 1),
                    MotionPlane(base: p.baseAddress! + w * h + cw * ch, width: cw, height: ch, rowStride: cw, pixelStride: 1,
                                xShift: 1, yShift: 1)]
        }
    }

    @Test func theCounterSeesAllocations() {
        let before = gst_mcvd_thread_allocations()
        let a = [Int](repeating: 1, count: Int(before % 7) + 100)
        #expect(gst_mcvd_thread_allocations() > before, "the malloc counter is not interposed: \(a.count)")
    }

    // 320x240: motion on level 1, bicubic chroma, bilinear luma; 97x61: odd size, motion on level 0.
    @Test(arguments: [(320, 240), (97, 61)])
    func noAllocationPerFrameAfterWarmUp(w: Int, h: Int) throws {
        let clip = Clip(w: w, h: h, count: 4)
        var settings = MotionInterpolator.Settings()
        settings.threads = 1
        let m = MotionInterpolator(settings: settings)
        let planes = clip.frames.map(clip.planes)
        let out = clip.planes(clip.out)
        let times: [Float] = [0.5, 0.25, 0.75]
        func frame(_ i: Int) throws {
            let a = planes[i % 3], b = planes[i % 3 + 1]
            try m.estimate(a: .plane(a[0]), b: .plane(b[0]))
            // By index: this file is built -Onone, where `for t in times` (Array's iterator) makes one malloc
            // call per element in the test's own code (measured: 3 per pair, render 0); a Range does not.
            for k in times.indices { try m.render(t: times[k], a: a, b: b, output: out) }
        }
        try frame(0)  // warm-up: the workspace is sized on the first pair
        let before = gst_mcvd_thread_allocations()
        for i in 1...12 { try frame(i) }
        let calls = gst_mcvd_thread_allocations() - before
        #expect(calls == 0, "\(calls) allocation calls in 12 pairs x 3 frames after warm-up")
        // The frames are real interpolations (not untouched output): the middle frame differs from both inputs.
        #expect(!m.isSceneCut)
        #expect(clip.out.elementsEqual(clip.frames[12 % 3]) == false)
    }
}
