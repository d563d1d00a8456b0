// The processing-size path (FrameGenerator): area-average and bilinear resampling against independent
// 2-D references, the working size, the scaled path equal to a hand-composed reference (downscale ->
// Generator at the small size -> its correction over the small base upsampled over the full-size base,
// clipped) for a blend and a motion base, both channel counts and prediction, and native size (processing
// size 0, or a frame no taller than it) equal to the padded Generator run cropped back.
import Diffusion
import Foundation
import MCVDKit
import MotionBase
import Testing

/// n frames (C, H, W) in [-1, 1] of a texture moving right and down, any width and height.
func movingPlanar(_ n: Int, height h: Int, width w: Int, channels c: Int) -> [[Float]] {
    (0..<n).map { t in
        (0..<(c * h * w)).map { i in
            let ch = Double(i / (h * w)), y = Double((i / w) % h) - Double(t), x = Double(i % w) - 2 * Double(t)
            let v = 128 + 70 * sin(0.37 * x + 0.5 * ch) * cos(0.29 * y) + 40 * sin(0.09 * x + 0.21 * y + ch)
            return Float(min(max(v, 0), 255).rounded()) / 127.5 - 1
        }
    }
}

func maxDiff(_ a: [Float], _ b: [Float]) -> Float { zip(a, b).map { abs($0 - $1) }.max() ?? 0 }

@Suite(.serialized) struct ProcessingSizeTests {
    /// Area average by 2-D integration of the piecewise-constant source over each output cell (Double).
    static func naiveArea(_ x: [Float], c: Int, h: Int, w: Int, oh: Int, ow: Int) -> [Float] {
        var out = [Float](repeating: 0, count: c * oh * ow)
        let sy = Double(h) / Double(oh), sx = Double(w) / Double(ow)
        for ch in 0..<c {
            for oy in 0..<oh {
                for ox in 0..<ow {
                    let y0 = Double(oy) * sy, y1 = y0 + sy, x0 = Double(ox) * sx, x1 = x0 + sx
                    var acc = 0.0
                    for y in 0..<h {
                        let cy = min(y1, Double(y + 1)) - max(y0, Double(y))
                        guard cy > 0 else { continue }
                        for xx in 0..<w {
                            let cx = min(x1, Double(xx + 1)) - max(x0, Double(xx))
                            if cx > 0 { acc += cy * cx * Double(x[(ch * h + y) * w + xx]) }
                        }
                    }
                    out[(ch * oh + oy) * ow + ox] = Float(acc / (sy * sx))
                }
            }
        }
        return out
    }

    /// Bilinear with half-pixel centres, each output sample computed directly from its four neighbours.
    static func naiveBilinear(_ x: [Float], c: Int, h: Int, w: Int, oh: Int, ow: Int) -> [Float] {
        var out = [Float](repeating: 0, count: c * oh * ow)
        for ch in 0..<c {
            for oy in 0..<oh {
                let fy = min(max((Double(oy) + 0.5) * Double(h) / Double(oh) - 0.5, 0), Double(h - 1))
                let y0 = Int(fy.rounded(.down)), y1 = min(y0 + 1, h - 1), ty = fy - Double(y0)
                for ox in 0..<ow {
                    let fx = min(max((Double(ox) + 0.5) * Double(w) / Double(ow) - 0.5, 0), Double(w - 1))
                    let x0 = Int(fx.rounded(.down)), x1 = min(x0 + 1, w - 1), tx = fx - Double(x0)
                    func at(_ yy: Int, _ xx: Int) -> Double { Double(x[(ch * h + yy) * w + xx]) }
                    let v = (1 - ty) * ((1 - tx) * at(y0, x0) + tx * at(y0, x1)) + ty * ((1 - tx) * at(y1, x0) + tx * at(y1, x1))
                    out[(ch * oh + oy) * ow + ox] = Float(v)
                }
            }
        }
        return out
    }

