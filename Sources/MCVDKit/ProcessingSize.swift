// Frames of any size through a model trained small: the processing-size path. The model runs at a
// working size of about `processingSize` rows (aspect kept, a multiple of the model's size multiple);
// the conditioning frames are area-averaged down to it; the model's *correction* there (its output minus
// the model's own residual base b computed at the working size) is upsampled bilinearly and added to the
// same base computed at full resolution, then clipped to the data range (rounding is the frame mapping's,
// on write). Frames no taller than the processing size, and processingSize 0, run natively: edge-padded
// on the right and bottom to the size multiple and cropped back. What a 1-channel model does to colour
// is the frame mapping's (FrameMapping.swift, keepColour), as at native size; or the caller asks for the
// correction itself (`Output.corrections`), which a 1-channel model over the motion base adds to
// method=motion's colour frame (FrameView.addLuma) instead of replacing that frame's luma.
import Diffusion
import MotionBase

/// Resampling of planar (C, H, W) floats, separable, one fixed summation order (the same bits on every run).
public enum Resample {
    /// Area average (box filter): each output sample is the mean of the source area it covers, partly
    /// covered source samples weighted by their covered fraction (integer ratios: the plain block mean).
    /// Works for any sizes (a dimension that grows gets the covering sample, or two weighted).
    public static func area(_ x: [Float], channels c: Int, height h: Int, width w: Int,
                            toHeight oh: Int, toWidth ow: Int) -> [Float] {
        separable(x, channels: c, height: h, width: w, toHeight: oh, toWidth: ow,
                  columns: areaTaps(from: w, to: ow), rows: areaTaps(from: h, to: oh))
    }

    /// Bilinear interpolation with half-pixel centres (output sample o sits at source coordinate
    /// (o + 0.5) n / m - 0.5, clamped to the first and last sample: OpenCV's INTER_LINEAR, PyTorch's
    /// align_corners=False).
    public static func bilinear(_ x: [Float], channels c: Int, height h: Int, width w: Int,
                                toHeight oh: Int, toWidth ow: Int) -> [Float] {
        separable(x, channels: c, height: h, width: w, toHeight: oh, toWidth: ow,
                  columns: linearTaps(from: w, to: ow), rows: linearTaps(from: h, to: oh))
    }

    /// Output sample o of a dimension: the sum over i of source[start + i] * weights[i], in that order.
    typealias Taps = [(start: Int, weights: [Float])]

    /// A separable filter: rows filtered by `columns` into (C, H, OW), then columns by `rows`.
    static func separable(_ x: [Float], channels c: Int, height h: Int, width w: Int, toHeight oh: Int, toWidth ow: Int,
                          columns tx: Taps, rows ty: Taps) -> [Float] {
        precondition(x.count == c * h * w && oh > 0 && ow > 0)
        if oh == h && ow == w { return x }
        var rows = [Float](repeating: 0, count: c * h * ow)     // horizontal pass: (C, H, OW)
        var out = [Float](repeating: 0, count: c * oh * ow)
        x.withUnsafeBufferPointer { src in rows.withUnsafeMutableBufferPointer { r in
            for p in 0..<(c * h) {
                let s = p * w, d = p * ow
                for o in 0..<ow {
                    var acc: Float = 0
                    for (i, wt) in tx[o].weights.enumerated() { acc += src[s + tx[o].start + i] * wt }
                    r[d + o] = acc
                }
            }
        } }
        rows.withUnsafeBufferPointer { r in out.withUnsafeMutableBufferPointer { dst in
            for ch in 0..<c {
                for o in 0..<oh {
                    let d = (ch * oh + o) * ow
                    for (i, wt) in ty[o].weights.enumerated() {
                        let s = (ch * h + ty[o].start + i) * ow
                        for x in 0..<ow { dst[d + x] += r[s + x] * wt }
                    }
                }
            }
        } }
        return out
    }

    /// Output o of m covers source [o n / m, (o + 1) n / m); in units of 1/m sample i covers [i m, (i + 1) m),
    /// so the overlaps are exact integers.
    static func areaTaps(from n: Int, to m: Int) -> Taps {
        (0..<m).map { o in
            let lo = o * n, hi = (o + 1) * n
            let first = lo / m, last = (hi - 1) / m
            let weights = (first...last).map { i in Float(min(hi, (i + 1) * m) - max(lo, i * m)) / Float(n) }
            return (first, weights)
        }
    }

