// The motion interpolator on synthetic scenes with known motion: recovered vectors against the true
// ones, interpolated frames against the true in-between frame (PSNR), occlusion handling, odd sizes,
// planes of any layout, scene cuts and determinism.
import Foundation
import Testing
@testable import Motion

@Suite struct MotionTests {
    let tex = Texture(seed: 1)

    @Test(arguments: [(3.5, -2.25), (-7.0, 5.5), (0.75, 0.25)])
    func translationVectorsAndMiddleFrame(dx: Double, dy: Double) throws {
        let (w, h) = (96, 80)
        let a = GrayFrame(width: w, height: h) { x, y in tex(x, y) }
        let b = GrayFrame(width: w, height: h) { x, y in tex(x - dx, y - dy) }
        let truth = GrayFrame(width: w, height: h) { x, y in tex(x - dx / 2, y - dy / 2) }
        let (m, mid) = try interpolate(a, b)
        // Vectors: median over the interior within 0.3 px, every interior block within 1 px.
        var ex: [Float] = [], ey: [Float] = []
        for y in stride(from: 16, to: h - 16, by: 4) {
            for x in stride(from: 16, to: w - 16, by: 4) {
                let v = m.forwardMotion(x: Float(x), y: Float(y))
                ex.append(v.x - Float(dx)); ey.append(v.y - Float(dy))
            }
        }
        #expect(abs(median(ex)) < 0.3 && abs(median(ey)) < 0.3, "median error \(median(ex)), \(median(ey))")
        let worst = zip(ex, ey).map { max(abs($0), abs($1)) }.max()!
        #expect(worst < 1, "worst interior vector error \(worst)")
        // The middle frame: >= 34 dB in the interior (8 px border: content entering the frame is unknown).
        let interior = { (x: Int, y: Int) in x >= 8 && y >= 8 && x < w - 8 && y < h - 8 }
        let p = psnr(mid, truth, include: interior), pb = psnr(blend(a, b), truth, include: interior)
        #expect(p >= 34, "motion \(p) dB, blend \(pb) dB")
        #expect(p >= pb + 6, "motion \(p) dB, blend \(pb) dB")
    }

    @Test func rotation() throws {
        let (w, h) = (96, 96)
        let c = 47.5, angle = 2.0 * Double.pi / 180
        func rotated(_ th: Double) -> GrayFrame {
            GrayFrame(width: w, height: h) { x, y in
                let (u, v) = (x - c, y - c)
                return tex(c + u * cos(-th) - v * sin(-th), c + u * sin(-th) + v * cos(-th))
            }
        }
        let a = rotated(0), b = rotated(angle), truth = rotated(angle / 2)
        let (m, mid) = try interpolate(a, b)
        var errors: [Float] = []
        for y in stride(from: 20, to: h - 20, by: 4) {
            for x in stride(from: 20, to: w - 20, by: 4) {
                let (u, v) = (Double(x) - c, Double(y) - c)
                let tx = c + u * cos(angle) - v * sin(angle) - Double(x), ty = c + u * sin(angle) + v * cos(angle) - Double(y)
                let got = m.forwardMotion(x: Float(x), y: Float(y))
                errors.append(max(abs(got.x - Float(tx)), abs(got.y - Float(ty))))
            }
        }
        #expect(median(errors) < 0.35, "median vector error \(median(errors)) px")
        let interior = { (x: Int, y: Int) in x >= 10 && y >= 10 && x < w - 10 && y < h - 10 }
        let p = psnr(mid, truth, include: interior), pb = psnr(blend(a, b), truth, include: interior)
        #expect(p >= 32 && p >= pb + 5, "motion \(p) dB, blend \(pb) dB")
    }

