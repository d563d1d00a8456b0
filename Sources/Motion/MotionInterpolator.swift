// Motion-compensated frame interpolation between two frames A (time 0) and B (time 1):
//   1. luma pyramids of A and B; motion is searched on the finest level with at most `maxMotionPixels`
//      pixels (the "motion level"), coarse to fine from a level about 16 pixels high;
//   2. forward (A -> B) and backward (B -> A) block vectors by hierarchical block matching;
//   3. for a time t: each block of the in-between frame picks, among the forward and backward vectors
//      around it (and its neighbours' picks), the vector v whose bilateral match
//      A(x - t v) ~ B(x + (1 - t) v) is best, then a vector median smooths the picks;
//   4. occlusion: the forward vector where the block comes from in A and the backward vector where it
//      lands in B are checked against v; a side whose vector disagrees does not see the pixel, and the
//      blend weights move to the other side. The agreement and the match error make a confidence map;
//   5. every plane (any subsampling, 8 or 16 bits, any pixel stride) is rendered by sampling A and B
//      bilinearly along the per-pixel vector (the block field interpolated bilinearly) and blending.
// A pair whose best bilateral match leaves a mean error above `sceneCutThreshold` is a scene cut: the
// caller repeats the nearest original instead (`isSceneCut`).
// The object is a reusable workspace: buffers are sized on the first pair and when the size grows.
import Dispatch

public final class MotionInterpolator {
    public struct Settings {
        /// Threads for the search and the rendering (rows split in bands; results do not depend on it).
        public var threads = 2
        /// Motion is searched on the finest pyramid level with at most this many luma pixels.
        public var maxMotionPixels = 40_000
        /// A pair is a scene cut when the mean absolute bilateral error of the best field exceeds this
        /// fraction of the frames' contrast (mean absolute deviation of luma from its mean)... (SceneCut,
        /// PairTests.swift; 0 = never a cut)
        public var sceneCutRatio: Float = SceneCut.defaultThreshold
        /// ...and this many levels (0...255 scale), so that flat frames with noise are not cuts.
        public var sceneCutMinimum: Float = SceneCut.minimumError
        public init() {}
    }

    public var settings: Settings
    var tuning = MatchTuning()

    // Pyramids (level 0 = full size) and per-level fields, forward and backward.
    var pyrA: [Image] = [], pyrB: [Image] = []
    var fwd: [VectorField] = [], bwd: [VectorField] = []
    var scratch = VectorField(), scratchB = VectorField()
    // The field at time t on the motion level's block grid.
    var tField = VectorField(), tPick = VectorField()
    var weightA = FloatBuffer(), conf = FloatBuffer(), err = FloatBuffer()
    /// Forward-backward agreement of each forward / backward block vector (1: the other direction's
    /// vector where it lands points back; near 0: the block is occluded in the other frame or mismatched).
    var relF = FloatBuffer(), relB = FloatBuffer()
    var rowScratch = FloatBuffer()

    public private(set) var width = 0, height = 0
    /// The pyramid level motion is searched on, and the block grid there.
    public private(set) var motionLevel = 0
    var grid = BlockGrid(step: 8, margin: 4)
    var coarsest = 0
    /// The time the current field (`prepare(t:)`) is for; nil until one is computed for this pair.
    public private(set) var preparedTime: Float?
    /// Mean bilateral error of the field at `preparedTime` (0...255 scale).
    public private(set) var meanError: Float = 0
    var hasPair = false
    /// Mean absolute deviation of luma from its mean on the motion level, A and B averaged.
    public private(set) var contrast: Float = 0
    var layoutPixels = 0

    public init(settings: Settings = Settings()) {
        self.settings = settings
    }

    // MARK: estimation

