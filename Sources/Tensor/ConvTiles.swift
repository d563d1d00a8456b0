// The convolutions that run on ConvKernels' channel-major tiles (the path of `Engine.kernels`: built for
// AVX-512, AVX2 + FMA or the portable baseline): 3x3 stride 1 pad 1 over a zero-padded copy of each
// band's rows, and 1x1 (conv and NIN) read in place. On the openblas path Conv.swift's sgemm paths run.
import AVX2Kernels
import Foundation
import AVX512Kernels
import ConvKernels

/// ConvKernels.channelMajorProduct on the given path's instantiation.
@inline(__always)
func tileProduct(_ path: Engine.KernelSet, x: UnsafePointer<Float>, channelStride cs: Int, channels c: Int,
                 shifts: UnsafeBufferPointer<Int>, positions: Int, weights w: UnsafePointer<Float>,
                 strides s: WeightStrides, outputs: Range<Int>, into out: UnsafeMutablePointer<Float>, ldo: Int,
                 accumulate: Bool = false) {
    switch path {
    case .avx512:
        AVX512.channelMajorProduct(x: x, channelStride: cs, channels: c, shifts: shifts, positions: positions,
                                   weights: w, strides: s, outputs: outputs, into: out, ldo: ldo, accumulate: accumulate)
    case .avx2:
        AVX2.channelMajorProduct(x: x, channelStride: cs, channels: c, shifts: shifts, positions: positions,
                                 weights: w, strides: s, outputs: outputs, into: out, ldo: ldo, accumulate: accumulate)
    case .portable, .openblas:
        portableChannelMajorProduct(x: x, channelStride: cs, channels: c, shifts: shifts, positions: positions,
                                    weights: w, strides: s, outputs: outputs, into: out, ldo: ldo, accumulate: accumulate)
    }
}

