// The motion-compensated residual base (MotionBase's ResidualBase.motion) against Motion called
// directly on interleaved byte frames (the layout `mcvd eval` uses, not the base's planar one), after the
// documented conversion (code / 127.5 - 1 or code / 255); the other bases per their table; training
// over it: the objective's x_t carries it, a seeded run repeats bit for bit, and the field is recorded
// in the model config, the checkpoint's options and the loaded model.
import Diffusion
import Foundation
import MCVDKit
import Motion
import MotionBase
import Testing
import Training
import UNet

/// A smooth texture translated by (dx, dy) per unit time, sampled at time t: HWC bytes.
func movingTexture(width w: Int, height h: Int, channels c: Int, t: Double, dx: Double = 2, dy: Double = 1) -> [UInt8] {
    var out = [UInt8](repeating: 0, count: w * h * c)
    for y in 0..<h {
        for x in 0..<w {
            let u = Double(x) - dx * t, v = Double(y) - dy * t
            for ch in 0..<c {
                let s = 128 + 70 * sin(0.37 * u + 0.5 * Double(ch)) * cos(0.29 * v) + 40 * sin(0.13 * u * 0.7 + 0.21 * v + Double(ch))
                out[(y * w + x) * c + ch] = UInt8(min(max(s.rounded(), 0), 255))
            }
        }
    }
    return out
}

/// Motion's frame at time t between HWC byte frames a and b; a scene cut gives the nearer original.
func motionReference(_ a: [UInt8], _ b: [UInt8], width w: Int, height h: Int, channels c: Int, t: Float) throws -> (frame: [UInt8], cut: Bool) {
    let m = MotionInterpolator()
    var fa = a, fb = b, out = [UInt8](repeating: 0, count: a.count)
    var cut = false
    try fa.withUnsafeMutableBytes { pa in try fb.withUnsafeMutableBytes { pb in try out.withUnsafeMutableBytes { po in
        func planes(_ p: UnsafeMutableRawBufferPointer) -> [MotionPlane] {
            (0..<c).map { MotionPlane(base: p.baseAddress! + $0, width: w, height: h, rowStride: w * c, pixelStride: c) }
        }
        let (qa, qb, qo) = (planes(pa), planes(pb), planes(po))
        func luma(_ q: [MotionPlane]) -> LumaSource { c == 1 ? .plane(q[0]) : .rgb(q[0], q[1], q[2]) }
        try m.estimate(a: luma(qa), b: luma(qb))
        m.prepare(t: t)
        cut = m.isSceneCut
        if cut { po.copyMemory(from: UnsafeRawBufferPointer(t <= 0.5 ? pa : pb)) } else { try m.render(t: t, a: qa, b: qb, output: qo) }
    } } }
    return (out, cut)
}

/// HWC bytes -> planar (C, H, W) model floats.
func planarFloats(_ bytes: [UInt8], width w: Int, height h: Int, channels c: Int, symmetric: Bool) -> [Float] {
    var out = [Float](repeating: 0, count: bytes.count)
    for ch in 0..<c { for i in 0..<(w * h) {
        let v = Float(bytes[i * c + ch])
        out[ch * w * h + i] = symmetric ? v / 127.5 - 1 : v / 255
    } }
    return out
}

func psnr(_ a: [Float], _ b: [Float], peak: Float) -> Double {
    let mse = zip(a, b).map { Double(($0 - $1) * ($0 - $1)) }.reduce(0, +) / Double(a.count)
    return 10 * log10(Double(peak * peak) / max(mse, 1e-12))
}

