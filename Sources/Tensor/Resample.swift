// Resampling as the reference uses it: the StyleGAN2 FIR [1, 3, 3, 1] 2x up/down (upfirdn2d with the
// padding of up_or_down_sampling.upsample_2d / downsample_2d), the plain 2x nearest up / 2x2 mean down
// of its non-FIR path, and nearest resizing (F.interpolate) of SPADE's conditioning maps.

/// Separable taps of [1, 3, 3, 1]: 2D weights are products k[i] * k[j] / 64 (down) or / 16 (up).
private let firTaps: [Float] = [1, 3, 3, 1]

/// x: (N, C, H, W) -> y: (N, C, H/2, W/2); y[i, j] = sum_{a,b<4} k[a] k[b] / 64 * x[2i+a-1, 2j+b-1] (zero outside).
public func firDownsample2x(_ x: Tensor, into y: Tensor) {
    precondition(y.n == x.n && y.c == x.c && y.h == x.h / 2 && y.w == x.w / 2, "firDownsample2x: shapes")
    let h = x.h, w = x.w, oh = y.h, ow = y.w
    Parallel.shared.split(x.n * x.c) { planes in
        for pl in planes {
            let src = x.data + pl * h * w, dst = y.data + pl * oh * ow
            for oy in 0..<oh {
                for ox in 0..<ow {
                    var acc: Float = 0
                    for a in 0..<4 {
                        let iy = 2 * oy + a - 1
                        if iy < 0 || iy >= h { continue }
                        let row = src + iy * w
                        for b in 0..<4 {
                            let ix = 2 * ox + b - 1
                            if ix < 0 || ix >= w { continue }
                            acc += (firTaps[a] * firTaps[b] / 64) * row[ix]
                        }
                    }
                    dst[oy * ow + ox] = acc
                }
            }
        }
    }
}

/// x: (N, C, H, W) -> y: (N, C, 2H, 2W). Per axis y[2m] = (x[m-1] + 3 x[m]) / 4, y[2m+1] = (3 x[m] + x[m+1]) / 4.
public func firUpsample2x(_ x: Tensor, into y: Tensor) {
    precondition(y.n == x.n && y.c == x.c && y.h == x.h * 2 && y.w == x.w * 2, "firUpsample2x: shapes")
    let h = x.h, w = x.w, ow = y.w
    // Output parity p -> (source offset, tap) pairs: even uses (m-1, 1), (m, 3); odd (m, 3), (m+1, 1).
    let pairs: [[(Int, Float)]] = [[(-1, 1), (0, 3)], [(0, 3), (1, 1)]]
    Parallel.shared.split(x.n * x.c) { planes in
        for pl in planes {
            let src = x.data + pl * h * w, dst = y.data + pl * 4 * h * w
            for oy in 0..<(2 * h) {
                let py = pairs[oy & 1], my = oy >> 1
                for ox in 0..<ow {
                    let px = pairs[ox & 1], mx = ox >> 1
                    var acc: Float = 0
                    for (dy, ty) in py {
                        let iy = my + dy
                        if iy < 0 || iy >= h { continue }
                        for (dx, tx) in px {
                            let ix = mx + dx
                            if ix < 0 || ix >= w { continue }
                            acc += (ty * tx / 16) * src[iy * w + ix]
                        }
                    }
                    dst[oy * ow + ox] = acc
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
