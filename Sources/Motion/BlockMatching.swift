// Hierarchical block matching between two Float luma images (one pyramid level): integer SAD search,
// candidate propagation from the coarser level and from neighbours, a vector median, and sub-pixel
// refinement by parabola fits. Blocks are `step` pixels apart; each block's cost window reaches
// `margin` pixels beyond it on every side (overlapping windows give smoother fields).
// Every block is computed from the previous pass's arrays only (Jacobi style), so the result is the same
// for any thread count.
import Dispatch

struct BlockGrid {
    var step: Int
    var margin: Int
    /// Blocks covering w x h: ceil(w / step) x ceil(h / step).
    static func count(_ n: Int, _ step: Int) -> Int { (n + step - 1) / step }

    /// The cost window of block (bx, by) clipped to a w x h image: x0..<x1, y0..<y1.
    @inline(__always) func window(_ bx: Int, _ by: Int, _ w: Int, _ h: Int) -> (Int, Int, Int, Int) {
        (max(0, bx * step - margin), min(w, bx * step + step + margin),
         max(0, by * step - margin), min(h, by * step + step + margin))
    }
}

/// Mean absolute difference between `a` over the window and `b` displaced by the integer (dx, dy);
/// b's coordinates are clamped to its edges.
@inline(__always)
func sadInteger(_ a: Image, _ b: Image, _ win: (Int, Int, Int, Int), _ dx: Int, _ dy: Int) -> Float {
    let (x0, x1, y0, y1) = win
    let n = (x1 - x0) * (y1 - y0)
    let aw = a.w, bw = b.w, bh = b.h, pa = a.p, pb = b.p
    var sum: Float = 0
    if x0 + dx >= 0 && x1 + dx <= bw && y0 + dy >= 0 && y1 + dy <= bh {
        var acc = SIMD8<Float>()
        let vecEnd = x0 + (x1 - x0) / 8 * 8
        for y in y0..<y1 {
            let ra = UnsafeRawPointer(pa + y * aw), rb = UnsafeRawPointer(pb + (y + dy) * bw + dx)
            var x = x0
            while x < vecEnd {
                let va = ra.loadUnaligned(fromByteOffset: x * 4, as: SIMD8<Float>.self)
                let vb = rb.loadUnaligned(fromByteOffset: x * 4, as: SIMD8<Float>.self)
                let d = va - vb
                acc += d.replacing(with: -d, where: d .< 0)
                x += 8
            }
            while x < x1 { sum += abs(ra.load(fromByteOffset: x * 4, as: Float.self) - rb.load(fromByteOffset: x * 4, as: Float.self)); x += 1 }
        }
        sum += acc.sum()
    } else {
        for y in y0..<y1 {
            let ra = pa + y * aw, rb = pb + min(max(y + dy, 0), bh - 1) * bw
            for x in x0..<x1 { sum += abs(ra[x] - rb[min(max(x + dx, 0), bw - 1)]) }
        }
    }
    return sum / Float(n)
}

/// Tuning of the search (costs are mean absolute differences on the 0...255 scale).
struct MatchTuning {
    /// Full-search radius at the coarsest level.
    var coarseRadius = 4
    /// Cost added per pixel of vector length (L1): prefers small motion where matching is ambiguous.
    var lengthPenalty: Float = 0.03
    /// Cost added per pixel of distance (L1) from the predicted (propagated) vector.
    var smoothPenalty: Float = 0.15
    /// Integer refinement steps (4-neighbour descent) after candidate selection.
    var refineSteps = 3
    /// Lucas-Kanade steps for the sub-pixel part (motion level only).
    var subpixelSteps = 3
    /// Cost bonus of the zero vector in the in-between field (static regions stay sharp).
    var zeroBias: Float = 2
    /// Bicubic (Catmull-Rom) instead of bilinear sampling when rendering.
    var cubic = true
    /// Planes wider than this are sampled bilinearly (speed; the blur matters less at high resolution).
    var cubicMaxWidth = 256
    /// A vector median over the in-between field's picks.
    var median = true
    /// Forward-backward agreement below which a block's vector is not a candidate of the in-between field.
    var reliable: Float = 0.3
}