    /// Estimates the motion between A and B in both directions. Luma sizes must match (any size >= 1x1).
    public func estimate(a: LumaSource, b: LumaSource) throws {
        guard a.width == b.width, a.height == b.height else {
            throw MotionError("frames differ in size: \(a.width)x\(a.height) and \(b.width)x\(b.height)")
        }
        guard a.width >= 1, a.height >= 1 else { throw MotionError("empty frame \(a.width)x\(a.height)") }
        layout(a.width, a.height)
        // The two directions in parallel (two barriers per pair: pyramids, then matching): on a shared
        // machine every barrier waits for a thread to be scheduled, so there are few of them.
        let parallel = settings.threads >= 2
        // Local functions, not closures in variables: their captures stay on the stack (no allocation).
        func build(_ d: Int) {
            let pyr = d == 0 ? self.pyrA : self.pyrB
            self.loadLuma(d == 0 ? a : b, into: pyr[0], threads: 1)
            for l in 1..<(self.coarsest + 1) { self.downsample(pyr[l - 1], into: pyr[l]) }
        }
        func match(_ d: Int) {
            let (p, q) = d == 0 ? (self.pyrA, self.pyrB) : (self.pyrB, self.pyrA)
            let fields = d == 0 ? self.fwd : self.bwd
            for l in stride(from: self.coarsest, through: self.motionLevel, by: -1) {
                matchLevel(a: p[l], b: q[l], grid: self.grid, field: fields[l], scratch: d == 0 ? self.scratch : self.scratchB,
                           parent: l == self.coarsest ? nil : fields[l + 1], tuning: self.tuning,
                           subpixel: l == self.motionLevel, threads: 1)
            }
        }
        if parallel {
            DispatchQueue.concurrentPerform(iterations: 2, execute: build)
            DispatchQueue.concurrentPerform(iterations: 2, execute: match)
        } else {
            build(0); build(1); match(0); match(1)
        }
        contrast = 0.5 * (meanDeviation(pyrA[motionLevel]) + meanDeviation(pyrB[motionLevel]))
        agreement(fwd[motionLevel], bwd[motionLevel], into: relF)
        agreement(bwd[motionLevel], fwd[motionLevel], into: relB)
        preparedTime = nil
        hasPair = true
    }

    /// Sizes the pyramid, the levels and the grids for a width x height luma.
    func layout(_ w: Int, _ h: Int) {
        if hasPair && w == width && h == height && layoutPixels == settings.maxMotionPixels { return }
        layoutPixels = settings.maxMotionPixels
        width = w
        height = h
        var sizes = [(w, h)]
        while let (lw, lh) = sizes.last, min(lw, lh) >= 32 { sizes.append(((lw + 1) / 2, (lh + 1) / 2)) }
        motionLevel = sizes.firstIndex { $0.0 * $0.1 <= settings.maxMotionPixels } ?? sizes.count - 1
        coarsest = sizes.count - 1
        let (mw, mh) = sizes[motionLevel]
        grid = min(mw, mh) >= 180 ? BlockGrid(step: 8, margin: 4) : BlockGrid(step: 4, margin: 2)
        while pyrA.count < sizes.count {
            pyrA.append(Image()); pyrB.append(Image())
            fwd.append(VectorField()); bwd.append(VectorField())
        }
        for (l, (lw, lh)) in sizes.enumerated() {
            pyrA[l].resize(lw, lh)
            pyrB[l].resize(lw, lh)
        }
    }

    func loadLuma(_ src: LumaSource, into img: Image, threads: Int) {
        let w = img.w
        forEachRow(img.h, threads) { y in
            let row = img.p + y * w
            switch src {
            case .plane(let p) where p.bytesPerSample == 1:
                let src = UnsafeRawPointer(p.base + y * p.rowStride), ps = p.pixelStride
                for x in 0..<w { row[x] = Float(src.load(fromByteOffset: x * ps, as: UInt8.self)) }
            case .plane(let p):
                for x in 0..<w { row[x] = p.value(x, y) }
            case .rgb(let r, let g, let b):
                for x in 0..<w { row[x] = 0.299 * r.value(x, y) + 0.587 * g.value(x, y) + 0.114 * b.value(x, y) }
            }
        }
    }

    /// rel[i] = 1 / (1 + d^2), d = |f(x) + g(x + f(x))|_1 in pixels: 1 where g undoes f.
    func agreement(_ f: VectorField, _ g: VectorField, into rel: FloatBuffer) {
        let nx = f.nx, ny = f.ny, step = Float(grid.step)
        rel.ensure(nx * ny)
        for by in 0..<ny {
            for bx in 0..<nx {
                let v = f.get(bx, by)
                let back = g.sample(Float(bx) + v.x / step, Float(by) + v.y / step)
                let d = l1(v + back)
                rel.p[by * nx + bx] = 1 / (1 + d * d)
            }
        }
    }

    func meanDeviation(_ img: Image) -> Float {
        let n = img.w * img.h
        var sum: Float = 0
        for i in 0..<n { sum += img.p[i] }
        let mean = sum / Float(n)
        var dev: Float = 0
        for i in 0..<n { dev += abs(img.p[i] - mean) }
        return dev / Float(n)
    }

    /// 2x2 box average; an odd last row/column averages with itself.
    func downsample(_ src: Image, into dst: Image) {
        for y in 0..<dst.h {
            let y0 = 2 * y, y1 = min(2 * y + 1, src.h - 1)
            for x in 0..<dst.w {
                let x0 = 2 * x, x1 = min(2 * x + 1, src.w - 1)
                dst.p[y * dst.w + x] = 0.25 * (src.at(x0, y0) + src.at(x1, y0) + src.at(x0, y1) + src.at(x1, y1))
            }
        }
    }