    @Test func areaAverageMatchesTheIntegral() {
        let src = movingPlanar(1, height: 37, width: 45, channels: 3)[0]
        for (oh, ow) in [(16, 20), (37, 15), (5, 7), (12, 45), (40, 50), (1, 1)] {
            let a = Resample.area(src, channels: 3, height: 37, width: 45, toHeight: oh, toWidth: ow)
            let d = maxDiff(a, Self.naiveArea(src, c: 3, h: 37, w: 45, oh: oh, ow: ow))
            #expect(d < 1e-5, "\(oh)x\(ow): max diff \(d)")
        }
        // Integer ratio: the block mean.
        let grid: [Float] = (0..<24).map { Float($0) }          // 4 x 6
        let blockMeans: [Float] = [3.5, 5.5, 7.5, 15.5, 17.5, 19.5]     // (0 + 1 + 6 + 7) / 4, ...
        #expect(Resample.area(grid, channels: 1, height: 4, width: 6, toHeight: 2, toWidth: 3) == blockMeans)
    }

    @Test func bilinearMatchesTheDirectFormula() {
        let src = movingPlanar(1, height: 16, width: 20, channels: 3)[0]
        for (oh, ow) in [(37, 45), (64, 64), (16, 41), (17, 20), (5, 3)] {
            let b = Resample.bilinear(src, channels: 3, height: 16, width: 20, toHeight: oh, toWidth: ow)
            let d = maxDiff(b, Self.naiveBilinear(src, c: 3, h: 16, w: 20, oh: oh, ow: ow))
            #expect(d < 1e-5, "\(oh)x\(ow): max diff \(d)")
        }
        // 2x of [0, 1]: half-pixel centres give 0, 0.25, 0.75, 1 (edges clamped).
        #expect(Resample.bilinear([0, 1], channels: 1, height: 1, width: 2, toHeight: 1, toWidth: 4) == [0, 0.25, 0.75, 1])
    }

    @Test func workingSize() throws {
        let model = try tinyModel("ps-size", tinyConfig())       // size multiple 2
        #expect(model.sizeMultiple == 2)
        func size(height: Int, width: Int, processingSize: Int) -> [Int] {
            let s = model.workingSize(height: height, width: width, processingSize: processingSize)
            return [s.height, s.width, s.scaled ? 1 : 0]
        }
        #expect(size(height: 37, width: 45, processingSize: 16) == [16, 20, 1])   // 45 * 16 / 37 = 19.5
        #expect(size(height: 720, width: 1280, processingSize: 64) == [64, 114, 1])
        #expect(size(height: 37, width: 45, processingSize: 0) == [38, 46, 0])
        #expect(size(height: 37, width: 45, processingSize: 37) == [38, 46, 0])  // no taller: native
        #expect(size(height: 37, width: 45, processingSize: 64) == [38, 46, 0])
        #expect(size(height: 9, width: 300, processingSize: 3) == [4, 134, 1])    // 3 rounds to 4
        #expect(size(height: 300, width: 3, processingSize: 16) == [16, 2, 1])    // at least one multiple
    }

    /// The model's base for `conds` at hh x ww, (N, n, C, H, W), from the task's and the base's own calls.
    static func base(_ model: Model, task: Task, _ conds: [BlockCondition], _ hh: Int, _ ww: Int) throws -> [Float] {
        let shape = model.shape(height: hh, width: ww)
        let cond = try task.conditioning(shape: shape, samples: conds.count,
                                         past: task.usesPast ? conds.flatMap { $0.past.flatMap { $0 } } : nil,
                                         future: task.usesFuture ? conds.flatMap { $0.future.flatMap { $0 } } : nil)
        if model.base == .blend { return task.baseline(shape: shape, cond: cond) }
        return try model.base.values(task: task, shape: shape, cond: cond, symmetric: true, conditionStride: model.conditionStride)
    }