@Suite struct MotionBaseTests {
    @Test(arguments: [(1, true, 1), (3, true, 1), (1, false, 3), (3, false, 2)])
    func motionBaseIsMotionsOwnOutput(_ c: Int, _ symmetric: Bool, _ n: Int) throws {
        let (w, h) = (40, 32)
        // Sample 0: the texture moving (P at time 0, Q at time 1); sample 1: two unrelated frames.
        var rng = TestRng(5)
        let noiseA = (0..<(w * h * c)).map { _ in UInt8(rng.next() * 255) }
        let pairs = [(movingTexture(width: w, height: h, channels: c, t: 0), movingTexture(width: w, height: h, channels: c, t: 1)),
                     (noiseA, movingTexture(width: w, height: h, channels: c, t: 0))]
        let shape = BlockShape(channels: c, height: h, width: w, frames: n, past: 2, future: 1)
        let fs = shape.frameSize
        var past: [Float] = [], future: [Float] = []
        for (p, q) in pairs {
            past += [Float](repeating: 0.25, count: fs) + planarFloats(p, width: w, height: h, channels: c, symmetric: symmetric)
            future += planarFloats(q, width: w, height: h, channels: c, symmetric: symmetric)
        }
        let cond = try Task.interpolate.conditioning(shape: shape, samples: 2, past: past, future: future)
        let base = try ResidualBase.motion.values(task: .interpolate, shape: shape, cond: cond, symmetric: symmetric)
        #expect(base.count == 2 * n * fs)
        var cuts: [Bool] = []
        for (i, (p, q)) in pairs.enumerated() {
            for j in 0..<n {
                let t = Float(j + 1) / Float(n + 1)
                let ref = try motionReference(p, q, width: w, height: h, channels: c, t: t)
                cuts.append(ref.cut)
                let want = planarFloats(ref.frame, width: w, height: h, channels: c, symmetric: symmetric)
                let got = Array(base[(i * n + j) * fs ..< (i * n + j + 1) * fs])
                #expect(got == want, "sample \(i) frame \(j): \(zip(got, want).filter { $0 != $1 }.count) values differ")
            }
        }
        // The moving pair is no scene cut, the unrelated one is (so both paths ran).
        #expect(cuts == [Bool](repeating: false, count: n) + [Bool](repeating: true, count: n), "\(cuts)")
        // On the moving texture the motion base beats the blend against the true in-between frame.
        let blend = Task.interpolate.baseline(shape: shape, cond: cond)
        for j in 0..<n {
            let t = Double(j + 1) / Double(n + 1)
            let truth = planarFloats(movingTexture(width: w, height: h, channels: c, t: t), width: w, height: h, channels: c, symmetric: symmetric)
            let range = j * fs ..< (j + 1) * fs
            let pm = psnr(Array(base[range]), truth, peak: symmetric ? 2 : 1), pb = psnr(Array(blend[range]), truth, peak: symmetric ? 2 : 1)
            #expect(pm > pb + 3, "frame \(j): motion \(pm) dB, blend \(pb) dB")
        }
    }