/// Estimates the motion from `a` to `b` on one level: block (bx, by) of `a` is found at +v in `b`.
/// `parent`: the field of the next coarser level (vectors in its pixels), nil at the coarsest level.
/// `scratch`: a field of the same grid used for the neighbour pass. `subpixel`: parabola refinement.
func matchLevel(a: Image, b: Image, grid: BlockGrid, field: VectorField, scratch: VectorField,
                parent: VectorField?, tuning: MatchTuning, subpixel: Bool, threads: Int) {
    let nx = BlockGrid.count(a.w, grid.step), ny = BlockGrid.count(a.h, grid.step)
    field.resize(nx, ny)
    scratch.resize(nx, ny)
    let out = scratch

    func cost(_ win: (Int, Int, Int, Int), _ v: SIMD2<Int32>, _ pred: SIMD2<Float>) -> Float {
        let vf = SIMD2<Float>(Float(v.x), Float(v.y))
        return sadInteger(a, b, win, Int(v.x), Int(v.y))
            + tuning.lengthPenalty * l1(vf) + tuning.smoothPenalty * l1(vf - pred)
    }

    // Pass 1: candidates from the coarser level (or a full search), then integer descent -> scratch
    // (and each block's SAD at its pick -> scratch.cost). A vector already costed for this block is not
    // costed again (same cost, and only a strictly lower one replaces the best): neighbours in smooth
    // regions share vectors, and each descent step revisits the previous centre.
    let sads = out.cost
    forEachRow(ny, threads) { by in
      withUnsafeTemporaryAllocation(of: SIMD2<Int32>.self, capacity: 32) { tried in
        for bx in 0..<nx {
            let win = grid.window(bx, by, a.w, a.h)
            var best = SIMD2<Int32>(0, 0)
            var pred = SIMD2<Float>(0, 0)
            var bestCost = Float.infinity, bestSAD: Float = 0
            var n = 0
            func consider(_ v: SIMD2<Int32>) {
                for i in 0..<n where tried[i] == v { return }
                if n < 32 { tried[n] = v; n += 1 }
                let vf = SIMD2<Float>(Float(v.x), Float(v.y))
                let s = sadInteger(a, b, win, Int(v.x), Int(v.y))
                let k = s + tuning.lengthPenalty * l1(vf) + tuning.smoothPenalty * l1(vf - pred)
                if k < bestCost { bestCost = k; best = v; bestSAD = s }
            }
            if let parent {
                let px = min(bx / 2, parent.nx - 1), py = min(by / 2, parent.ny - 1)
                pred = parent.get(px, py) * 2
                func rounded(_ c: SIMD2<Float>) -> SIMD2<Int32> { SIMD2<Int32>(Int32(c.x.rounded()), Int32(c.y.rounded())) }
                consider(rounded(pred))
                for qy in max(py - 1, 0)...min(py + 1, parent.ny - 1) {
                    for qx in max(px - 1, 0)...min(px + 1, parent.nx - 1) where qx != px || qy != py {
                        consider(rounded(parent.get(qx, qy) * 2))
                    }
                }
                consider(.zero)
            } else {
                let r = Int32(tuning.coarseRadius)
                for dy in -r...r {
                    for dx in -r...r {
                        let v = SIMD2(dx, dy)
                        let vf = SIMD2<Float>(Float(dx), Float(dy))
                        let s = sadInteger(a, b, win, Int(dx), Int(dy))
                        let k = s + tuning.lengthPenalty * l1(vf) + tuning.smoothPenalty * l1(vf - pred)
                        if k < bestCost { bestCost = k; best = v; bestSAD = s }
                    }
                }
            }
            for _ in 0..<tuning.refineSteps {
                let centre = best
                for d in 0..<4 {
                    let v = centre &+ SIMD2<Int32>(d == 0 ? 1 : d == 1 ? -1 : 0, d == 2 ? 1 : d == 3 ? -1 : 0)
                    // The full search costed every vector within the radius.
                    if parent == nil && abs(v.x) <= Int32(tuning.coarseRadius) && abs(v.y) <= Int32(tuning.coarseRadius) { continue }
                    consider(v)
                }
                if best == centre { break }
            }
            out.set(bx, by, SIMD2(Float(best.x), Float(best.y)))
            sads.p[by * nx + bx] = bestSAD
        }
      }
    }
    // Pass 2: each block tries its neighbours' vectors (scratch -> field), then a vector median (field ->
    // scratch -> field). The own vector's cost is pass 1's SAD plus its length term (the smoothness term
    // is 0 against itself); a neighbour with the own vector, or one already tried, cannot win.
    let f = field
    forEachRow(ny, threads) { by in
        for bx in 0..<nx {
            let win = grid.window(bx, by, a.w, a.h)
            let own = out.get(bx, by)
            var best = own
            var bestCost = sads.p[by * nx + bx] + tuning.lengthPenalty * l1(own) + tuning.smoothPenalty * l1(own - own)
            var tried = (own, own, own, own)
            for d in 0..<4 {
                let qx = bx + (d == 0 ? -1 : d == 1 ? 1 : 0), qy = by + (d == 2 ? -1 : d == 3 ? 1 : 0)
                guard qx >= 0 && qy >= 0 && qx < nx && qy < ny else { continue }
                let c = out.get(qx, qy)
                if c == tried.0 || c == tried.1 || c == tried.2 || c == tried.3 { continue }
                switch d { case 0: tried.1 = c; case 1: tried.2 = c; default: tried.3 = c }
                let k = cost(win, SIMD2(Int32(c.x), Int32(c.y)), own)
                if k < bestCost { bestCost = k; best = c }
            }
            f.set(bx, by, best)
        }
    }
    guard subpixel else { return }
    vectorMedian(f, into: out, threads: threads)
    // Sub-pixel: Lucas-Kanade steps on the block window (inverse compositional: A's gradients).
    forEachRow(ny, threads) { by in
        for bx in 0..<nx {
            let win = grid.window(bx, by, a.w, a.h)
            f.set(bx, by, refineSubpixel(a, b, win, out.get(bx, by), iterations: tuning.subpixelSteps))
        }
    }
}