    /// The scaled path by hand, with the library's pieces called one by one.
    static func handComposed(_ model: Model, task: Task, conditions: [BlockCondition], h: Int, w: Int, ph: Int, pw: Int,
                             settings: SamplingSettings, noiseBlock: UInt32) throws -> [[[Float]]] {
        let c = model.channels
        func down(_ f: [Float]) -> [Float] { Resample.area(f, channels: c, height: h, width: w, toHeight: ph, toWidth: pw) }
        let small = conditions.map { BlockCondition(past: $0.past.map(down), future: $0.future.map(down)) }
        let made = try Generator(model: model, height: ph, width: pw, settings: settings).sample(task: task, conditions: small, noiseBlock: noiseBlock)
        let bs = try base(model, task: task, small, ph, pw), bf = try base(model, task: task, conditions, h, w)
        let (fs, ffs, n) = (c * ph * pw, c * h * w, model.frames)
        return made.indices.map { i in
            (0..<n).map { j in
                let corr = (0..<fs).map { e in made[i][j][e] - bs[(i * n + j) * fs + e] }
                let up = Resample.bilinear(corr, channels: c, height: ph, width: pw, toHeight: h, toWidth: w)
                return (0..<ffs).map { e in min(max(bf[(i * n + j) * ffs + e] + up[e], -1), 1) }
            }
        }
    }