    /// A 24 x 24 textured square moving by (-10, +4) over a background moving by (+3, 0): both motions
    /// are recovered, the in-between frame is close to the truth, and the occluded strips take their
    /// pixels from the side that sees them.
    @Test func movingObjectOverMovingBackground() throws {
        let (w, h) = (112, 96)
        let bg = Texture(seed: 2), fg = Texture(seed: 5)
        let bgV = (3.0, 0.0), fgV = (-10.0, 4.0), origin = (52.0, 30.0), side = 24.0
        func scene(_ t: Double) -> GrayFrame {
            GrayFrame(width: w, height: h) { x, y in
                let ox = origin.0 + t * fgV.0, oy = origin.1 + t * fgV.1
                if x >= ox && x < ox + side && y >= oy && y < oy + side { return fg(x - ox, y - oy) * 0.6 + 90 }
                return bg(x - t * bgV.0, y - t * bgV.1)
            }
        }
        let a = scene(0), b = scene(1), truth = scene(0.5)
        let (m, mid) = try interpolate(a, b)
        let vObj = m.forwardMotion(x: Float(origin.0 + 12), y: Float(origin.1 + 12))
        let vBg = m.forwardMotion(x: 20, y: 70)
        #expect(abs(vObj.x - Float(fgV.0)) < 0.5 && abs(vObj.y - Float(fgV.1)) < 0.5, "object vector \(vObj)")
        #expect(abs(vBg.x - Float(bgV.0)) < 0.5 && abs(vBg.y - Float(bgV.1)) < 0.5, "background vector \(vBg)")
        let interior = { (x: Int, y: Int) in x >= 8 && y >= 8 && x < w - 8 && y < h - 8 }
        let p = psnr(mid, truth, include: interior), pb = psnr(blend(a, b), truth, include: interior)
        #expect(p >= 28 && p >= pb + 2.5, "motion \(p) dB, blend \(pb) dB")
        // The strip the object uncovers on its right (object in A, background at t = 0.5 and in B) is
        // seen by B only; the strip ahead of it on its left (background in A and at 0.5, object in B) by
        // A only. Check the weights and the pixels there.
        // Object columns: A 52..<76, t = 0.5 47..<71, B 42..<66; rows 34..<54 are inside it at all three.
        let uncovered = { (x: Int, y: Int) in x >= 72 && x < 75 && y >= 36 && y < 52 }
        let covered = { (x: Int, y: Int) in x >= 43 && x < 46 && y >= 36 && y < 52 }
        var wU: [Float] = [], wC: [Float] = []
        for y in 0..<h { for x in 0..<w {
            if uncovered(x, y) { wU.append(m.weightOfA(x: Float(x), y: Float(y))) }
            if covered(x, y) { wC.append(m.weightOfA(x: Float(x), y: Float(y))) }
        } }
        // (The weights live on a 4-px block grid, so a 3-px strip only leans towards its side.)
        #expect(median(wU) < 0.47, "A's weight where only B sees: \(median(wU))")
        #expect(median(wC) > 0.75, "A's weight where only A sees: \(median(wC))")
        #expect(median(wC) - median(wU) > 0.3, "A's weight: \(median(wC)) where only A sees, \(median(wU)) where only B sees")
    }

    @Test(arguments: [(1, 1), (1, 7), (5, 1), (7, 3), (33, 17), (65, 49), (161, 121)])
    func oddSizes(w: Int, h: Int) throws {
        // Identical frames come back exactly; a shifted pair renders without error and is no worse than blend.
        let a = GrayFrame(width: w, height: h, pad: 3) { x, y in tex(x * 1.7, y * 1.3) }
        let (_, same) = try interpolate(a, a)
        #expect(same.bytes == a.bytes)
        let b = GrayFrame(width: w, height: h, pad: 3) { x, y in tex(x * 1.7 - 2, y * 1.3 - 1) }
        let truth = GrayFrame(width: w, height: h, pad: 3) { x, y in tex(x * 1.7 - 1, y * 1.3 - 0.5) }
        let (_, mid) = try interpolate(a, b)
        #expect(mid.bytes.enumerated().allSatisfy { $0.offset % mid.stride < w || $0.element == 0xEE }, "padding written")
        if w >= 32 && h >= 16 {
            let p = psnr(mid, truth), pb = psnr(blend(a, b), truth)
            #expect(p >= pb, "motion \(p) dB, blend \(pb) dB")
        }
    }