/// Lucas-Kanade refinement of v (a -> b) over the window: `iterations` Gauss-Newton steps with A's
/// gradients, each step limited to 1 px, the total to 1.5 px from the start (a flat window stays put).
/// Rows are processed 8 samples at a time (SIMD8 partial sums), the rest of a row one by one.
func refineSubpixel(_ a: Image, _ b: Image, _ win: (Int, Int, Int, Int), _ v0: SIMD2<Float>, iterations: Int) -> SIMD2<Float> {
    let (x0, x1, y0, y1) = win
    let ww = x1 - x0, n = ww * (y1 - y0)
    let aw = a.w, ah = a.h, pa = a.p
    let vecEnd = x0 + ww / 8 * 8
    typealias V = SIMD8<Float>
    @inline(__always) func ld(_ p: UnsafeMutablePointer<Float>) -> V { UnsafeRawPointer(p).loadUnaligned(as: V.self) }
    @inline(__always) func st(_ v: V, _ p: UnsafeMutablePointer<Float>) { UnsafeMutableRawPointer(p).storeBytes(of: v, as: V.self) }
    return withUnsafeTemporaryAllocation(of: Float.self, capacity: 3 * n) { buf -> SIMD2<Float> in
        let gxs = buf.baseAddress!, gys = gxs + n, avs = gys + n
        var hxx: Float = 0, hxy: Float = 0, hyy: Float = 0
        var vxx = V(), vxy = V(), vyy = V()
        // Vector loads need x - 1 and x + 8 inside the row.
        let vecStart = x0 >= 1 && vecEnd + 1 <= aw ? vecEnd : x0
        for y in y0..<y1 {
            let row = pa + y * aw, up = pa + max(y - 1, 0) * aw, down = pa + min(y + 1, ah - 1) * aw
            let base = (y - y0) * ww - x0
            var x = x0
            while x < vecStart {
                let gx = 0.5 * (ld(row + x + 1) - ld(row + x - 1)), gy = 0.5 * (ld(down + x) - ld(up + x))
                st(gx, gxs + base + x); st(gy, gys + base + x); st(ld(row + x), avs + base + x)
                vxx += gx * gx; vxy += gx * gy; vyy += gy * gy
                x += 8
            }
            while x < x1 {
                let gx = 0.5 * (row[min(x + 1, aw - 1)] - row[max(x - 1, 0)])
                let gy = 0.5 * (down[x] - up[x])
                gxs[base + x] = gx; gys[base + x] = gy; avs[base + x] = row[x]
                hxx += gx * gx; hxy += gx * gy; hyy += gy * gy
                x += 1
            }
        }
        hxx += vxx.sum(); hxy += vxy.sum(); hyy += vyy.sum()
        let reg = Float(n) * 0.5  // a gradient of ~0.7 level/px is noise
        hxx += reg; hyy += reg
        let det = hxx * hyy - hxy * hxy
        guard det > 0 else { return v0 }
        var v = v0
        let bw = b.w, bh = b.h, pb = b.p
        for _ in 0..<iterations {
            var ex: Float = 0, ey: Float = 0
            let ix = Int(v.x.rounded(.down)), iy = Int(v.y.rounded(.down))
            let fx = v.x - Float(ix), fy = v.y - Float(iy)
            if x0 + ix >= 0 && x1 + ix + 1 <= bw && y0 + iy >= 0 && y1 + iy + 1 <= bh {
                let w00 = (1 - fx) * (1 - fy), w01 = fx * (1 - fy), w10 = (1 - fx) * fy, w11 = fx * fy
                var vex = V(), vey = V()
                for y in y0..<y1 {
                    let r0 = pb + (y + iy) * bw + ix, r1 = r0 + bw
                    let base = (y - y0) * ww - x0
                    var x = x0
                    while x < vecEnd {
                        let e = w00 * ld(r0 + x) + w01 * ld(r0 + x + 1) + w10 * ld(r1 + x) + w11 * ld(r1 + x + 1) - ld(avs + base + x)
                        vex += ld(gxs + base + x) * e; vey += ld(gys + base + x) * e
                        x += 8
                    }
                    while x < x1 {
                        let e = w00 * r0[x] + w01 * r0[x + 1] + w10 * r1[x] + w11 * r1[x + 1] - avs[base + x]
                        ex += gxs[base + x] * e; ey += gys[base + x] * e
                        x += 1
                    }
                }
                ex += vex.sum(); ey += vey.sum()
            } else {
                for y in y0..<y1 {
                    let base = (y - y0) * ww - x0
                    for x in x0..<x1 {
                        let e = b.bilinear(Float(x) + v.x, Float(y) + v.y) - avs[base + x]
                        ex += gxs[base + x] * e; ey += gys[base + x] * e
                    }
                }
            }
            var d = SIMD2<Float>((hyy * ex - hxy * ey) / det, (hxx * ey - hxy * ex) / det)
            d = SIMD2(min(max(d.x, -1), 1), min(max(d.y, -1), 1))
            v -= d
            v = SIMD2(min(max(v.x, v0.x - 1.5), v0.x + 1.5), min(max(v.y, v0.y - 1.5), v0.y + 1.5))
            if abs(d.x) + abs(d.y) < 0.01 { break }
        }
        return v
    }
}

