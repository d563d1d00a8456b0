// The base b a residual model refines (x0 = b + r): which cheap estimate of the current block it starts
// from. Diffusion knows the plain ones (Task.baseline: blend / last / first / zeros); the
// motion-compensated one needs the Motion module, so it lives here and reaches Diffusion's samplers and
// the trainer's objective as a `BaselineFunction` — the same function in training and in sampling.
//
// Model frames are floats in [-1, 1] (data.rescaled) or [0, 1]; the base runs Motion on 8-bit planes
// (as `mcvd eval`'s motion method does). The conversion is the frame mapping's 8-bit rule (MCVDKit FrameMapping.swift): code = round((x + 1) * 127.5)
// ([-1, 1]) or round(x * 255) ([0, 1]), clamped to 0...255, and back x = code / 127.5 - 1 or code / 255.
// Frames that came from 8-bit gray or RGB pictures (training clips, the given frames of `mcvd sample` /
// `eval`: decoded to gray or RGB bytes, then mapped) make
// the round trip exactly, so the base is bit for bit Motion's output on the original bytes; other frames
// (generated ones that condition a later block) are rounded to the nearest code first. 1 channel:
// luma is that channel; 3 channels: luma from R, G, B (Motion's LumaSource.rgb); every channel is
// rendered along the same vectors.
import Diffusion
import Motion

/// The residual base of a model (model config `diffusion.base`, `mcvd train --base`).
///
/// | base   | interpolate                                  | predict     | predict-past | generate |
/// | ------ | -------------------------------------------- | ----------- | ------------ | -------- |
/// | blend  | (1 - w) P + w Q, w = (j + 1) / (n + 1)       | copy P      | copy Q       | zeros    |
/// | motion | Motion's interpolation of P, Q at time w     | P pushed (*)| copy Q       | zeros    |
/// | last   | copy P                                       | copy P      | copy Q       | zeros    |
/// | first  | copy Q                                       | copy P      | copy Q       | zeros    |
/// | zeros  | zeros                                        | zeros       | zeros        | zeros    |
///
/// P: the last past frame, Q: the first future frame, j: the frame's index in the block of n.
/// (*) Motion extrapolation: the motion between the last two past frames P' and P (Motion's backward
/// field, P -> P', negated: where each pixel of P moved from P') is taken as constant, and frame j is P
/// sampled bilinearly at x - m v(x), m = (j + 1) / s (s the condition stride: P' and P are s frames
/// apart), clamped at the edges. With one past frame, or when P' -> P is a scene cut, copy P.
/// A scene cut between P and Q (Motion's `isSceneCut`) gives the nearer original (P for w <= 0.5), as
/// `mcvd eval`'s motion method and the element do.
public enum ResidualBase: String, Sendable, Codable, CaseIterable {
    case blend, motion, last, first, zeros

    /// The names, for messages.
    public static var names: String { allCases.map(\.rawValue).joined(separator: ", ") }

    /// b for N samples of `task`: (N, n, C, H, W). `symmetric`: frames in [-1, 1], else [0, 1].
    /// `interpolator` is a workspace reused across calls (a new one when nil).
    /// `conditionStride`: the spacing s of the conditioning frames (the motion between P' and P spans s frames).
    public func values(task: Task, shape: BlockShape, cond: Conditioning, symmetric: Bool, conditionStride: Int = 1,
                       interpolator: MotionInterpolator? = nil) throws -> [Float] {
        switch (self, task) {
        case (.zeros, _):
            return [Float](repeating: 0, count: cond.samples * shape.sampleSize)
        case (.last, .interpolate):
            return Task.predict.baseline(shape: shape, cond: cond)
        case (.first, .interpolate):
            return Task.predictPast.baseline(shape: shape, cond: cond)
        case (.motion, .interpolate) where shape.past > 0 && shape.future > 0:
            return try motionInterpolation(shape: shape, cond: cond, symmetric: symmetric,
                                           interpolator: interpolator ?? MotionInterpolator())
        case (.motion, .predict) where shape.past > 1:
            return try motionExtrapolation(shape: shape, cond: cond, symmetric: symmetric, stride: max(conditionStride, 1),
                                           interpolator: interpolator ?? MotionInterpolator())
        default:
            return task.baseline(shape: shape, cond: cond)
        }
    }