    // MARK: the field at time t

    /// Computes the in-between field, occlusion weights and confidence for time t in (0, 1) and the
    /// scene-cut decision. `render` calls it; calling it again with the same t does nothing.
    public func prepare(t: Float) {
        precondition(hasPair, "MotionInterpolator: estimate(a:b:) before prepare(t:)")
        if preparedTime == t { return }
        let a = pyrA[motionLevel], b = pyrB[motionLevel]
        let f = fwd[motionLevel], bk = bwd[motionLevel]
        let nx = f.nx, ny = f.ny, g = grid
        tField.resize(nx, ny)
        tPick.resize(nx, ny)
        weightA.ensure(nx * ny); conf.ensure(nx * ny); err.ensure(nx * ny)
        let pick = tPick, field = tField, e = err
        let threads = nx * ny >= 4000 ? settings.threads : 1
        let step = Float(g.step), half = Float(g.step) / 2 - 0.5

        /// The bilateral match cost of v and that cost with the length term and the zero bias.
        func costs(_ win: (Int, Int, Int, Int), _ v: SIMD2<Float>) -> (match: Float, total: Float) {
            let m = bilateralCost(a, b, win, v, t)
            return (m, m + tuning.lengthPenalty * 0.5 * (abs(v.x) + abs(v.y)) - (v == .zero ? tuning.zeroBias : 0))
        }
        // Pass 1: candidates from both directions -> pick (its total cost -> pick.cost, its match cost
        // -> field.cost until pass 2 writes field). A candidate equal to
        // one already costed for the block is skipped (only a strictly lower cost replaces the best).
        forEachRow(ny, threads) { by in
            for bx in 0..<nx {
                let win = g.window(bx, by, a.w, a.h)
                let cx = Float(bx) * step + half, cy = Float(by) * step + half
                let zero = costs(win, .zero)
                var best = SIMD2<Float>(0, 0), bestCost = zero.total, bestMatch = zero.match
                var tried = (best, best, best, best)
                var n = 0
                func consider(_ v: SIMD2<Float>) {
                    if v == tried.0 || (n > 0 && v == tried.1) || (n > 1 && v == tried.2) || (n > 2 && v == tried.3) { return }
                    switch n { case 0: tried.1 = v; case 1: tried.2 = v; case 2: tried.3 = v; default: break }
                    n += 1
                    let k = costs(win, v)
                    if k.total < bestCost { bestCost = k.total; best = v; bestMatch = k.match }
                }
                let vf = f.get(bx, by), vb = -bk.get(bx, by)
                // Vectors of blocks occluded in the other frame are guesses: not candidates.
                if relF.p[by * nx + bx] > tuning.reliable { consider(vf) }
                if relB.p[by * nx + bx] > tuning.reliable { consider(vb) }
                // Where the block's content was in A / will be in B, by the first guesses.
                consider(f.sample((cx - t * vf.x - half) / step, (cy - t * vf.y - half) / step))
                consider(-bk.sample((cx + (1 - t) * vb.x - half) / step, (cy + (1 - t) * vb.y - half) / step))
                pick.set(bx, by, best)
                pick.cost.p[by * nx + bx] = bestCost
                field.cost.p[by * nx + bx] = bestMatch
            }
        }
        // Pass 2: neighbours' picks (one equal to the own pick or to one already tried cannot win) ->
        // field (the bilateral cost of its vector -> field.cost), then the vector median.
        forEachRow(ny, threads) { by in
            for bx in 0..<nx {
                let win = g.window(bx, by, a.w, a.h)
                let own = pick.get(bx, by)
                var best = own, bestCost = pick.cost.p[by * nx + bx], bestMatch = field.cost.p[by * nx + bx]
                var tried = (own, own, own)
                for d in 0..<4 {
                    let qx = bx + (d == 0 ? -1 : d == 1 ? 1 : 0), qy = by + (d == 2 ? -1 : d == 3 ? 1 : 0)
                    guard qx >= 0 && qy >= 0 && qx < nx && qy < ny else { continue }
                    let v = pick.get(qx, qy)
                    if v == own || v == tried.0 || v == tried.1 || v == tried.2 { continue }
                    switch d { case 0: tried.0 = v; case 1: tried.1 = v; default: tried.2 = v }
                    let k = costs(win, v)
                    if k.total < bestCost { bestCost = k.total; best = v; bestMatch = k.match }
                }
                field.set(bx, by, best)
                field.cost.p[by * nx + bx] = bestMatch
            }
        }
        if tuning.median {
            vectorMedian(field, into: pick, threads: threads)
        } else {
            for i in 0..<(nx * ny) { pick.vx.p[i] = field.vx.p[i]; pick.vy.p[i] = field.vy.p[i] }
        }
        // Occlusion weights, confidence and the error of the final vectors.
        let wA = weightA, c = conf, rf = relF.p, rbk = relB.p
        forEachRow(ny, threads) { by in
            for bx in 0..<nx {
                let v = pick.get(bx, by)
                let win = g.window(bx, by, a.w, a.h)
                let i = by * nx + bx
                // The median usually keeps the block's own vector, whose match cost pass 2 kept.
                e.p[i] = v == field.get(bx, by) ? field.cost.p[i] : bilateralCost(a, b, win, v, t)
                field.set(bx, by, v)
                let cx = Float(bx) * step + half, cy = Float(by) * step + half
                // A sees the pixel unless A's vector where it comes from is reliable (points to where B's
                // vector points back) and disagrees with v; the same for B.
                let ua = (cx - t * v.x - half) / step, va = (cy - t * v.y - half) / step
                let ub = (cx + (1 - t) * v.x - half) / step, vb = (cy + (1 - t) * v.y - half) / step
                let fa = f.sample(ua, va), bb = bk.sample(ub, vb)
                let da = l1(fa - v), db = l1(bb + v)
                let ra = sampleScalar(rf, nx, ny, ua, va), rb = sampleScalar(rbk, nx, ny, ub, vb)
                let ca = 1 - ra * (1 - 1 / (1 + da * da)), cb = 1 - rb * (1 - 1 / (1 + db * db))
                let pa = (1 - t) * (ca + 0.05), pb = t * (cb + 0.05)
                wA.p[i] = pa / (pa + pb)
                c.p[i] = max(ca, cb) / (1 + e.p[i] / 8)
            }
        }
        var total: Float = 0
        for i in 0..<(nx * ny) { total += e.p[i] }
        meanError = total / Float(nx * ny)
        preparedTime = t
    }