/// Runs as Winograd F(2x2, 3x3) (ConvWinograd.swift) where `Engine.usesWinograd` says so; otherwise
/// padded rows per band: input rows + halo, row stride W + 2, plus 16 zeros per channel that the last
/// tile may read. 3x3: x (N, C, H, W), wt packed (9C, packedConv3x3Stride(O)) -> y (N, O, H, W),
/// y = (conv + b + residual) * scale.
func conv3x3Tiles(_ path: Engine.KernelSet, _ x: Tensor, packed wt: UnsafePointer<Float>, winograd: UnsafePointer<Float>? = nil,
                  bias: UnsafePointer<Float>?, into y: Tensor, residual: Tensor?, scale: Float, arena: Arena) {
    if Engine.usesWinograd(path, c: x.c, o: y.c, h: x.h, w: x.w) {
        conv3x3Winograd(path, x, packed: wt, winograd: winograd, bias: bias, into: y, residual: residual, scale: scale,
                        arena: arena)
        return
    }
    let pool = Parallel.shared, parts = pool.threads
    let c = x.c, h = x.h, w = x.w, o = y.c, L = h * w, pw = w + 2, ld = packedConv3x3Stride(o)
    let o8 = (o + 7) & ~7   // whole tiles of 8 outputs; the packed padding columns are zero
    // A small single image gives each thread a share of the outputs (whole tiles of 8) over all rows
    // rather than a share of the rows (too few positions per band otherwise); all build the same slab.
    let splitOutputs = parts > 1 && x.n == 1 && h * w <= 256 && o8 >= 16
    let maxRows = max(1, min(h, bandBudget / max(1, pw * (c + o8))))
    let rowsPerBand = splitOutputs ? h
        : stride(from: maxRows, to: 0, by: -1).first { h % $0 == 0 && (x.n * (h / $0)) % parts == 0 } ?? maxRows
    let bands = (h + rowsPerBand - 1) / rowsPerBand, items = x.n * bands
    let cs = (rowsPerBand + 2) * pw + 16
    let ldt = (rowsPerBand * pw + 15) & ~15
    let perThread = c * cs + o8 * ldt
    let scratch = arena.floats(perThread * parts)
    // The 4-row tiles (avx2, portable) read their weights from blocks of 4 output columns, one block
    // contiguous per tile ((tap, ci, 4) floats): in the packed rows (stride `ld`, 16 or more floats)
    // each broadcast would touch its own cache line and use 4 of its 16 floats. The AVX-512 8-row
    // tiles read the packed rows as they are. Copying is 1/(2 H W) of the convolution's work.
    let blocked = path != .avx512, blockRows = 4, blockFloats = 9 * c * blockRows
    let wb: UnsafePointer<Float> = blocked ? {
        let p = arena.floats(o8 / blockRows * blockFloats)
        for b in 0..<(o8 / blockRows) {
            for row in 0..<(9 * c) {
                (p + b * blockFloats + row * blockRows).update(from: wt + row * ld + b * blockRows, count: blockRows)
            }
        }
        return UnsafePointer(p)
    }() : wt

    func runBand(_ item: Int, outputs: Range<Int>, _ buf: UnsafeMutablePointer<Float>) {
        let img = item / bands, band = item % bands
        let oy0 = band * rowsPerBand, rows = min(h, oy0 + rowsPerBand) - oy0
        let slab = buf, t = buf + c * cs
        let xi = x.data + img * c * L
        // 1. Slab: per channel rows oy0-1 ... oy0+rows with a zero column each side, then 16 zeros.
        let filled = (rows + 2) * pw
        for ci in 0..<c {
            let plane = slab + ci * cs, src = xi + ci * L
            for sr in 0..<(rows + 2) {
                let iy = oy0 - 1 + sr, dst = plane + sr * pw
                guard iy >= 0 && iy < h else { dst.update(repeating: 0, count: pw); continue }
                dst[0] = 0
                (dst + 1).update(from: src + iy * w, count: w)
                dst[w + 1] = 0
            }
            (plane + filled).update(repeating: 0, count: cs - filled)
        }
        // 2. T[oc, p] for positions p = r * (W + 2) + ox (the two padding columns are computed and dropped).
        let positions = (rows * pw - 2 + 15) & ~15
        withUnsafeTemporaryAllocation(of: Int.self, capacity: 9) { sh in   // on the stack: no allocation
            for tap in 0..<9 { sh[tap] = (tap / 3) * pw + tap % 3 }
            let shifts = UnsafeBufferPointer(sh), active = outputs.clamped(to: 0..<o8)
            if blocked {
                for b in stride(from: active.lowerBound, to: active.upperBound, by: blockRows) {
                    tileProduct(path, x: slab, channelStride: cs, channels: c, shifts: shifts, positions: positions,
                                weights: wb + b / blockRows * blockFloats,
                                strides: WeightStrides(tap: c * blockRows, channel: blockRows, output: 1),
                                outputs: 0..<blockRows, into: t + b * ldt, ldo: ldt)
                }
            } else {
                tileProduct(path, x: slab, channelStride: cs, channels: c, shifts: shifts, positions: positions,
                            weights: wt, strides: WeightStrides(tap: c * ld, channel: ld, output: 1),
                            outputs: active, into: t, ldo: ldt)
            }
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
        let tiles = o8 / 8, used = min(parts, tiles)
        pool.run(parts: used) { part in
            let r = Parallel.range(part, of: used, tiles)
            runBand(0, outputs: (r.lowerBound * 8)..<(r.upperBound * 8), scratch + part * perThread)
        }
    } else {
        pool.run(parts: min(parts, items)) { part in
            let per = (items + parts - 1) / parts
            let lo = part * per, hi = min(items, lo + per)
            for item in lo..<max(lo, hi) { runBand(item, outputs: 0..<o8, scratch + part * perThread) }
        }
    }
}

/// 1x1 convolution or NIN read in place: y[oc, p] = (sum_ci w(ci, oc) x[ci, p] + b[oc] + residual) * scale,
/// or, when `accumulate` (no bias, residual or scale then), y += the sum. x (N, C, H, W) -> y (N, O, H, W);
/// `strides` locate w(ci, oc) ((O, C) conv weights or (C, O) NIN ones). Each image's positions are split
/// in one run per thread (multiples of 16).
func pointwiseTiles(_ path: Engine.KernelSet, _ x: Tensor, weight: UnsafePointer<Float>, strides: WeightStrides, bias: UnsafePointer<Float>?,
                    outChannels o: Int, into y: Tensor, residual: Tensor? = nil, scale: Float = 1, accumulate: Bool = false) {
    precondition(!accumulate || (bias == nil && residual == nil && scale == 1), "pointwiseTiles: accumulate alone")
    let L = x.plane, c = x.c
    let runs = Parallel.shared.threads, run = ((L + runs - 1) / runs + 15) & ~15
    let block = pointwiseBlock(c)
    Parallel.shared.split(x.n * runs) { items in
        let packed = UnsafeMutablePointer<Float>.allocate(capacity: c * block)   // one per part and call
        defer { packed.deallocate() }
        for item in items {
            let img = item / runs, p0 = min(L, item % runs * run), p1 = min(L, p0 + run)
            guard p1 > p0 else { continue }
            // Blocks of positions whose C input values stay in L1 while every output tile reads them,
            // copied side by side first: in place, channel rows H * W floats apart (often a multiple of
            // 4 KB) would all fall in the same few L1 sets.
            var b0 = p0
            while b0 < p1 {
                let b1 = min(p1, b0 + block), yi = y.data + img * o * L + b0, xi = x.data + img * c * L + b0
                for ci in 0..<c { (packed + ci * block).update(from: xi + ci * L, count: b1 - b0) }
                withUnsafeTemporaryAllocation(of: Int.self, capacity: 1) { sh in   // on the stack: no allocation
                    sh[0] = 0
                    tileProduct(path, x: packed, channelStride: block, channels: c,
                                shifts: UnsafeBufferPointer(sh), positions: b1 - b0, weights: weight, strides: strides,
                                outputs: 0..<o, into: yi, ldo: L, accumulate: accumulate)
                }
                for oc in 0..<o {
                    let row = yi + oc * L, bv = bias?[oc] ?? 0
                    if let residual {
                        let r = residual.data + img * o * L + b0 + oc * L
                        for j in 0..<(b1 - b0) { row[j] = (row[j] + bv + r[j]) * scale }
                    } else if scale != 1 || bv != 0 {
                        for j in 0..<(b1 - b0) { row[j] = (row[j] + bv) * scale }
                    }
                }
                b0 = b1
            }
        }
    }
}

/// Positions per block of `pointwiseTiles` for c input channels: a multiple of 48 (whole tiles of
/// every path) with c x block floats within ~24 KB (L1), at least 48; MCVD_PW_BLOCK overrides the budget.
func pointwiseBlock(_ c: Int) -> Int { max(48, pointwiseBudget / max(1, c) / 48 * 48) }
let pointwiseBudget = ProcessInfo.processInfo.environment["MCVD_PW_BLOCK"].flatMap { Int($0) } ?? 6144