    /// `values` as Diffusion's hook (a fresh Motion workspace per call).
    public func function(symmetric: Bool, conditionStride: Int = 1) -> BaselineFunction {
        let base = self
        return { task, shape, cond in
            try base.values(task: task, shape: shape, cond: cond, symmetric: symmetric, conditionStride: conditionStride)
        }
    }

    /// What a network that sees its base is given as conditioning (data.num_frames_base = views * n), per
    /// sample (N, views * n, C, H, W), from the base `b` (N, n, C, H, W) of the same task:
    /// - views 1: b itself;
    /// - views 2 (the motion base only): for interpolation, P and Q each brought to every current frame's
    ///   time along the motion b was rendered with (Motion's one-sided renders: the n frames from P, then
    ///   the n from Q; at a scene cut P and Q themselves), so the network sees where the two sides
    ///   disagree, which b's mix hides; for every other task, b twice (two sides that agree).
    public func seen(views: Int, b: [Float], task: Task, shape: BlockShape, cond: Conditioning, symmetric: Bool,
                     interpolator: MotionInterpolator? = nil) throws -> [Float] {
        guard b.count == cond.samples * shape.sampleSize else {
            throw TaskError.badShape("the residual base has \(b.count) values, expected \(cond.samples * shape.sampleSize)")
        }
        switch views {
        case 1:
            return b
        case 2 where self == .motion:
            if task == .interpolate && shape.past > 0 && shape.future > 0 {
                return try motionInterpolation(shape: shape, cond: cond, symmetric: symmetric,
                                               interpolator: interpolator ?? MotionInterpolator(), sides: true)
            }
            var out = [Float]()
            out.reserveCapacity(2 * b.count)
            let size = shape.sampleSize
            for i in 0..<cond.samples {
                out += b[i * size ..< (i + 1) * size]
                out += b[i * size ..< (i + 1) * size]
            }
            return out
        default:
            throw TaskError.unsupported("a network sees its base as 1 view, or as 2 (the motion base's two sides), not \(views) of base \(rawValue)")
        }
    }

    /// `seen` as Diffusion's hook (a fresh Motion workspace per call).
    public func seenFunction(views: Int, symmetric: Bool) -> SeenBaseFunction {
        let base = self
        return { task, shape, cond, b in
            try base.seen(views: views, b: b, task: task, shape: shape, cond: cond, symmetric: symmetric)
        }
    }
}

/// A frame (C, H, W) of model floats as 8-bit codes (the rule in the file header).
func codes(_ x: ArraySlice<Float>, symmetric: Bool) -> [UInt8] {
    x.map { v in
        let u = symmetric ? (v + 1) * 127.5 : v * 255
        return u.isNaN ? 0 : UInt8(min(max(u, 0), 255).rounded())
    }
}

/// Motion's frame at time w = (j + 1) / (n + 1) between the last past frame P and the first future
/// frame Q of every sample, for j = 0 ..< n; with `sides`, instead the n frames rendered from P alone, then
/// the n from Q alone (2n frames per sample; at a scene cut P's are P, Q's are Q).
func motionInterpolation(shape: BlockShape, cond: Conditioning, symmetric: Bool,
                         interpolator: MotionInterpolator, sides: Bool = false) throws -> [Float] {
    let c = shape.channels, h = shape.height, w = shape.width, fs = shape.frameSize, n = shape.frames
    guard c == 1 || c == 3 else {
        throw TaskError.unsupported("the motion base needs 1 (gray) or 3 (RGB) channels, not \(c)")
    }
    let views = sides ? 2 : 1
    var out = [Float](repeating: 0, count: views * cond.samples * shape.sampleSize)
    var frame = [UInt8](repeating: 0, count: fs)
    for i in 0..<cond.samples {
        let p0 = (i * shape.past + shape.past - 1) * fs, q0 = i * shape.future * fs
        var a = codes(cond.past[p0 ..< p0 + fs], symmetric: symmetric)
        var b = codes(cond.future[q0 ..< q0 + fs], symmetric: symmetric)
        try a.withUnsafeMutableBytes { pa in try b.withUnsafeMutableBytes { pb in try frame.withUnsafeMutableBytes { po in
            func planes(_ p: UnsafeMutableRawBufferPointer) -> [MotionPlane] {
                (0..<c).map { MotionPlane(base: p.baseAddress! + $0 * h * w, width: w, height: h, rowStride: w, pixelStride: 1) }
            }
            let (qa, qb, qo) = (planes(pa), planes(pb), planes(po))
            func luma(_ q: [MotionPlane]) -> LumaSource { c == 1 ? .plane(q[0]) : .rgb(q[0], q[1], q[2]) }
            try interpolator.estimate(a: luma(qa), b: luma(qb))
            let renders: [MotionInterpolator.Side] = sides ? [.a, .b] : [.both]
            for (r, side) in renders.enumerated() {
                for j in 0..<n {
                    let t = Float(j + 1) / Float(n + 1)
                    interpolator.prepare(t: t)
                    if interpolator.isSceneCut {
                        let nearer = side == .both ? (t <= 0.5 ? pa : pb) : (side == .a ? pa : pb)
                        po.copyMemory(from: UnsafeRawBufferPointer(nearer))
                    } else {
                        try interpolator.render(t: t, a: qa, b: qb, output: qo, side: side)
                    }
                    let dst = ((i * views + r) * n + j) * fs
                    for e in 0..<fs {
                        let v = Float(po[e])
                        out[dst + e] = symmetric ? v / 127.5 - 1 : v / 255
                    }
                }
            }
        } } }
    }
    return out
}

