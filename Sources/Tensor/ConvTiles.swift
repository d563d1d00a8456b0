// The convolutions that run on AVX512Kernels' channel-major AVX-512 tiles (see `Engine.kernels`):
// 3x3 stride 1 pad 1 over a zero-padded copy of each band's rows, and 1x1 (conv and NIN) read in place.
// Without AVX-512, Conv.swift's OpenBLAS paths run instead.
import AVX512Kernels

/// Padded rows per band: input rows + halo, row stride W + 2, plus 16 zeros per channel that the last
/// tile may read. 3x3: x (N, C, H, W), wt packed (9C, packedConv3x3Stride(O)) -> y (N, O, H, W),
/// y = (conv + b + residual) * scale.
func conv3x3Tiles(_ x: Tensor, packed wt: UnsafePointer<Float>, bias: UnsafePointer<Float>?, into y: Tensor,
                  residual: Tensor?, scale: Float, arena: Arena) {
    let pool = Parallel.shared, parts = pool.threads
    let c = x.c, h = x.h, w = x.w, o = y.c, L = h * w, pw = w + 2, ld = packedConv3x3Stride(o)
    let o8 = (o + 7) & ~7   // whole tiles of 8 outputs; the packed padding columns are zero
    // A small single image gives each thread half the outputs over all rows rather than half the rows
    // (too few positions per band otherwise); both build the same slab.
    let splitOutputs = parts > 1 && x.n == 1 && h * w <= 256 && o8 >= 16
    let maxRows = max(1, min(h, bandBudget / max(1, pw * (c + o8))))
    let rowsPerBand = splitOutputs ? h
        : stride(from: maxRows, to: 0, by: -1).first { h % $0 == 0 && (x.n * (h / $0)) % parts == 0 } ?? maxRows
    let bands = (h + rowsPerBand - 1) / rowsPerBand, items = x.n * bands
    let cs = (rowsPerBand + 2) * pw + 16
    let ldt = (rowsPerBand * pw + 15) & ~15
    let perThread = c * cs + o8 * ldt
    let scratch = arena.floats(perThread * parts)

    func runBand(_ item: Int, outputs: Range<Int>, _ buf: UnsafeMutablePointer<Float>) {
        let img = item / bands, band = item % bands
        let oy0 = band * rowsPerBand, rows = min(h, oy0 + rowsPerBand) - oy0
        let slab = buf, t = buf + c * cs
        let xi = x.data + img * c * L
        // 1. Slab: per channel rows oy0-1 ... oy0+rows with a zero column each side, then zeros.
        fillSlab(xi, channels: c, h: h, w: w, rows: oy0..<(oy0 + rows), into: slab, channelStride: cs)
        // 2. T[oc, p] for positions p = r * (W + 2) + ox (the two padding columns are computed and dropped).
        let positions = (rows * pw - 2 + 15) & ~15
        withUnsafeTemporaryAllocation(of: Int.self, capacity: 9) { sh in   // on the stack: no allocation
            for tap in 0..<9 { sh[tap] = (tap / 3) * pw + tap % 3 }
            channelMajorProduct(x: slab, channelStride: cs, channels: c, shifts: UnsafeBufferPointer(sh), positions: positions,
                                weights: wt, strides: WeightStrides(tap: c * ld, channel: ld, output: 1),
                                outputs: outputs.clamped(to: 0..<o8), into: t, ldo: ldt)
        }
        // 3. y[oc, oy0 + r, ox] = (T[oc, r * (W + 2) + ox] + b[oc] + residual) * scale.
        for oc in outputs where oc < o {
            let bv = bias?[oc] ?? 0
            for r in 0..<rows {
                let src = t + oc * ldt + r * pw, row = y.data + (img * o + oc) * L + (oy0 + r) * w
                if let residual {
                    let rr = residual.data + (img * o + oc) * L + (oy0 + r) * w
                    for ox in 0..<w { row[ox] = (src[ox] + bv + rr[ox]) * scale }
                } else {
                    for ox in 0..<w { row[ox] = (src[ox] + bv) * scale }
                }
            }
        }
    }

    if splitOutputs {
        let half = ((o8 / 8 + 1) / 2) * 8
        pool.run(parts: 2) { part in
            runBand(0, outputs: part == 0 ? 0..<half : half..<o8, scratch + part * perThread)
        }
    } else {
        pool.run(parts: min(parts, items)) { part in
            let per = (items + parts - 1) / parts
            let lo = part * per, hi = min(items, lo + per)
            for item in lo..<max(lo, hi) { runBand(item, outputs: 0..<o8, scratch + part * perThread) }
        }
    }
}

/// Per channel of one image x (C, H, W): input rows rows.lowerBound-1 ... rows.upperBound (zero outside
/// the image), each with a zero column on either side (row stride W + 2), then zeros up to `cs` floats.
func fillSlab(_ x: UnsafePointer<Float>, channels c: Int, h: Int, w: Int, rows: Range<Int>,
              into slab: UnsafeMutablePointer<Float>, channelStride cs: Int) {
    let pw = w + 2, filled = (rows.count + 2) * pw, L = h * w
    for ci in 0..<c {
        let plane = slab + ci * cs, src = x + ci * L
        for sr in 0..<(rows.count + 2) {
            let iy = rows.lowerBound - 1 + sr, dst = plane + sr * pw
            guard iy >= 0 && iy < h else { dst.update(repeating: 0, count: pw); continue }
            dst[0] = 0
            (dst + 1).update(from: src + iy * w, count: w)
            dst[w + 1] = 0
        }
        (plane + filled).update(repeating: 0, count: cs - filled)
    }
}