    /// I420-like planes (chroma subsampled 2x2, odd luma size), a packed RGB-like layout (pixel stride
    /// 3) and 16-bit samples: every plane is warped along the luma motion.
    @Test func planesOfAnyLayout() throws {
        let (w, h) = (75, 61), d = (4.0, -2.0)
        let cw = (w + 1) / 2, ch = (h + 1) / 2
        func frame(_ t: Double) -> (y: [UInt8], u: [UInt8], rgb: [UInt8], y16: [UInt16]) {
            var y = [UInt8](repeating: 0, count: w * h), u = [UInt8](repeating: 0, count: cw * ch)
            var rgb = [UInt8](repeating: 0, count: w * h * 3), y16 = [UInt16](repeating: 0, count: w * h)
            for j in 0..<h { for i in 0..<w {
                let v = tex(Double(i) - t * d.0, Double(j) - t * d.1)
                y[j * w + i] = UInt8(v.rounded())
                y16[j * w + i] = UInt16((v * 257).rounded())
                for c in 0..<3 { rgb[(j * w + i) * 3 + c] = UInt8(Texture(seed: 3 + c)(Double(i) - t * d.0, Double(j) - t * d.1).rounded()) }
            } }
            // Chroma sample (i, j) sits at luma (2i + 0.5, 2j + 0.5).
            for j in 0..<ch { for i in 0..<cw {
                u[j * cw + i] = UInt8(Texture(seed: 9)(2 * Double(i) + 0.5 - t * d.0, 2 * Double(j) + 0.5 - t * d.1).rounded())
            } }
            return (y, u, rgb, y16)
        }
        var fa = frame(0), fb = frame(1), fo = frame(0)
        let truth = frame(0.5)
        let m = MotionInterpolator()
        func planes(_ f: inout (y: [UInt8], u: [UInt8], rgb: [UInt8], y16: [UInt16]), _ body: ([MotionPlane]) throws -> Void) rethrows {
            try f.y.withUnsafeMutableBytes { y in try f.u.withUnsafeMutableBytes { u in
                try f.rgb.withUnsafeMutableBytes { rgb in try f.y16.withUnsafeMutableBytes { y16 in
                    var p = [MotionPlane(base: y.baseAddress!, width: w, height: h, rowStride: w, pixelStride: 1),
                             MotionPlane(base: u.baseAddress!, width: cw, height: ch, rowStride: cw, pixelStride: 1, xShift: 1, yShift: 1)]
                    for c in 0..<3 { p.append(MotionPlane(base: rgb.baseAddress! + c, width: w, height: h, rowStride: 3 * w, pixelStride: 3)) }
                    p.append(MotionPlane(base: y16.baseAddress!, width: w, height: h, rowStride: 2 * w, pixelStride: 2, bytesPerSample: 2))
                    try body(p)
                } }
            } }
        }
        try planes(&fa) { pa in try planes(&fb) { pb in try planes(&fo) { po in
            try m.estimate(a: .rgb(pa[2], pa[3], pa[4]), b: .rgb(pb[2], pb[3], pb[4]))
            try m.render(t: 0.5, a: pa, b: pb, output: po)
        } } }
        func psnr8(_ x: [UInt8], _ y: [UInt8], _ w: Int, _ h: Int, _ c: Int, border: Int) -> Double {
            var se = 0.0, n = 0
            for j in border..<(h - border) { for i in border..<(w - border) { for k in 0..<c {
                let dd = Double(x[(j * w + i) * c + k]) - Double(y[(j * w + i) * c + k]); se += dd * dd; n += 1
            } } }
            return 10 * log10(255 * 255 * Double(n) / max(se, 1e-9))
        }
        let py = psnr8(fo.y, truth.y, w, h, 1, border: 6), pu = psnr8(fo.u, truth.u, cw, ch, 1, border: 3)
        let prgb = psnr8(fo.rgb, truth.rgb, w, h, 3, border: 6)
        var se16 = 0.0, n16 = 0
        for j in 6..<(h - 6) { for i in 6..<(w - 6) { let dd = (Double(fo.y16[j * w + i]) - Double(truth.y16[j * w + i])) / 257; se16 += dd * dd; n16 += 1 } }
        let p16 = 10 * log10(255 * 255 * Double(n16) / se16)
        #expect(py >= 33 && pu >= 30 && prgb >= 33 && p16 >= 33, "Y \(py), U (2x2 subsampled) \(pu), RGB \(prgb), 16-bit \(p16) dB")
        #expect(p16 >= py - 0.5, "16-bit \(p16) vs 8-bit \(py)")
    }