    /// Two taps, (1 - f) and f, from the sample at or left of the output's centre (one tap at the last sample).
    static func linearTaps(from n: Int, to m: Int) -> Taps {
        (0..<m).map { o in
            let s = max((Double(o) + 0.5) * Double(n) / Double(m) - 0.5, 0)
            let i0 = min(Int(s), n - 1)
            if i0 == n - 1 { return (i0, [1]) }
            let f = Float(s - Double(i0))
            return (i0, [1 - f, f])
        }
    }
}

extension Model {
    /// The residual base b of `task` for the N samples of `cond`, (N, n, C, H, W): the model's
    /// diffusion.base at the shape's size, the values sampling adds the residual to (Generator.sample).
    public func baseValues(task: Task, shape: BlockShape, cond: Conditioning) throws -> [Float] {
        if base == .blend { return task.baseline(shape: shape, cond: cond) }
        return try base.values(task: task, shape: shape, cond: cond, symmetric: range == .symmetric, conditionStride: conditionStride)
    }

    /// The working size for frames of height x width at `processingSize` rows (0 = native): native
    /// (rounded up to the size multiple, i.e. padded) when the frame has no more rows than the
    /// processing size, else about processingSize rows and the width that keeps the aspect, each rounded
    /// to the nearest multiple of `sizeMultiple` (at least one multiple).
    public func workingSize(height: Int, width: Int, processingSize: Int) -> (height: Int, width: Int, scaled: Bool) {
        let m = sizeMultiple
        func up(_ v: Int) -> Int { (v + m - 1) / m * m }
        func nearest(_ v: Double) -> Int { max(m, Int((v / Double(m)).rounded()) * m) }
        guard processingSize > 0, height > processingSize else { return (up(height), up(width), false) }
        let h = nearest(Double(processingSize))
        guard h < height else { return (up(height), up(width), false) }
        return (h, nearest(Double(width) * Double(h) / Double(height)), true)
    }
}

/// A model run on frames of any size (the file header): the element, `mcvd eval` and `mcvd sample` use it.
public final class FrameGenerator: BlockSampler {
    public let model: Model
    /// The frames' size.
    public let height: Int, width: Int
    /// Rows asked for (0 = native).
    public let processingSize: Int
    /// The size the model runs at, and whether frames are resampled to it (else padded and cropped).
    public let workingHeight: Int, workingWidth: Int
    public let scaled: Bool
    /// The model at the working size.
    public let generator: Generator

    /// A frame as the model takes it (`working`: downscaled, or padded at native size) and as it is (`full`).
    public struct Prepared {
        public let full: [Float]
        public let working: [Float]
    }

    public init(model: Model, height: Int, width: Int, processingSize: Int = 0, settings: SamplingSettings = SamplingSettings()) throws {
        guard height > 0, width > 0 else { throw MCVDKitError("frame size \(width)x\(height): must be positive") }
        guard processingSize >= 0 else { throw MCVDKitError("processing size must be >= 0 (got \(processingSize))") }
        self.model = model; self.height = height; self.width = width; self.processingSize = processingSize
        let work = model.workingSize(height: height, width: width, processingSize: processingSize)
        workingHeight = work.height; workingWidth = work.width; scaled = work.scaled
        generator = try Generator(model: model, height: workingHeight, width: workingWidth, settings: settings)
    }

    public var steps: Int { generator.steps }
    var channels: Int { model.channels }

    public func prepare(_ frame: [Float]) throws -> Prepared {
        guard frame.count == channels * height * width else {
            throw MCVDKitError("a frame has \(frame.count) values; \(channels)x\(height)x\(width) needs \(channels * height * width)")
        }
        let working = scaled
            ? Resample.area(frame, channels: channels, height: height, width: width, toHeight: workingHeight, toWidth: workingWidth)
            : pad(frame)
        return Prepared(full: frame, working: working)
    }

    /// Generator.sample on frames of the full size: for each condition, the model's n frames (C, H, W).
    public func sample(task: Task, conditions: [BlockCondition], noiseBlock: UInt32 = 0) throws -> [[[Float]]] {
        let prepared = try conditions.map { c in (past: try c.past.map(prepare), future: try c.future.map(prepare)) }
        return try sample(task: task, prepared: prepared, noiseBlock: noiseBlock)
    }

    /// What a sampling call gives at the full size.
    public enum Output: Sendable {
        /// The model's frames.
        case frames
        /// The model's correction: its frames minus its base, for adding to another estimate of the
        /// same base (a 1-channel model over the motion base adds it to method=motion's colour frame,
        /// FrameView.addLuma). Scaled: the correction at the working size upsampled, not clipped, and
        /// the base at full size is never computed; native: the frames minus the base, cropped.
        case corrections
    }