    /// True when the pair is a scene cut (needs `prepare(t:)`, which `render` calls).
    /// (SceneCut: score > sceneCutRatio; the element's scene-threshold sets the ratio, 0 = never a cut.)
    public var isSceneCut: Bool { SceneCut.isCut(score: sceneScore, threshold: settings.sceneCutRatio) }

    // MARK: rendering

    /// Which originals a rendered frame takes its samples from.
    public enum Side: Sendable {
        /// Both, weighted per pixel by where each is visible (the interpolated frame).
        case both
        /// A alone, sampled along the same motion (A brought to time t: one side of the interpolation).
        case a
        /// B alone, sampled along the same motion.
        case b
    }

    /// Writes into every plane of `output` the frame at time t from the same planes of A and B (same
    /// geometry as `output`). Planes may have any subsampling, pixel stride and 8/16-bit samples.
    /// `side` .a or .b renders one original brought to time t along the same vectors (A's weight 1 or 0
    /// everywhere) instead of their weighted mix.
    public func render(t: Float, a: [MotionPlane], b: [MotionPlane], output: [MotionPlane], side: Side = .both) throws {
        guard a.count == output.count, b.count == output.count else {
            throw MotionError("render: \(a.count) / \(b.count) input planes for \(output.count) output planes")
        }
        for i in output.indices {
            let o = output[i]
            func check(_ p: MotionPlane) throws {
                guard p.width == o.width, p.height == o.height, p.bytesPerSample == o.bytesPerSample, p.bits == o.bits else {
                    throw MotionError("render: plane \(i) is \(p.width)x\(p.height)x\(p.bytesPerSample)B, output \(o.width)x\(o.height)x\(o.bytesPerSample)B")
                }
            }
            try check(a[i])
            try check(b[i])
            guard -((-width) >> o.xShift) == o.width, -((-height) >> o.yShift) == o.height else {
                throw MotionError("render: plane \(i) \(o.width)x\(o.height) does not match a \(width)x\(height) luma subsampled by \(o.xShift),\(o.yShift)")
            }
        }
        prepare(t: t)
        // One barrier: each thread renders its band of rows of every plane.
        let parts = max(1, min(settings.threads, height))
        var maxWidth = 0
        for o in output { maxWidth = max(maxWidth, o.width) }
        // Each thread owns one fixed slice of the scratch for every plane (the threads reach the planes
        // at different times, so slices must not depend on the plane's width).
        let slice = 3 * tField.nx + 3 * maxWidth
        rowScratch.ensure(parts * slice)
        func run(_ k: Int) {
            for i in output.indices {
                if output[i].bytesPerSample == 2 {
                    self.renderPlane(UInt16.self, t: t, a: a[i], b: b[i], out: output[i], part: k, parts: parts, slice: slice, side: side)
                } else {
                    self.renderPlane(UInt8.self, t: t, a: a[i], b: b[i], out: output[i], part: k, parts: parts, slice: slice, side: side)
                }
            }
        }
        if parts <= 1 { run(0) } else { DispatchQueue.concurrentPerform(iterations: parts, execute: run) }
    }

