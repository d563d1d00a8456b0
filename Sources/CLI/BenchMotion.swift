// `mcvd bench --motion`: the motion interpolator's stages (estimate, in-between field, rendering of the
// three I420 planes) on synthetic moving frames: median CPU ms per stage (all threads) and the output
// frames/s per core a 2x conversion would reach (one inserted frame per input frame; originals are free).
import Foundation
import Motion

/// CPU time of the whole process (all threads): unlike wall time, it does not count time other processes
/// take from a shared machine.
func cpuNanoseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

enum MotionBench {
    static func run(sizes: [(Int, Int)], threads: [Int], iters: Int) {
        print("# motion: I420 frames, content moving 3.5 px right and 1.25 px down per frame; median of \(iters)")
        for (w, h) in sizes {
            let cw = (w + 1) / 2, ch = (h + 1) / 2
            // A textured frame and the same texture moved.
            func frame(_ dx: Double, _ dy: Double) -> [UInt8] {
                var f = [UInt8](repeating: 128, count: w * h + 2 * cw * ch)
                for y in 0..<h { for x in 0..<w {
                    let u = Double(x) - dx, v = Double(y) - dy
                    f[y * w + x] = UInt8(128 + 60 * sin(0.13 * u + 0.05 * v) + 40 * sin(0.31 * v - 0.07 * u) + 20 * sin(0.9 * u))
                } }
                return f
            }
            var a = frame(0, 0), b = frame(3.5, 1.25), o = a
            for t in threads {
                var settings = MotionInterpolator.Settings()
                settings.threads = t
                let m = MotionInterpolator(settings: settings)
                var est: [Double] = [], prep: [Double] = [], ren: [Double] = []
                a.withUnsafeMutableBytes { pa in b.withUnsafeMutableBytes { pb in o.withUnsafeMutableBytes { po in
                    func planes(_ p: UnsafeMutableRawBufferPointer) -> [MotionPlane] {
                        [MotionPlane(base: p.baseAddress!, width: w, height: h, rowStride: w, pixelStride: 1),
                         MotionPlane(base: p.baseAddress! + w * h, width: cw, height: ch, rowStride: cw, pixelStride: 1, xShift: 1, yShift: 1),
                         MotionPlane(base: p.baseAddress! + w * h + cw * ch, width: cw, height: ch, rowStride: cw, pixelStride: 1, xShift: 1, yShift: 1)]
                    }
                    let (qa, qb, qo) = (planes(pa), planes(pb), planes(po))
                    for i in 0..<(iters + 2) {
                        let t0 = cpuNanoseconds()
                        try! m.estimate(a: .plane(qa[0]), b: .plane(qb[0]))
                        let t1 = cpuNanoseconds()
                        m.prepare(t: 0.5)
                        let t2 = cpuNanoseconds()
                        try! m.render(t: 0.5, a: qa, b: qb, output: qo)
                        let t3 = cpuNanoseconds()
                        if i >= 2 {
                            est.append(Double(t1 - t0) / 1e6); prep.append(Double(t2 - t1) / 1e6); ren.append(Double(t3 - t2) / 1e6)
                        }
                    }
                } } }
                func med(_ v: [Double]) -> Double { v.sorted()[v.count / 2] }
                let total = med(est) + med(prep) + med(ren)
                print("case=motion size=\(w)x\(h) threads=\(t) motion_level=\(m.motionLevel) budget=\(m.settings.maxMotionPixels) "
                      + String(format: "estimate_cpu_ms=%.2f field_cpu_ms=%.2f render_cpu_ms=%.2f total_cpu_ms=%.2f fps_2x_per_core=%.0f",
                               med(est), med(prep), med(ren), total, 2000 / total))
            }
        }
    }
}
