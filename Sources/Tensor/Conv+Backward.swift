// Backward passes of Conv.swift's ops: conv2d (im2col + two sgemm per band of output rows, then
// col2im) and linear. Gradients of weights and biases accumulate (+=) so that a training step can sum
// over layers that share nothing and over the batch; input gradients overwrite or accumulate on request.
// Uses the `sgemm` wrapper of Conv.swift (which alone imports COpenBLAS). Checked in GradientTests.

/// x: (N, C, H, W), w: (O, C, k, k), dy: (N, O, OH, OW) ->
///   dx: (N, C, H, W) (overwritten, or += when `accumulate`), dWeight: (O, C, k, k) +=, dBias: (O) +=.
/// Any of dx / dBias may be nil when not needed (e.g. the first conv's input).
public func conv2dBackward(_ x: Tensor, weight: UnsafePointer<Float>, shape s: ConvShape, dy: Tensor,
                           dx: Tensor?, accumulate: Bool = false, dWeight: UnsafeMutablePointer<Float>,
                           dBias: UnsafeMutablePointer<Float>?, arena: Arena) {
    precondition(x.c == s.inChannels && dy.c == s.outChannels && x.n == dy.n, "conv2dBackward: channels/batch")
    let (oh, ow) = s.outSize(x.h, x.w)
    precondition(dy.h == oh && dy.w == ow, "conv2dBackward: dy \(dy.shape) for input \(x.shape)")
    if let dx { precondition(dx.count == x.count, "conv2dBackward: dx shape") }
    let o = s.outChannels, kk = s.reduction, L = oh * ow
    let direct = s.kernel == 1 && s.stride == 1 && s.pad == 0
    let rowsPerBand = direct ? oh : max(1, min(oh, bandBudget / max(1, kk * ow)))
    let mark = arena.mark()
    let cols = direct ? nil : arena.floats(kk * rowsPerBand * ow)
    let dcols = (direct || dx == nil) ? nil : arena.floats(kk * rowsPerBand * ow)

    if let dx, !accumulate { dx.fill(0) }
    for img in 0..<x.n {
        let xi = x.data + img * x.imageCount
        let dyi = dy.data + img * o * L
        if let dBias {
            for oc in 0..<o {
                let row = dyi + oc * L
                var sum: Float = 0
                for j in 0..<L { sum += row[j] }
                dBias[oc] += sum
            }
        }
        if direct {
            // dW (O x C) += dy (O x L) . x^T (L x C); dx (C x L) += W^T (C x O) . dy (O x L).
            sgemm(transB: true, m: o, n: kk, k: L, a: dyi, lda: L, b: xi, ldb: L, beta: 1, c: dWeight, ldc: kk)
            if let dx {
                sgemm(transA: true, m: kk, n: L, k: o, a: weight, lda: kk, b: dyi, ldb: L, beta: 1,
                      c: dx.data + img * dx.imageCount, ldc: L)
            }
            continue
        }
        var oy0 = 0
        while oy0 < oh {
            let oy1 = min(oh, oy0 + rowsPerBand), n = (oy1 - oy0) * ow
            im2col(xi, c: x.c, h: x.h, w: x.w, shape: s, ow: ow, rows: oy0..<oy1, into: cols!)
            // dW (O x K) += dy_band (O x n) . cols^T (n x K)
            sgemm(transB: true, m: o, n: kk, k: n, a: dyi + oy0 * ow, lda: L, b: cols!, ldb: n, beta: 1,
                  c: dWeight, ldc: kk)
            if let dx, let dcols {
                // dcols (K x n) = W^T (K x O) . dy_band (O x n), scattered back onto the image.
                sgemm(transA: true, m: kk, n: n, k: o, a: weight, lda: kk, b: dyi + oy0 * ow, ldb: L,
                      c: dcols, ldc: n)
                col2im(dcols, c: x.c, h: x.h, w: x.w, shape: s, ow: ow, rows: oy0..<oy1,
                       into: dx.data + img * dx.imageCount)
            }
            oy0 = oy1
        }
    }
    arena.release(to: mark)
}

/// The adjoint of `im2col`: buf (C*k*k, rows*OW) is added onto x (one image): (C, H, W).
func col2im(_ buf: UnsafePointer<Float>, c: Int, h: Int, w: Int, shape s: ConvShape, ow: Int, rows: Range<Int>,
            into x: UnsafeMutablePointer<Float>) {
    let k = s.kernel, cols = rows.count * ow
    for ci in 0..<c {
        let plane = x + ci * h * w
        for ky in 0..<k {
            for kx in 0..<k {
                var src = buf + ((ci * k + ky) * k + kx) * cols
                for oy in rows {
                    let iy = oy * s.stride - s.pad + ky
                    if iy >= 0 && iy < h {
                        let dst = plane + iy * w
                        if s.stride == 1 {
                            // ix = ox - pad + kx: one contiguous run clipped to [0, w).
                            let shift = kx - s.pad
                            let lo = max(0, -shift), hi = min(ow, w - shift)
                            if lo < hi { for ox in lo..<hi { dst[ox + shift] += src[ox] } }
                        } else {
                            for ox in 0..<ow {
                                let ix = ox * s.stride - s.pad + kx
                                if ix >= 0 && ix < w { dst[ix] += src[ox] }
                            }
                        }
                    }
                    src += ow
                }
            }
        }
    }
}

/// x: (N, I), w: (O, I), dy: (N, O) -> dx: (N, I) (overwritten or +=), dWeight: (O, I) +=, dBias: (O) +=.
public func linearBackward(_ x: UnsafePointer<Float>, n: Int, inFeatures: Int, weight: UnsafePointer<Float>,
                           outFeatures: Int, dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>?,
                           accumulate: Bool = false, dWeight: UnsafeMutablePointer<Float>,
                           dBias: UnsafeMutablePointer<Float>?) {
    // dW (O x I) += dy^T (O x N) . x (N x I)
    sgemm(transA: true, m: outFeatures, n: inFeatures, k: n, a: dy, lda: outFeatures, b: x, ldb: inFeatures,
          beta: 1, c: dWeight, ldc: inFeatures)
    if let dBias { for i in 0..<n { for o in 0..<outFeatures { dBias[o] += dy[i * outFeatures + o] } } }
    if let dx {
        // dx (N x I) = dy (N x O) . W (O x I)
        sgemm(m: n, n: inFeatures, k: outFeatures, a: dy, lda: outFeatures, b: weight, ldb: inFeatures,
              beta: accumulate ? 1 : 0, c: dx, ldc: inFeatures)
    }
}