    /// Rows of band `part` of `parts` of one plane (scratch: `rowScratch`, sized by `render`).
    func renderPlane<T: FixedWidthInteger & UnsignedInteger>(_: T.Type, t: Float, a: MotionPlane, b: MotionPlane,
                                                              out: MotionPlane, part k: Int, parts: Int, slice: Int,
                                                              side: Side = .both) {
        let field = tField, wA = weightA, nx = tField.nx, ny = tField.ny
        let unit = Float(1 << motionLevel) * Float(grid.step)
        // Plane pixel -> block coordinate: u = (x + 0.5) * kx - 0.5; ME-level pixels -> plane pixels: sx.
        let kx = Float(1 << out.xShift) / unit, ky = Float(1 << out.yShift) / unit
        let sx = Float(1 << motionLevel) / Float(1 << out.xShift), sy = Float(1 << motionLevel) / Float(1 << out.yShift)
        let w = out.width, h = out.height
        let maxV = out.maxValue
        // Thread k's slice: the field's row (3 nx) and the per-pixel motion x, y and A's weight (3 w).
        let scratch = rowScratch.p
        let ps = a.pixelStride, bps = b.pixelStride, ops = out.pixelStride
        let cubic = tuning.cubic && w <= tuning.cubicMaxWidth
        let tb = 1 - t
        do {
            let rx = scratch + k * slice, ry = rx + nx, rw = ry + nx
            let ox = rw + nx, oy = ox + w, ow = oy + w
            for y in (h * k / parts)..<(h * (k + 1) / parts) {
                // The field's row at this y (vertical interpolation once per row).
                let v = min(max((Float(y) + 0.5) * ky - 0.5, 0), Float(ny - 1))
                let y0 = Int(v), y1 = min(y0 + 1, ny - 1), fy = v - Float(y0)
                for bx in 0..<nx {
                    let i0 = y0 * nx + bx, i1 = y1 * nx + bx
                    rx[bx] = field.vx.p[i0] + (field.vx.p[i1] - field.vx.p[i0]) * fy
                    ry[bx] = field.vy.p[i0] + (field.vy.p[i1] - field.vy.p[i0]) * fy
                    rw[bx] = wA.p[i0] + (wA.p[i1] - wA.p[i0]) * fy
                }
                // Per pixel: the motion (plane pixels) and A's weight, linear between block centres
                // (u = (x + 0.5) kx - 0.5 in block units), so walked segment by segment with increments.
                // firstX(c): the first pixel whose u >= c.
                func firstX(_ c: Int) -> Int { min(w, max(0, Int(((Float(c) + 0.5) / kx - 0.5).rounded(.up)))) }
                var x = 0
                let head = firstX(0)
                while x < head { ox[x] = rx[0] * sx; oy[x] = ry[0] * sy; ow[x] = rw[0]; x += 1 }
                for bx in 0..<(nx - 1) {
                    let end = firstX(bx + 1)
                    guard x < end else { continue }
                    let f0 = (Float(x) + 0.5) * kx - 0.5 - Float(bx)
                    let dx = (rx[bx + 1] - rx[bx]) * sx, dy = (ry[bx + 1] - ry[bx]) * sy, dw = rw[bx + 1] - rw[bx]
                    var vx = rx[bx] * sx + dx * f0, vy = ry[bx] * sy + dy * f0, vw = rw[bx] + dw * f0
                    let sxk = dx * kx, syk = dy * kx, swk = dw * kx
                    while x < end {
                        ox[x] = vx; oy[x] = vy; ow[x] = vw
                        vx += sxk; vy += syk; vw += swk
                        x += 1
                    }
                }
                while x < w { ox[x] = rx[nx - 1] * sx; oy[x] = ry[nx - 1] * sy; ow[x] = rw[nx - 1]; x += 1 }
                switch side {
                case .both: break
                case .a: for x in 0..<w { ow[x] = 1 }
                case .b: for x in 0..<w { ow[x] = 0 }
                }
                let orow = out.base + y * out.rowStride
                let fyy = Float(y)
                if cubic {
                    for x in 0..<w {
                        let fxx = Float(x), vx = ox[x], vy = oy[x]
                        let pa = sampleCubic(T.self, a, ps, fxx - t * vx, fyy - t * vy)
                        let pb = sampleCubic(T.self, b, bps, fxx + tb * vx, fyy + tb * vy)
                        let r = clamp(pb + (pa - pb) * ow[x] + 0.5, 0, maxV)
                        (orow + x * ops).storeBytes(of: T(truncatingIfNeeded: Int32(r)), as: T.self)
                    }
                } else if T.self == UInt8.self && maxV == 255 {
                    // 8-bit: fixed-point bilinear (1/256 weights), no int <-> float per sample.
                    let wMax = Float(a.width - 1), hMax = Float(a.height - 1)
                    let wLast = a.width - 1, hLast = a.height - 1
                    for x in 0..<w {
                        let fxx = Float(x), vx = ox[x], vy = oy[x]
                        let pa = bilinearFixed(a.base, a.rowStride, ps, wLast, hLast,
                                               clamp(fxx - t * vx, 0, wMax), clamp(fyy - t * vy, 0, hMax))
                        let pb = bilinearFixed(b.base, b.rowStride, bps, wLast, hLast,
                                               clamp(fxx + tb * vx, 0, wMax), clamp(fyy + tb * vy, 0, hMax))
                        let wa = Int(ow[x] * 256 + 0.5)
                        let r = (pb &* 256 &+ (pa &- pb) &* wa &+ (1 << 23)) >> 24
                        (orow + x * ops).storeBytes(of: UInt8(truncatingIfNeeded: r), as: UInt8.self)
                    }
                } else {
                    var x = 0
                    while x < w {
                        let fxx = Float(x), vx = ox[x], vy = oy[x]
                        let pa = sampleBilinear(T.self, a, ps, fxx - t * vx, fyy - t * vy)
                        let pb = sampleBilinear(T.self, b, bps, fxx + tb * vx, fyy + tb * vy)
                        let r = clamp(pb + (pa - pb) * ow[x] + 0.5, 0, maxV)
                        (orow + x * ops).storeBytes(of: T(truncatingIfNeeded: Int32(r)), as: T.self)
                        x += 1
                    }
                }
            }
        }
    }