/// P (the last past frame) pushed along the motion from P' (the one before it) for every sample.
func motionExtrapolation(shape: BlockShape, cond: Conditioning, symmetric: Bool, stride: Int,
                         interpolator: MotionInterpolator) throws -> [Float] {
    let c = shape.channels, h = shape.height, w = shape.width, fs = shape.frameSize, n = shape.frames, hw = h * w
    guard c == 1 || c == 3 else {
        throw TaskError.unsupported("the motion base needs 1 (gray) or 3 (RGB) channels, not \(c)")
    }
    var out = [Float](repeating: 0, count: cond.samples * shape.sampleSize)
    var field = [SIMD2<Float>](repeating: .zero, count: hw)
    for i in 0..<cond.samples {
        let p0 = (i * shape.past + shape.past - 1) * fs, q0 = p0 - fs
        var a = codes(cond.past[q0 ..< q0 + fs], symmetric: symmetric)
        var b = codes(cond.past[p0 ..< p0 + fs], symmetric: symmetric)
        var cut = false
        try a.withUnsafeMutableBytes { pa in try b.withUnsafeMutableBytes { pb in
            func luma(_ p: UnsafeMutableRawBufferPointer) -> LumaSource {
                let q = (0..<c).map { MotionPlane(base: p.baseAddress! + $0 * hw, width: w, height: h, rowStride: w, pixelStride: 1) }
                return c == 1 ? .plane(q[0]) : .rgb(q[0], q[1], q[2])
            }
            try interpolator.estimate(a: luma(pa), b: luma(pb))
            interpolator.prepare(t: 0.5)
            cut = interpolator.isSceneCut
        } }
        if !cut {
            for y in 0..<h { for x in 0..<w { field[y * w + x] = -interpolator.backwardMotion(x: Float(x), y: Float(y)) } }
        }
        for j in 0..<n {
            let dst = (i * n + j) * fs
            let m = Float(j + 1) / Float(stride)
            for ch in 0..<c {
                let plane = ch * hw
                for y in 0..<h {
                    for x in 0..<w {
                        var code = Float(b[plane + y * w + x])
                        if !cut {
                            let v = field[y * w + x]
                            let sx = min(max(Float(x) - m * v.x, 0), Float(w - 1)), sy = min(max(Float(y) - m * v.y, 0), Float(h - 1))
                            let x0 = Int(sx), y0 = Int(sy), x1 = min(x0 + 1, w - 1), y1 = min(y0 + 1, h - 1)
                            let fx = sx - Float(x0), fy = sy - Float(y0)
                            func at(_ xx: Int, _ yy: Int) -> Float { Float(b[plane + yy * w + xx]) }
                            code = (at(x0, y0) * (1 - fx) + at(x1, y0) * fx) * (1 - fy) + (at(x0, y1) * (1 - fx) + at(x1, y1) * fx) * fy
                        }
                        out[dst + plane + y * w + x] = symmetric ? code / 127.5 - 1 : code / 255
                    }
                }
            }
        }
    }
    return out
}