/// The minimum of the parabola through (-1, l), (0, c), (1, r), within +-0.5; 0 if c is not a minimum.
@inline(__always) func parabolaOffset(_ l: Float, _ c: Float, _ r: Float) -> Float {
    let den = l - 2 * c + r
    guard den > 1e-6, c <= l, c <= r else { return 0 }
    return min(max(0.5 * (l - r) / den, -0.5), 0.5)
}

/// out = for each block, the vector of its 3x3 neighbourhood with the least L1 distance sum to the others.
func vectorMedian(_ f: VectorField, into out: VectorField, threads: Int) {
    let nx = f.nx, ny = f.ny
    forEachRow(ny, threads) { by in
      withUnsafeTemporaryAllocation(of: SIMD2<Float>.self, capacity: 9) { cand in
        for bx in 0..<nx {
            var n = 0
            for qy in max(0, by - 1)...min(ny - 1, by + 1) {
                for qx in max(0, bx - 1)...min(nx - 1, bx + 1) { cand[n] = f.get(qx, qy); n += 1 }
            }
            var best = f.get(bx, by), bestSum = Float.infinity
            // All equal (smooth regions): that vector, as the search below would give.
            var same = true
            for i in 1..<n where cand[i] != cand[0] { same = false; break }
            if same { out.set(bx, by, cand[0]); continue }
            for i in 0..<n {
                var s: Float = 0
                for j in 0..<n { s += l1(cand[i] - cand[j]) }
                if s < bestSum { bestSum = s; best = cand[i] }
            }
            out.set(bx, by, best)
        }
      }
    }
}

@inline(__always) func l1(_ v: SIMD2<Float>) -> Float { abs(v.x) + abs(v.y) }

/// Runs body(row) for rows 0..<n, split into `threads` contiguous bands.
func forEachRow(_ n: Int, _ threads: Int, _ body: (Int) -> Void) {
    let parts = min(max(threads, 1), n)
    if parts <= 1 {
        for r in 0..<n { body(r) }
        return
    }
    DispatchQueue.concurrentPerform(iterations: parts) { k in
        for r in (n * k / parts)..<(n * (k + 1) / parts) { body(r) }
    }
}