    // MARK: inspection (tests, eval, training base)

    /// The forward (A -> B) motion at luma pixel (x, y), in full-resolution pixels.
    public func forwardMotion(x: Float, y: Float) -> SIMD2<Float> { sampleField(fwd[motionLevel], x, y) }
    /// The backward (B -> A) motion at luma pixel (x, y) of B, in full-resolution pixels.
    public func backwardMotion(x: Float, y: Float) -> SIMD2<Float> { sampleField(bwd[motionLevel], x, y) }
    /// The in-between motion (A -> B) at luma pixel (x, y) of the frame at `preparedTime`.
    public func motion(x: Float, y: Float) -> SIMD2<Float> { sampleField(tField, x, y) }

    /// Confidence in 0...1 at luma pixel (x, y) of the frame at `preparedTime` (1: both sides agree and
    /// match; near 0: occluded on both sides or no match).
    public func confidence(x: Float, y: Float) -> Float {
        let (u, v) = blockCoordinates(x, y)
        let bx = min(max(Int(u.rounded()), 0), tField.nx - 1), by = min(max(Int(v.rounded()), 0), tField.ny - 1)
        return conf.p[by * tField.nx + bx]
    }

    /// Weight of A at luma pixel (x, y) of the frame at `preparedTime` ((1 - t) where both sides see it).
    public func weightOfA(x: Float, y: Float) -> Float {
        let (u, v) = blockCoordinates(x, y)
        let bx = min(max(Int(u.rounded()), 0), tField.nx - 1), by = min(max(Int(v.rounded()), 0), tField.ny - 1)
        return weightA.p[by * tField.nx + bx]
    }

    func blockCoordinates(_ x: Float, _ y: Float) -> (Float, Float) {
        let unit = Float(1 << motionLevel) * Float(grid.step)
        return ((x + 0.5) / unit - 0.5, (y + 0.5) / unit - 0.5)
    }

    func sampleField(_ f: VectorField, _ x: Float, _ y: Float) -> SIMD2<Float> {
        let (u, v) = blockCoordinates(x, y)
        return f.sample(u, v) * Float(1 << motionLevel)
    }
}