    @Test(arguments: [(1, "blend"), (3, "motion"), (1, "motion")])
    func scaledPathEqualsTheHandComposedReference(_ c: Int, _ base: String) throws {
        let model = try tinyModel("ps-\(c)-\(base)", tinyConfig(channels: c, past: 2, future: 1, residual: true, parameterization: "v", base: base))
        let (h, w) = (37, 45)                                   // odd: working size 16 x 20
        let frames = movingPlanar(6, height: h, width: w, channels: c)
        let settings = SamplingSettings(steps: 2, seed: 3)
        let gen = try FrameGenerator(model: model, height: h, width: w, processingSize: 16, settings: settings)
        #expect(gen.scaled && gen.workingHeight == 16 && gen.workingWidth == 20)
        let conditions = [1, 2, 3].map { i in BlockCondition(past: [frames[i - 1], frames[i]], future: [frames[i + 1]]) }
        let made = try gen.sample(task: .interpolate, conditions: conditions, noiseBlock: 4)
        let expected = try Self.handComposed(model, task: .interpolate, conditions: conditions, h: h, w: w, ph: 16, pw: 20,
                                             settings: settings, noiseBlock: 4)
        #expect(made == expected)
        #expect(made.count == 3 && made[0].count == 1 && made[0][0].count == c * h * w)
        // Prepared once, used twice (a stream's frames condition several gaps): the same values.
        let prepared = try [1, 2, 3].map { i in (past: [try gen.prepare(frames[i - 1]), try gen.prepare(frames[i])], future: [try gen.prepare(frames[i + 1])]) }
        #expect(try gen.sample(task: .interpolate, prepared: prepared, noiseBlock: 4) == expected)
        // Prediction (motion: the extrapolated base at both sizes).
        let pc = [BlockCondition(past: [frames[3], frames[4]])]
        #expect(try gen.sample(task: .predict, conditions: pc, noiseBlock: 1)
                == Self.handComposed(model, task: .predict, conditions: pc, h: h, w: w, ph: 16, pw: 20, settings: settings, noiseBlock: 1))
        // Corrections: the working size's output minus its base, upsampled, not clipped; over the full-size
        // base and clipped they are the frames (what a 1-channel model adds to motion's colour frame).
        let corrections = try gen.sample(task: .interpolate, prepared: prepared, noiseBlock: 4, output: .corrections)
        #expect(try gen.sample(task: .interpolate, conditions: conditions, noiseBlocks: [4, 4, 4], output: .corrections).count == 3)
        let small3 = try Generator(model: model, height: 16, width: 20, settings: settings).sample(
            task: .interpolate, conditions: prepared.map { BlockCondition(past: $0.past.map(\.working), future: $0.future.map(\.working)) },
            noiseBlock: 4)
        let smallBase = try Self.base(model, task: .interpolate, prepared.map { BlockCondition(past: $0.past.map(\.working), future: $0.future.map(\.working)) }, 16, 20)
        let fullBase = try Self.base(model, task: .interpolate, conditions, h, w)
        let (fs, ffs) = (c * 16 * 20, c * h * w)
        for i in 0..<3 {
            let corr = (0..<fs).map { e in small3[i][0][e] - smallBase[i * fs + e] }
            let up = Resample.bilinear(corr, channels: c, height: 16, width: 20, toHeight: h, toWidth: w)
            #expect(corrections[i] == [up], "sample \(i)")
            #expect((0..<ffs).map { e in min(max(fullBase[i * ffs + e] + up[e], -1), 1) } == expected[i][0], "sample \(i)")
        }
        // The full-size base matters: not the small output upsampled.
        let small = try Generator(model: model, height: 16, width: 20, settings: settings).sample(
            task: .interpolate, conditions: [BlockCondition(past: prepared[0].past.map(\.working), future: prepared[0].future.map(\.working))],
            noiseBlock: 4)[0][0]
        #expect(made[0][0] != Resample.bilinear(small, channels: c, height: 16, width: 20, toHeight: h, toWidth: w))
    }

    /// Native: processing size 0, or a frame no taller than it, is the Generator at the padded size on
    /// edge-padded frames, cropped back.
    @Test(arguments: [0, 37, 64])
    func nativeSizeUnchanged(_ processingSize: Int) throws {
        let model = try tinyModel("ps-native", tinyConfig(channels: 3, past: 2, future: 1, residual: true, parameterization: "v"))
        let (h, w) = (37, 45)
        let frames = movingPlanar(4, height: h, width: w, channels: 3)
        let settings = SamplingSettings(steps: 2, seed: 8)
        let gen = try FrameGenerator(model: model, height: h, width: w, processingSize: processingSize, settings: settings)
        #expect(!gen.scaled && gen.workingHeight == 38 && gen.workingWidth == 46)
        func pad(_ f: [Float]) -> [Float] {
            (0..<3).flatMap { ch in (0..<38).flatMap { y in (0..<46).map { x in f[(ch * h + min(y, h - 1)) * w + min(x, w - 1)] } } }
        }
        let made = try gen.sample(task: .interpolate, conditions: [BlockCondition(past: [frames[0], frames[1]], future: [frames[2]])], noiseBlock: 2)
        let padded = try Generator(model: model, height: 38, width: 46, settings: settings)
            .sample(task: .interpolate, conditions: [BlockCondition(past: [pad(frames[0]), pad(frames[1])], future: [pad(frames[2])])], noiseBlock: 2)
        let cropped = (0..<3).flatMap { ch in (0..<h).flatMap { y in (0..<w).map { x in padded[0][0][(ch * 38 + y) * 46 + x] } } }
        #expect(made[0][0] == cropped)
        // Corrections at native size: the frames minus the padded frames' base, cropped back.
        let corrections = try gen.sample(task: .interpolate, conditions: [BlockCondition(past: [frames[0], frames[1]], future: [frames[2]])],
                                         noiseBlocks: [2], output: .corrections)
        let paddedBase = try Self.base(model, task: .interpolate, [BlockCondition(past: [pad(frames[0]), pad(frames[1])], future: [pad(frames[2])])], 38, 46)
        var want: [Float] = []
        for ch in 0..<3 { for y in 0..<h { for x in 0..<w { want.append(padded[0][0][(ch * 38 + y) * 46 + x] - paddedBase[(ch * 38 + y) * 46 + x]) } } }
        #expect(corrections == [[want]])
    }

    @Test func badInput() throws {
        let model = try tinyModel("ps-bad", tinyConfig())
        #expect(throws: MCVDKitError.self) { try FrameGenerator(model: model, height: 20, width: 20, processingSize: -1) }
        let gen = try FrameGenerator(model: model, height: 20, width: 30, processingSize: 8)
        #expect(gen.scaled && gen.workingHeight == 8 && gen.workingWidth == 12)
        do {
            _ = try gen.prepare([Float](repeating: 0, count: 20 * 20))
            Issue.record("no error")
        } catch {
            #expect("\(error)".contains("1x20x30"))
        }
    }
}
