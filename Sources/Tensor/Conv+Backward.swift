// Backward passes of Conv.swift's ops: conv2d (im2col + two sgemm per band of output rows, then
// col2im) and linear. Gradients of weights and biases accumulate (+=) so that a training step can sum
// over layers that share nothing and over the batch; input gradients overwrite or accumulate on request.
// Uses the `sgemm` wrapper of Conv.swift (which alone imports COpenBLAS) and, for input gradients on
// AVX-512, the forward tiles of ConvTiles.swift. Checked in GradientTests.
import ConvKernels

/// x: (N, C, H, W), w: (O, C, k, k), dy: (N, O, OH, OW) ->
///   dx: (N, C, H, W) (overwritten, or += when `accumulate`), dWeight: (O, C, k, k) +=, dBias: (O) +=.
/// Any of dx / dBias may be nil when not needed (e.g. the first conv's input).
/// The batch is cut into two fixed halves of images (`backwardHalves`), whatever the thread count: half 0
/// adds its weight gradient into dWeight, half 1 into a zeroed partial that is added at the end, so the
/// result is the same bits with any thread count (the halves run in parallel when a worker is free).
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
    let halves = backwardHalves(x.n)
    let mark = arena.mark()
    // The input gradient of a 3x3 stride-1 or 1x1 convolution is itself such a convolution of dy (with
    // the weights transposed, and flipped for 3x3): on the tiles it runs there, whole batch at
    // once, and the halves below only accumulate the weight gradient.
    var dx = dx
    let path = Engine.path
    if let target = dx, path.tiles && (s.usesPackedWeights || direct) {
        if direct {
            pointwiseTiles(path, dy, weight: weight, strides: WeightStrides(tap: 0, channel: kk, output: 1), bias: nil,
                           outChannels: x.c, into: target, accumulate: accumulate)
        } else {
            let ld = packedConv3x3Stride(x.c), flipped = arena.floats(9 * o * ld)
            for row in 0..<(9 * o) {
                let tap = row / o, oc = row % o, dst = flipped + row * ld
                for ci in 0..<x.c { dst[ci] = weight[(oc * x.c + ci) * 9 + 8 - tap] }
                (dst + x.c).update(repeating: 0, count: ld - x.c)
            }
            // dx += conv when accumulating: the epilogue reads each residual value before writing it.
            conv3x3Tiles(path, dy, packed: flipped, bias: nil, into: target, residual: accumulate ? target : nil, scale: 1,
                         arena: arena)
        }
        dx = nil
    }
    let bandFloats = direct ? 0 : kk * rowsPerBand * ow
    let scratch = direct ? nil : arena.floats(2 * bandFloats * halves.count)
    let partial = halves.count > 1 ? arena.floats(o * kk) : nil
    partial?.update(repeating: 0, count: o * kk)

    if let dx, !accumulate { dx.fill(0) }
    if let dBias { accumulateBiasGradient(dy, into: dBias) }

    func runHalf(_ part: Int) {
        let dW = part == 0 ? dWeight : partial!
        let cols = scratch.map { $0 + part * 2 * bandFloats }, dcols = cols.map { $0 + bandFloats }
        for img in halves[part] {
            let xi = x.data + img * x.imageCount
            let dyi = dy.data + img * o * L
            if direct {
                // dW (O x C) += dy (O x L) . x^T (L x C); dx (C x L) += W^T (C x O) . dy (O x L).
                sgemm(transB: true, m: o, n: kk, k: L, a: dyi, lda: L, b: xi, ldb: L, beta: 1, c: dW, ldc: kk)
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
                      c: dW, ldc: kk)
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
    }
    runHalves(halves.count, runHalf)
    if let partial {
        Parallel.shared.split(o * kk) { r in for i in r { dWeight[i] += partial[i] } }
    }
    arena.release(to: mark)
}

/// The fixed split of a batch of n images used by the backward passes: [0, ceil(n/2)) and the rest
/// (one range when n == 1). It depends on n only, never on the thread count.
func backwardHalves(_ n: Int) -> [Range<Int>] {
    n < 2 ? [0..<n] : [0..<((n + 1) / 2), ((n + 1) / 2)..<n]
}

/// body(0) ... body(parts - 1) for parts <= 2: in parallel with 2 or more threads, one after the other with 1.
func runHalves(_ parts: Int, _ body: (Int) -> Void) {
    if parts > 1 && Parallel.shared.threads > 1 { Parallel.shared.run(parts: parts, body) }
    else { for part in 0..<parts { body(part) } }
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

/// dy: (N, O, H, W) -> dBias: (O) += the sum of dy over images and positions. Split by channel, images
/// in order within a channel: the same sums whatever the thread count.
func accumulateBiasGradient(_ dy: Tensor, into dBias: UnsafeMutablePointer<Float>) {
    let o = dy.c, L = dy.plane
    Parallel.shared.split(o) { channels in
        for oc in channels {
            for img in 0..<dy.n {
                let row = dy.data + img * o * L + oc * L
                var sum: Float = 0
                for j in 0..<L { sum += row[j] }
                dBias[oc] += sum
            }
        }
    }
}