/// Mean |A(p - t v) - B(p + (1 - t) v)| over the window, both sampled bilinearly (clamped at edges).
@inline(__always)
func bilateralCost(_ a: Image, _ b: Image, _ win: (Int, Int, Int, Int), _ v: SIMD2<Float>, _ t: Float) -> Float {
    let (x0, x1, y0, y1) = win
    let dax = -t * v.x, day = -t * v.y, dbx = (1 - t) * v.x, dby = (1 - t) * v.y
    let iax = Int(dax.rounded(.down)), iay = Int(day.rounded(.down))
    let ibx = Int(dbx.rounded(.down)), iby = Int(dby.rounded(.down))
    let fax = dax - Float(iax), fay = day - Float(iay), fbx = dbx - Float(ibx), fby = dby - Float(iby)
    var sum: Float = 0
    let inside = x0 + min(iax, ibx) >= 0 && x1 + max(iax, ibx) + 1 <= a.w
        && y0 + min(iay, iby) >= 0 && y1 + max(iay, iby) + 1 <= a.h
    if inside {
        let wa00 = (1 - fax) * (1 - fay), wa01 = fax * (1 - fay), wa10 = (1 - fax) * fay, wa11 = fax * fay
        let wb00 = (1 - fbx) * (1 - fby), wb01 = fbx * (1 - fby), wb10 = (1 - fbx) * fby, wb11 = fbx * fby
        let aw = a.w, bw = b.w, pa = a.p, pb = b.p
        let vecEnd = x0 + (x1 - x0) / 8 * 8
        var acc = SIMD8<Float>()
        for y in y0..<y1 {
            let ra = pa + (y + iay) * aw + iax, rb = pb + (y + iby) * bw + ibx
            let ra1 = ra + aw, rb1 = rb + bw
            var x = x0
            while x < vecEnd {
                @inline(__always) func ld(_ p: UnsafeMutablePointer<Float>, _ i: Int) -> SIMD8<Float> {
                    UnsafeRawPointer(p + i).loadUnaligned(as: SIMD8<Float>.self)
                }
                let va = wa00 * ld(ra, x) + wa01 * ld(ra, x + 1) + wa10 * ld(ra1, x) + wa11 * ld(ra1, x + 1)
                let vb = wb00 * ld(rb, x) + wb01 * ld(rb, x + 1) + wb10 * ld(rb1, x) + wb11 * ld(rb1, x + 1)
                let d = va - vb
                acc += d.replacing(with: -d, where: d .< 0)
                x += 8
            }
            while x < x1 {
                let pa = wa00 * ra[x] + wa01 * ra[x + 1] + wa10 * ra1[x] + wa11 * ra1[x + 1]
                let pb = wb00 * rb[x] + wb01 * rb[x + 1] + wb10 * rb1[x] + wb11 * rb1[x + 1]
                sum += abs(pa - pb)
                x += 1
            }
        }
        sum += acc.sum()
    } else {
        for y in y0..<y1 {
            for x in x0..<x1 {
                sum += abs(a.bilinear(Float(x) + dax, Float(y) + day) - b.bilinear(Float(x) + dbx, Float(y) + dby))
            }
        }
    }
    return sum / Float((x1 - x0) * (y1 - y0))
}

/// Bilinear sample (x 65536) of an 8-bit plane at (x, y) already clamped to 0...wLast, 0...hLast, with
/// 8-bit fractional weights.
@inline(__always)
func bilinearFixed(_ base: UnsafeMutableRawPointer, _ rowStride: Int, _ ps: Int, _ wLast: Int, _ hLast: Int,
                   _ x: Float, _ y: Float) -> Int {
    let xi = Int(x * 256), yi = Int(y * 256)
    let x0 = xi >> 8, y0 = yi >> 8, fx = xi & 255, fy = yi & 255
    let dx = x0 < wLast ? ps : 0, dy = y0 < hLast ? rowStride : 0
    let r0 = base + y0 * rowStride + x0 * ps, r1 = r0 + dy
    let a = Int(r0.load(as: UInt8.self)), b = Int(r0.load(fromByteOffset: dx, as: UInt8.self))
    let c = Int(r1.load(as: UInt8.self)), d = Int(r1.load(fromByteOffset: dx, as: UInt8.self))
    let top = a &* 256 &+ (b &- a) &* fx, bottom = c &* 256 &+ (d &- c) &* fx
    return top &* 256 &+ (bottom &- top) &* fy
}

/// lo...hi clamp written so that it compiles to minss/maxss (Swift's min/max order NaNs with branches).
@inline(__always) func clamp(_ x: Float, _ lo: Float, _ hi: Float) -> Float {
    let a = x > lo ? x : lo
    return a < hi ? a : hi
}

