// Resampling as the reference uses it: the StyleGAN2 FIR [1, 3, 3, 1] 2x up/down (upfirdn2d with the
// padding of up_or_down_sampling.upsample_2d / downsample_2d), the plain 2x nearest up / 2x2 mean down
// of its non-FIR path, and nearest resizing (F.interpolate) of SPADE's conditioning maps.

// Both FIR ops run separably: a vertical pass over whole rows (vectorisable) into a row buffer on the
// stack, then the horizontal taps. The naive twin (Naive.upfirdn2d) applies the 2D kernel directly.

/// x: (N, C, H, W) -> y: (N, C, H/2, W/2); y[i, j] = sum_{a,b<4} k[a] k[b] / 64 * x[2i+a-1, 2j+b-1] (zero outside),
/// k = [1, 3, 3, 1].
public func firDownsample2x(_ x: Tensor, into y: Tensor) {
    precondition(y.n == x.n && y.c == x.c && y.h == x.h / 2 && y.w == x.w / 2, "firDownsample2x: shapes")
    let h = x.h, w = x.w, oh = y.h, ow = y.w
    let taps: [Float] = [1, 3, 3, 1]
    Parallel.shared.split(x.n * x.c) { planes in
        withUnsafeTemporaryAllocation(of: Float.self, capacity: w + 2) { buf in
            let v = buf.baseAddress! + 1          // v[-1] and v[w] are the zero padding
            v[-1] = 0; v[w] = 0
            for pl in planes {
                let src = x.data + pl * h * w, dst = y.data + pl * oh * ow
                for oy in 0..<oh {
                    v.update(repeating: 0, count: w)
                    for a in 0..<4 {
                        let iy = 2 * oy + a - 1
                        guard iy >= 0 && iy < h else { continue }
                        let row = src + iy * w, t = taps[a] / 8
                        for j in 0..<w { v[j] += t * row[j] }
                    }
                    let out = dst + oy * ow
                    for ox in 0..<ow {
                        let c = v + 2 * ox
                        out[ox] = (c[-1] + 3 * c[0] + 3 * c[1] + c[2]) / 8
                    }
                }
            }
        }
    }
}

/// x: (N, C, H, W) -> y: (N, C, 2H, 2W). Per axis y[2m] = (x[m-1] + 3 x[m]) / 4, y[2m+1] = (3 x[m] + x[m+1]) / 4
/// (upfirdn2d with the [1, 3, 3, 1] kernel, gain 4, zero outside).
public func firUpsample2x(_ x: Tensor, into y: Tensor) {
    precondition(y.n == x.n && y.c == x.c && y.h == x.h * 2 && y.w == x.w * 2, "firUpsample2x: shapes")
    let h = x.h, w = x.w, ow = y.w
    Parallel.shared.split(x.n * x.c) { planes in
        withUnsafeTemporaryAllocation(of: Float.self, capacity: w + 2) { buf in
            let v = buf.baseAddress! + 1
            v[-1] = 0; v[w] = 0
            for pl in planes {
                let src = x.data + pl * h * w, dst = y.data + pl * 4 * h * w
                for oy in 0..<(2 * h) {
                    // Even rows mix (m-1, m) with (1, 3); odd rows (m, m+1) with (3, 1).
                    let m = oy >> 1
                    let (r0, t0, r1, t1): (Int, Float, Int, Float) = oy & 1 == 0 ? (m - 1, 1, m, 3) : (m, 3, m + 1, 1)
                    v.update(repeating: 0, count: w)
                    if r0 >= 0 && r0 < h { let row = src + r0 * w, t = t0 / 4; for j in 0..<w { v[j] += t * row[j] } }
                    if r1 >= 0 && r1 < h { let row = src + r1 * w, t = t1 / 4; for j in 0..<w { v[j] += t * row[j] } }
                    let out = dst + oy * ow
                    for n in 0..<w {
                        out[2 * n] = (v[n - 1] + 3 * v[n]) / 4
                        out[2 * n + 1] = (3 * v[n] + v[n + 1]) / 4
                    }
                }
            }
        }
    }
}

/// x: (N, C, H, W) -> y: (N, C, 2H, 2W), nearest (naive_upsample_2d).
public func nearestUpsample2x(_ x: Tensor, into y: Tensor) {
    precondition(y.h == 2 * x.h && y.w == 2 * x.w && y.n * y.c == x.n * x.c, "nearestUpsample2x: shapes")
    let h = x.h, w = x.w
    Parallel.shared.split(x.n * x.c) { planes in
        for pl in planes {
            let src = x.data + pl * h * w, dst = y.data + pl * 4 * h * w
            for oy in 0..<(2 * h) { for ox in 0..<(2 * w) { dst[oy * 2 * w + ox] = src[(oy >> 1) * w + (ox >> 1)] } }
        }
    }
}

/// x: (N, C, H, W) -> y: (N, C, H/2, W/2), mean of each 2x2 block (naive_downsample_2d).
public func meanDownsample2x(_ x: Tensor, into y: Tensor) {
    precondition(y.h == x.h / 2 && y.w == x.w / 2 && y.n * y.c == x.n * x.c, "meanDownsample2x: shapes")
    let w = x.w, oh = y.h, ow = y.w
    Parallel.shared.split(x.n * x.c) { planes in
        for pl in planes {
            let src = x.data + pl * x.h * w, dst = y.data + pl * oh * ow
            for oy in 0..<oh {
                for ox in 0..<ow {
                    let s = src + 2 * oy * w + 2 * ox
                    dst[oy * ow + ox] = (s[0] + s[1] + s[w] + s[w + 1]) / 4
                }
            }
        }
    }
}

/// x: (N, C, H, W) -> y: (N, C, H', W'), F.interpolate(mode="nearest"): src = floor(dst * in / out).
public func nearestResize(_ x: Tensor, into y: Tensor) {
    precondition(y.n == x.n && y.c == x.c, "nearestResize: shapes")
    let sy = Float(x.h) / Float(y.h), sx = Float(x.w) / Float(y.w)
    for pl in 0..<(x.n * x.c) {
        let src = x.data + pl * x.plane, dst = y.data + pl * y.plane
        for oy in 0..<y.h {
            let iy = min(Int(Float(oy) * sy), x.h - 1)
            for ox in 0..<y.w { dst[oy * y.w + ox] = src[iy * x.w + min(Int(Float(ox) * sx), x.w - 1)] }
        }
    }
}