    @Test func sceneCut() throws {
        let a = GrayFrame(width: 96, height: 72) { x, y in tex(x, y) }
        let b = GrayFrame(width: 96, height: 72) { x, y in Texture(seed: 8)(y * 1.3, x * 0.7 + 20) }
        let moved = GrayFrame(width: 96, height: 72) { x, y in tex(x - 5, y + 3) }
        let (cut, _) = try interpolate(a, b)
        let (same, _) = try interpolate(a, moved)
        #expect(cut.isSceneCut, "unrelated frames: mean error \(cut.meanError), contrast \(cut.contrast)")
        #expect(!same.isSceneCut, "moved frame: mean error \(same.meanError), contrast \(same.contrast)")
    }

    @Test func deterministicAcrossRunsAndThreads() throws {
        let a = GrayFrame(width: 97, height: 67) { x, y in tex(x, y) }
        let b = GrayFrame(width: 97, height: 67) { x, y in tex(x - 2.5, y - 1) + (x > 40 && x < 60 ? 20 : 0) }
        var one = MotionInterpolator.Settings(), two = one
        one.threads = 1; two.threads = 2
        let r1 = try interpolate(a, b, t: 0.3, settings: one).1, r2 = try interpolate(a, b, t: 0.3, settings: two).1
        let r3 = try interpolate(a, b, t: 0.3, settings: two).1
        #expect(r1.bytes == r2.bytes && r2.bytes == r3.bytes)
    }

    @Test func reusedWorkspaceMatchesFreshOne() throws {
        // The same object over pairs of different sizes gives what a new object gives.
        let m = MotionInterpolator()
        for (w, h, s) in [(80, 64, 1.0), (41, 33, 2.0), (80, 64, 3.0)] {
            let a = GrayFrame(width: w, height: h) { x, y in tex(x, y) }
            let b = GrayFrame(width: w, height: h) { x, y in tex(x - s, y) }
            var frames = [a, b, a]
            try withPlanes(&frames) { p in
                try m.estimate(a: .plane(p[0]), b: .plane(p[1]))
                try m.render(t: 0.5, a: [p[0]], b: [p[1]], output: [p[2]])
            }
            #expect(frames[2].bytes == (try interpolate(a, b).1.bytes))
        }
    }

    @Test func badInputIsAnError() throws {
        var frames = [GrayFrame(width: 8, height: 8) { _, _ in 1 }, GrayFrame(width: 9, height: 8) { _, _ in 1 }]
        let m = MotionInterpolator()
        try withPlanes(&frames) { p in
            #expect(throws: MotionError.self) { try m.estimate(a: .plane(p[0]), b: .plane(p[1])) }
            try m.estimate(a: .plane(p[0]), b: .plane(p[0]))
            #expect(throws: MotionError.self) { try m.render(t: 0.5, a: [p[0]], b: [p[0]], output: [p[1]]) }
            #expect(throws: MotionError.self) { try m.render(t: 0.5, a: [p[0]], b: [], output: [p[0]]) }
        }
    }
}

@Suite struct MotionLevelTests {
    @Test func motionIsSearchedOnALevelWithinTheBudget() throws {
        let tex = Texture(seed: 4)
        for (w, h, level) in [(320, 240, 1), (96, 80, 0), (1280, 720, 3)] {
            let a = GrayFrame(width: w, height: h) { x, y in tex(x, y) }
            let (m, _) = try interpolate(a, a)
            #expect(m.motionLevel == level, "\(w)x\(h): level \(m.motionLevel)")
        }
    }
}