    /// The same with one noise block per condition (Generator.sample(task:conditions:noiseBlocks:)).
    public func sample(task: Task, conditions: [BlockCondition], noiseBlocks: [UInt32], output: Output = .frames) throws -> [[[Float]]] {
        let prepared = try conditions.map { c in (past: try c.past.map(prepare), future: try c.future.map(prepare)) }
        return try sample(task: task, prepared: prepared, output: output) { try generator.sample(task: task, conditions: $0, noiseBlocks: noiseBlocks) }
    }

    /// The same on prepared frames (a stream prepares each frame once; it conditions several gaps).
    public func sample(task: Task, prepared: [(past: [Prepared], future: [Prepared])], noiseBlock: UInt32 = 0,
                       output: Output = .frames) throws -> [[[Float]]] {
        try sample(task: task, prepared: prepared, output: output) { try generator.sample(task: task, conditions: $0, noiseBlock: noiseBlock) }
    }

    /// `draw` samples the conditions at the working size; the result is mapped back to the full size.
    func sample(task: Task, prepared: [(past: [Prepared], future: [Prepared])], output: Output,
                draw: ([BlockCondition]) throws -> [[[Float]]]) throws -> [[[Float]]] {
        let small = prepared.map { BlockCondition(past: $0.past.map(\.working), future: $0.future.map(\.working)) }
        let made = try draw(small)
        guard scaled || output == .corrections else { return made.map { $0.map(crop) } }
        let smallBase = try base(task: task, conditions: small, height: workingHeight, width: workingWidth)
        func correction(_ i: Int, _ j: Int) -> [Float] {
            var c = made[i][j]
            for e in c.indices { c[e] -= smallBase[i][j][e] }
            return c
        }
        guard scaled else { return made.indices.map { i in made[i].indices.map { j in crop(correction(i, j)) } } }
        // The correction over the base at the working size, upsampled (over the base at full size).
        let up = made.indices.map { i in
            made[i].indices.map { j in
                Resample.bilinear(correction(i, j), channels: channels, height: workingHeight, width: workingWidth,
                                  toHeight: height, toWidth: width)
            }
        }
        if output == .corrections { return up }
        let fullBase = try base(task: task, conditions: prepared.map { BlockCondition(past: $0.past.map(\.full), future: $0.future.map(\.full)) },
                                height: height, width: width)
        let (lo, hi): (Float, Float) = model.range == .symmetric ? (-1, 1) : (0, 1)
        return made.indices.map { i in
            made[i].indices.map { j in
                var out = fullBase[i][j]
                for e in out.indices { out[e] = min(max(out[e] + up[i][j][e], lo), hi) }
                return out
            }
        }
    }

    /// The model's base for each condition at height x width: [sample][frame of n] (C, H, W).
    func base(task: Task, conditions: [BlockCondition], height h: Int, width w: Int) throws -> [[[Float]]] {
        let shape = model.shape(height: h, width: w)
        let cond = try task.conditioning(shape: shape, samples: conditions.count,
                                         past: task.usesPast ? conditions.flatMap { $0.past.flatMap { $0 } } : nil,
                                         future: task.usesFuture ? conditions.flatMap { $0.future.flatMap { $0 } } : nil)
        let b = try model.baseValues(task: task, shape: shape, cond: cond)
        let fs = shape.frameSize, n = shape.frames
        return conditions.indices.map { i in (0..<n).map { j in Array(b[(i * n + j) * fs ..< (i * n + j + 1) * fs]) } }
    }

    /// (C, H, W) -> (C, H', W') repeating the last column and row.
    func pad(_ p: [Float]) -> [Float] {
        let (w, h, pw, ph) = (width, height, workingWidth, workingHeight)
        if w == pw && h == ph { return p }
        var out = [Float](repeating: 0, count: channels * pw * ph)
        for c in 0..<channels {
            for y in 0..<ph {
                let sy = min(y, h - 1)
                for x in 0..<pw { out[(c * ph + y) * pw + x] = p[(c * h + sy) * w + min(x, w - 1)] }
            }
        }
        return out
    }

    /// (C, H', W') -> (C, H, W).
    func crop(_ p: [Float]) -> [Float] {
        let (w, h, pw, ph) = (width, height, workingWidth, workingHeight)
        if w == pw && h == ph { return p }
        var out = [Float](repeating: 0, count: channels * w * h)
        for c in 0..<channels {
            for y in 0..<h { for x in 0..<w { out[(c * h + y) * w + x] = p[(c * ph + y) * pw + x] } }
        }
        return out
    }
}