/// Geometry of `conv3x3WeightGradientTiles`' bands and the scratch floats it needs.
struct WeightGradientBands {
    let rowsPerBand: Int, channelStride: Int, spreadStride: Int, scratch: Int
    init(c: Int, o: Int, h: Int, w: Int) {
        let pw = w + 2
        rowsPerBand = max(1, min(h, bandBudget / max(1, pw * (c + o))))
        channelStride = (rowsPerBand + 2) * pw + 16
        spreadStride = (rowsPerBand * pw + 15) & ~15
        scratch = c * channelStride + o * spreadStride + o * 9 * c
    }
}

/// dWeight (O, C, 3, 3) += the weight gradient of a 3x3 stride-1 pad-1 convolution over `images`,
/// x (N, C, H, W), dy (N, O, H, W): per band of rows, x's slab (as the forward builds it) and dy spread to
/// the same row stride W + 2 (zeros in the padding columns) go through the gradient tiles into a
/// (O, 9C) sum in the packed column order, added into dWeight at the end. One thread, a fixed order;
/// `scratch` holds `WeightGradientBands.scratch` floats.
func conv3x3WeightGradientTiles(_ x: Tensor, dy: Tensor, images: Range<Int>, into dWeight: UnsafeMutablePointer<Float>,
                                scratch: UnsafeMutablePointer<Float>) {
    let c = x.c, h = x.h, w = x.w, o = dy.c, L = h * w, pw = w + 2
    let bands = WeightGradientBands(c: c, o: o, h: h, w: w)
    let cs = bands.channelStride, ldy = bands.spreadStride
    let slab = scratch, spread = slab + c * cs, sums = spread + o * ldy
    sums.update(repeating: 0, count: o * 9 * c)
    withUnsafeTemporaryAllocation(of: Int.self, capacity: 9) { sh in   // on the stack: no allocation
        for tap in 0..<9 { sh[tap] = (tap / 3) * pw + tap % 3 }
        for img in images {
            var oy0 = 0
            while oy0 < h {
                let rows = min(bands.rowsPerBand, h - oy0)
                fillSlab(x.data + img * c * L, channels: c, h: h, w: w, rows: oy0..<(oy0 + rows), into: slab, channelStride: cs)
                for oc in 0..<o {
                    let dst = spread + oc * ldy, src = dy.data + (img * o + oc) * L + oy0 * w
                    for r in 0..<rows {
                        (dst + r * pw).update(from: src + r * w, count: w)
                        dst[r * pw + w] = 0; dst[r * pw + w + 1] = 0
                    }
                    (dst + rows * pw).update(repeating: 0, count: ldy - rows * pw)
                }
                // Positions past rows * pw - 2 are the last row's padding columns: dy is zero there.
                channelMajorWeightGradient(dy: spread, ldy: ldy, outputs: o, x: slab, channelStride: cs, channels: c,
                                           shifts: UnsafeBufferPointer(sh), positions: (rows * pw - 2 + 15) & ~15,
                                           into: sums, ldg: 9 * c)
                oy0 += rows
            }
        }
    }
    for oc in 0..<o { for tap in 0..<9 { for ci in 0..<c { dWeight[(oc * c + ci) * 9 + tap] += sums[oc * 9 * c + tap * c + ci] } } }
}

/// 1x1 convolution or NIN read in place: y[oc, p] = (sum_ci w(ci, oc) x[ci, p] + b[oc] + residual) * scale,
/// or, when `accumulate` (no bias, residual or scale then), y += the sum. x (N, C, H, W) -> y (N, O, H, W);
/// `strides` locate w(ci, oc) ((O, C) conv weights or (C, O) NIN ones). Each image's positions are split
/// in two halves (multiples of 16) between the threads.
func pointwiseTiles(_ x: Tensor, weight: UnsafePointer<Float>, strides: WeightStrides, bias: UnsafePointer<Float>?,
                    outChannels o: Int, into y: Tensor, residual: Tensor? = nil, scale: Float = 1, accumulate: Bool = false) {
    precondition(!accumulate || (bias == nil && residual == nil && scale == 1), "pointwiseTiles: accumulate alone")
    let L = x.plane, c = x.c
    let half = min(L, ((L + 1) / 2 + 15) & ~15)
    Parallel.shared.split(x.n * 2) { items in
        for item in items {
            let img = item / 2, p0 = item % 2 == 0 ? 0 : half, p1 = item % 2 == 0 ? half : L
            guard p1 > p0 else { continue }
            let yi = y.data + img * o * L + p0
            withUnsafeTemporaryAllocation(of: Int.self, capacity: 1) { sh in   // on the stack: no allocation
                sh[0] = 0
                channelMajorProduct(x: x.data + img * c * L + p0, channelStride: L, channels: c, shifts: UnsafeBufferPointer(sh),
                                    positions: p1 - p0, weights: weight, strides: strides, outputs: 0..<o,
                                    into: yi, ldo: L, accumulate: accumulate)
            }
            for oc in 0..<o {
                let row = yi + oc * L, bv = bias?[oc] ?? 0
                if let residual {
                    let r = residual.data + img * o * L + p0 + oc * L
                    for j in 0..<(p1 - p0) { row[j] = (row[j] + bv + r[j]) * scale }
                } else if scale != 1 || bv != 0 {
                    for j in 0..<(p1 - p0) { row[j] = (row[j] + bv) * scale }
                }
            }
        }
    }
}