    /// The motion base's two sides (data.num_frames_base = 2n, ResidualBase.seen): for interpolation P and
    /// Q each brought to the frame's time along the base's motion: on a translated texture each side alone
    /// is far nearer the true frame than the blend, and the base is their per-pixel mix (every code within
    /// one of the two sides' range); at a scene cut the sides are P and Q themselves; for prediction the
    /// base twice; other view counts and bases are errors.
    @Test func motionBaseSeenFromBothSides() throws {
        let (w, h, c) = (40, 32, 1)
        var rng = TestRng(9)
        let noise = (0..<(w * h)).map { _ in UInt8(rng.next() * 255) }
        let pairs = [(movingTexture(width: w, height: h, channels: c, t: 0), movingTexture(width: w, height: h, channels: c, t: 1)),
                     (noise, movingTexture(width: w, height: h, channels: c, t: 0))]
        let shape = BlockShape(channels: c, height: h, width: w, frames: 1, past: 1, future: 1)
        let fs = shape.frameSize
        func planar(_ b: [UInt8]) -> [Float] { planarFloats(b, width: w, height: h, channels: c, symmetric: true) }
        let cond = try Task.interpolate.conditioning(shape: shape, samples: 2, past: pairs.flatMap { planar($0.0) },
                                                     future: pairs.flatMap { planar($0.1) })
        let b = try ResidualBase.motion.values(task: .interpolate, shape: shape, cond: cond, symmetric: true)
        let sides = try ResidualBase.motion.seen(views: 2, b: b, task: .interpolate, shape: shape, cond: cond, symmetric: true)
        #expect(sides.count == 2 * b.count)
        let (a0, b0) = (Array(sides[0 ..< fs]), Array(sides[fs ..< 2 * fs]))
        #expect(a0 != b0, "the two sides of a moving texture are two renders")
        // Away from the borders (where one side samples outside its frame) each side is the texture moved.
        func inner(_ f: [Float]) -> [Float] { (4 ..< h - 4).flatMap { y in f[y * w + 4 ..< y * w + w - 4] } }
        let truth = inner(planar(movingTexture(width: w, height: h, channels: c, t: 0.5)))
        let blend = Task.interpolate.baseline(shape: shape, cond: cond)
        let pBlend = psnr(inner(Array(blend[0 ..< fs])), truth, peak: 2)
        for (name, side) in [("P", a0), ("Q", b0)] {
            let p = psnr(inner(side), truth, peak: 2)
            #expect(p > pBlend + 3, "side \(name): \(p) dB, blend \(pBlend) dB")
        }
        let code = { (v: Float) in (v + 1) * 127.5 }
        let outside = (0..<fs).filter { i in
            let lo = min(code(a0[i]), code(b0[i])) - 1, hi = max(code(a0[i]), code(b0[i])) + 1
            return code(b[i]) < lo || code(b[i]) > hi
        }
        #expect(outside.isEmpty, "\(outside.count) base values outside their sides' range")
        // The unrelated pair is a scene cut: P and Q as they are.
        #expect(Array(sides[2 * fs ..< 3 * fs]) == planar(pairs[1].0) && Array(sides[3 * fs ..< 4 * fs]) == planar(pairs[1].1))
        // Prediction (the future masked): the base twice.
        let predict = try Task.predict.conditioning(shape: shape, samples: 1, past: planar(pairs[0].0), future: nil)
        let pb = try ResidualBase.motion.values(task: .predict, shape: shape, cond: predict, symmetric: true)
        #expect(try ResidualBase.motion.seen(views: 2, b: pb, task: .predict, shape: shape, cond: predict, symmetric: true) == pb + pb)
        #expect(try ResidualBase.motion.seen(views: 1, b: b, task: .interpolate, shape: shape, cond: cond, symmetric: true) == b)
        #expect(throws: TaskError.self) {
            _ = try ResidualBase.blend.seen(views: 2, b: b, task: .interpolate, shape: shape, cond: cond, symmetric: true)
        }
        #expect(throws: TaskError.self) {
            _ = try ResidualBase.motion.seen(views: 3, b: b, task: .interpolate, shape: shape, cond: cond, symmetric: true)
        }
        #expect(throws: TaskError.self) {
            _ = try ResidualBase.motion.seen(views: 2, b: Array(b.dropLast()), task: .interpolate, shape: shape, cond: cond, symmetric: true)
        }
    }

    /// A 16x16 crop at (20, 9) of a 48x40 texture moving 3 px a frame: with its BaseContext the training
    /// base is Motion's frame on the whole frames (motionReference on the bytes), cropped there, and it is
    /// closer to the true in-between crop than the base computed on the crop alone (border blocks whose match
    /// lies outside the crop). A sample whose frames are all masked keeps the zero base.
    @Test func baseFromTheWholeFrame() throws {
        let (w, h, cs, x0, y0) = (48, 40, 16, 20, 9)
        func frame(_ t: Double) -> [UInt8] { movingTexture(width: w, height: h, channels: 1, t: t, dx: 3, dy: 0) }
        func planar(_ b: [UInt8]) -> [Float] { planarFloats(b, width: w, height: h, channels: 1, symmetric: true) }
        func crop(_ f: [Float]) -> [Float] {
            var out: [Float] = []
            for y in 0..<cs {
                let start: Int = (y0 + y) * w + x0
                out += f[start ..< start + cs]
            }
            return out
        }
        let past = [frame(-2), frame(0)], future = [frame(2), frame(4)]   // k = f = 2 at stride 2: the target at t = 1
        let context = BaseContext(past: past.flatMap(planar), future: future.flatMap(planar), width: w, height: h, x: x0, y: y0)
        let shape = BlockShape(channels: 1, height: cs, width: cs, frames: 1, past: 2, future: 2)
        let cropped = Conditioning(past: (past + past).flatMap { crop(planar($0)) }, future: (future + future).flatMap { crop(planar($0)) },
                                   pastGiven: [true, false], futureGiven: [true, false])
        let whole = baselines(cond: cropped, shape: shape, base: .motion, conditionStride: 2, contexts: [context, context])
        let onCrop = baselines(cond: cropped, shape: shape, base: .motion, conditionStride: 2)
        let reference = crop(planar(try motionReference(frame(0), frame(2), width: w, height: h, channels: 1, t: 0.5).frame))
        #expect(Array(whole[0..<(cs * cs)]) == reference)
        #expect(Array(whole[(cs * cs)...]) == [Float](repeating: 0, count: cs * cs), "both masked: generation's zero base")
        let truth = crop(planar(frame(1)))
        let pw = psnr(Array(whole[0..<(cs * cs)]), truth, peak: 2), pc = psnr(Array(onCrop[0..<(cs * cs)]), truth, peak: 2)
        #expect(pw > pc + 1, "whole-frame base \(pw) dB, crop base \(pc) dB")
    }

    @Test func otherTasksAndBasesFollowTheirTable() throws {
        let shape = BlockShape(channels: 1, height: 8, width: 8, frames: 2, past: 2, future: 1)
        let fs = shape.frameSize
        let p0 = (0..<fs).map { Float($0) / 64 - 0.5 }, p1 = (0..<fs).map { Float($0 % 8) / 8 }, q = (0..<fs).map { -Float($0) / 80 }
        let cond = try Task.interpolate.conditioning(shape: shape, samples: 1, past: p0 + p1, future: q)
        func v(_ b: ResidualBase, _ t: Task) throws -> [Float] { try b.values(task: t, shape: shape, cond: cond, symmetric: true) }
        #expect(try v(.last, .interpolate) == p1 + p1)
        #expect(try v(.first, .interpolate) == q + q)
        #expect(try v(.zeros, .interpolate) == [Float](repeating: 0, count: 2 * fs))
        #expect(try v(.blend, .interpolate) == Task.interpolate.baseline(shape: shape, cond: cond))
        for t in [Task.predict, .predictPast, .generate] {
            for b in [ResidualBase.blend, .motion, .last, .first] where !(b == .motion && t == .predict) {
                #expect(try v(b, t) == t.baseline(shape: shape, cond: cond), "\(b) \(t)")
            }
            #expect(try v(.zeros, t) == [Float](repeating: 0, count: 2 * fs))
        }
        // Two channels: the motion base names what it needs.
        let two = BlockShape(channels: 2, height: 8, width: 8, frames: 1, past: 1, future: 1)
        let c2 = try Task.interpolate.conditioning(shape: two, samples: 1, past: [Float](repeating: 0, count: 128), future: [Float](repeating: 0, count: 128))
        #expect(throws: TaskError.self) { try ResidualBase.motion.values(task: .interpolate, shape: two, cond: c2, symmetric: true) }
    }

    /// Prediction over the motion base: P pushed along the motion P' -> P; nearer the true next frames
    /// than copy-last on a moving texture (also at condition stride 2, P' two frames before P); one past
    /// frame or a scene cut P' -> P gives copy-last exactly.
    @Test(arguments: [(1, 1), (3, 1), (1, 2)])
    func predictionPushesTheLastFrameAlongItsMotion(_ c: Int, _ stride: Int) throws {
        let (w, h, n) = (48, 40, 2)
        let shape = BlockShape(channels: c, height: h, width: w, frames: n, past: 2, future: 0)
        let fs = shape.frameSize
        func frame(_ t: Double) -> [Float] {
            planarFloats(movingTexture(width: w, height: h, channels: c, t: t), width: w, height: h, channels: c, symmetric: true)
        }
        var rng = TestRng(9)
        let noise = (0..<(w * h * c)).map { _ in UInt8(rng.next() * 255) }
        let s = Double(stride)
        let past = frame(0) + frame(s) + planarFloats(noise, width: w, height: h, channels: c, symmetric: true) + frame(s)
        let cond = try Task.predict.conditioning(shape: shape, samples: 2, past: past)
        let base = try ResidualBase.motion.values(task: .predict, shape: shape, cond: cond, symmetric: true, conditionStride: stride)
        let last = frame(s)
        for j in 0..<n {
            let truth = frame(s + Double(j + 1))
            let pm = psnr(Array(base[j * fs ..< (j + 1) * fs]), truth, peak: 2), pc = psnr(last, truth, peak: 2)
            #expect(pm > pc + 3, "frame \(j): motion \(pm) dB, copy-last \(pc) dB")
        }
        // Sample 1: noise then the texture, a scene cut: copy-last.
        #expect(Array(base[2 * fs ..< 4 * fs]) == last + last)
        // Deterministic; one past frame: copy-last.
        #expect(try ResidualBase.motion.values(task: .predict, shape: shape, cond: cond, symmetric: true, conditionStride: stride) == base)
        let one = BlockShape(channels: c, height: h, width: w, frames: n, past: 1, future: 0)
        let c1 = try Task.predict.conditioning(shape: one, samples: 1, past: last)
        #expect(try ResidualBase.motion.values(task: .predict, shape: one, cond: c1, symmetric: true) == last + last)
    }

    /// 8-bit clips of the moving texture, 16x16 gray, k = 2, n = 1, f = 1, in [-1, 1].
    static func clips(_ count: Int, step: Int) -> [Float] {
        var out: [Float] = []
        for i in 0..<count {
            for f in 0..<4 {
                let t = Double(f) + 0.37 * Double(i + step), dx = 1 + Double(i % 3), dy = Double(i % 2)
                let bytes = movingTexture(width: 16, height: 16, channels: 1, t: t, dx: dx, dy: dy)
                out += planarFloats(bytes, width: 16, height: 16, channels: 1, symmetric: true)
            }
        }
        return out
    }

    @Test func theObjectiveDiffusesOverTheMotionBase() throws {
        let shape = BlockShape(channels: 1, height: 16, width: 16, frames: 1, past: 2, future: 1)
        let n = 6, fs = shape.frameSize, clips = Self.clips(n, step: 0)
        let masking = MaskingOptions(past: 0.3, future: 0.3)
        let schedule = NoiseSchedule.linear()
        let plain = makeExample(clips: clips, shape: shape, samples: n, schedule: schedule, parameterization: .eps,
                                residual: false, masking: masking, seed: 4, step: 1)
        let res = makeExample(clips: clips, shape: shape, samples: n, schedule: schedule, parameterization: .eps,
                              residual: true, base: .motion, masking: masking, seed: 4, step: 1)
        var interpolated = 0
        for i in 0..<n {
            let a = schedule.alphaBar(plain.levels[i]), sa = Float(a.squareRoot())
            // x_t(plain) - x_t(residual) = sqrt(alpha_bar) b.
            let b = (0..<fs).map { (plain.xt[i * fs + $0] - res.xt[i * fs + $0]) / sa }
            let want: [Float]
            switch (plain.cond.pastGiven[i], plain.cond.futureGiven[i]) {
            case (true, true):
                interpolated += 1
                let bytes = { (f: Int) in (0..<fs).map { UInt8(((clips[(i * 4 + f) * fs + $0] + 1) * 127.5).rounded()) } }
                let ref = try motionReference(bytes(1), bytes(3), width: 16, height: 16, channels: 1, t: 0.5)
                want = planarFloats(ref.frame, width: 16, height: 16, channels: 1, symmetric: true)
            case (true, false):
                // Prediction: the extrapolated base (tested above), computed on this sample's past block alone.
                let one = Conditioning(past: Array(clips[i * 4 * fs ..< (i * 4 + 2) * fs]), future: [Float](repeating: 0, count: fs),
                                       pastGiven: [true], futureGiven: [false])
                want = try ResidualBase.motion.values(task: .predict, shape: shape, cond: one, symmetric: true)
                #expect(want != Array(clips[(i * 4 + 1) * fs ..< (i * 4 + 2) * fs]), "sample \(i): the texture moves; not copy-last")
            case (false, true): want = Array(clips[(i * 4 + 3) * fs ..< (i * 4 + 4) * fs])
            case (false, false): want = [Float](repeating: 0, count: fs)
            }
            let err = zip(b, want).map { abs($0 - $1) }.max()!
            #expect(err < 2e-3 / max(sa, 0.05), "sample \(i): base off by \(err)")
        }
        #expect(interpolated >= 2, "the draws should leave some interpolation samples")
    }

    static func trainer(_ base: ResidualBase) throws -> Trainer {
        let model = try UNet(config: Tiny.config(size: 16, past: 2, future: 1))
        model.randomize(seed: 2)
        return Trainer(model: model, options: TrainingOptions(seed: 7, parameterization: .v, residual: true,
                                                              masking: MaskingOptions(past: 0.25, future: 0.25), base: base))
    }

    @Test func trainingOverTheMotionBaseIsSeededAndRecorded() throws {
        func run(_ base: ResidualBase) throws -> (Trainer, [Double]) {
            let t = try Self.trainer(base)
            let losses = (0..<3).map { t.trainStep(clips: Self.clips(4, step: $0), samples: 4, height: 16, width: 16).loss }
            return (t, losses)
        }
        let (a, la) = try run(.motion), (_, lb) = try run(.motion), (_, lc) = try run(.blend)
        // Same seed, same losses. Not compared bit for bit here: other suites of this process change
        // Parallel.shared.threads while they run (TrainerTests.dropoutMaskFollowsItsStream), which moves
        // the engine's reductions by an ulp; TrainBaseTests checks byte-identical checkpoints of two
        // `mcvd train --base motion` processes.
        #expect(zip(la, lb).allSatisfy { abs($0 - $1) <= 1e-6 * abs($0) }, "\(la) vs \(lb)")
        #expect(zip(la, lc).contains { abs($0 - $1) > 1e-3 * abs($0) }, "the base should change the losses: \(la) vs \(lc)")
        #expect(la.allSatisfy { $0.isFinite })

        let config = try ModelConfig(json: a.configJSON)
        #expect(config.diffusion.base == "motion" && config.diffusion.residual)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("mcvd-motionbase-\(getpid()).safetensors").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try a.save(path: path)
        #expect(try Model(path: path).base == .motion)
        let resumed = try Trainer(checkpoint: path)
        #expect(resumed.options.base == .motion && resumed.options == a.options)
        // Options of checkpoints written before the field existed (no "base" key) read as nil: blend.
        var old = a.options
        old.base = nil
        let text = String(decoding: try JSONEncoder().encode(old), as: UTF8.self)
        #expect(!text.contains("\"base\""))
        #expect(try JSONDecoder().decode(TrainingOptions.self, from: Data(text.utf8)).base == nil)
        #expect(try ModelConfig(json: try Self.trainer(.blend).configJSON).diffusion.base == "blend")
    }
}