/// Bilinear sample of a plane at (x, y), coordinates clamped to the plane (edges replicated).
@inline(__always)
func sampleBilinear<T: FixedWidthInteger & UnsignedInteger>(_: T.Type, _ p: MotionPlane, _ ps: Int,
                                                            _ x: Float, _ y: Float) -> Float {
    let xc = clamp(x, 0, Float(p.width - 1)), yc = clamp(y, 0, Float(p.height - 1))
    let x0 = Int(xc), y0 = Int(yc)
    let fx = xc - Float(x0), fy = yc - Float(y0)
    let dx = x0 + 1 < p.width ? ps : 0, dy = y0 + 1 < p.height ? p.rowStride : 0
    let r0 = p.base + y0 * p.rowStride + x0 * ps, r1 = r0 + dy
    let a = Float(r0.loadUnaligned(as: T.self)), b = Float(r0.loadUnaligned(fromByteOffset: dx, as: T.self))
    let c = Float(r1.loadUnaligned(as: T.self)), d = Float(r1.loadUnaligned(fromByteOffset: dx, as: T.self))
    let top = a + (b - a) * fx, bottom = c + (d - c) * fx
    return top + (bottom - top) * fy
}

/// Catmull-Rom bicubic sample of a plane at (x, y), coordinates clamped (edges replicated).
@inline(__always)
func sampleCubic<T: FixedWidthInteger & UnsignedInteger>(_: T.Type, _ p: MotionPlane, _ ps: Int,
                                                         _ x: Float, _ y: Float) -> Float {
    let xc = clamp(x, 0, Float(p.width - 1)), yc = clamp(y, 0, Float(p.height - 1))
    let x1 = Int(xc), y1 = Int(yc)
    let fx = xc - Float(x1), fy = yc - Float(y1)
    if fx == 0 && fy == 0 { return Float((p.base + y1 * p.rowStride).loadUnaligned(fromByteOffset: x1 * ps, as: T.self)) }
    @inline(__always) func weights(_ f: Float) -> SIMD4<Float> {
        let f2 = f * f, f3 = f2 * f
        return SIMD4(-0.5 * f3 + f2 - 0.5 * f, 1.5 * f3 - 2.5 * f2 + 1, -1.5 * f3 + 2 * f2 + 0.5 * f, 0.5 * f3 - 0.5 * f2)
    }
    let wx = weights(fx), wy = weights(fy)
    if x1 >= 1 && x1 + 2 < p.width && y1 >= 1 && y1 + 2 < p.height {
        var row = p.base + (y1 - 1) * p.rowStride + (x1 - 1) * ps
        var sum: Float = 0
        for j in 0..<4 {
            let r = Float(row.loadUnaligned(as: T.self)) * wx[0]
                + Float(row.loadUnaligned(fromByteOffset: ps, as: T.self)) * wx[1]
                + Float(row.loadUnaligned(fromByteOffset: 2 * ps, as: T.self)) * wx[2]
                + Float(row.loadUnaligned(fromByteOffset: 3 * ps, as: T.self)) * wx[3]
            sum += r * wy[j]
            row += p.rowStride
        }
        return sum
    }
    let xs = SIMD4<Int>(max(x1 - 1, 0), x1, min(x1 + 1, p.width - 1), min(x1 + 2, p.width - 1)) &* ps
    var sum: Float = 0
    for j in 0..<4 {
        let row = p.base + min(max(y1 - 1 + j, 0), p.height - 1) * p.rowStride
        let r = Float(row.loadUnaligned(fromByteOffset: xs[0], as: T.self)) * wx[0]
            + Float(row.loadUnaligned(fromByteOffset: xs[1], as: T.self)) * wx[1]
            + Float(row.loadUnaligned(fromByteOffset: xs[2], as: T.self)) * wx[2]
            + Float(row.loadUnaligned(fromByteOffset: xs[3], as: T.self)) * wx[3]
        sum += r * wy[j]
    }
    return sum
}

/// Bilinear sample of a per-block scalar at block coordinates (u, v), clamped.
@inline(__always) func sampleScalar(_ p: UnsafeMutablePointer<Float>, _ nx: Int, _ ny: Int, _ u: Float, _ v: Float) -> Float {
    let uc = min(max(u, 0), Float(nx - 1)), vc = min(max(v, 0), Float(ny - 1))
    let x0 = Int(uc), y0 = Int(vc)
    let fx = uc - Float(x0), fy = vc - Float(y0)
    let x1 = min(x0 + 1, nx - 1), y1 = min(y0 + 1, ny - 1)
    let top = p[y0 * nx + x0] + (p[y0 * nx + x1] - p[y0 * nx + x0]) * fx
    let bottom = p[y1 * nx + x0] + (p[y1 * nx + x1] - p[y1 * nx + x0]) * fx
    return top + (bottom - top) * fy
}

