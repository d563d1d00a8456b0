// Matrix products and convolutions: the only file that talks to OpenBLAS (cblas_sgemm).
// conv2d runs 3x3 stride-1 and 1x1 convolutions on the channel-major tiles (ConvTiles.swift) unless the
// path (`Engine.kernels`) is openblas; otherwise im2col of a band of output rows into arena scratch + one sgemm per band; bands are shared
// between the threads of `Parallel`, each calling a single-threaded sgemm. Naive twins: Naive.swift.
import COpenBLAS
import ConvKernels
import Foundation

/// BLAS runs single-threaded inside our own split (see `Engine.setThreads`).
public func setBLASThreads(_ n: Int) { openblas_set_num_threads(Int32(n)) }

public var blasCoreName: String { String(cString: openblas_get_corename()) }

// OpenBLAS's DYNAMIC_ARCH entry points (exported by libopenblas, not declared in cblas.h).
@_silgen_name("gotoblas_dynamic_init") private func gotoblasDynamicInit()
@_silgen_name("gotoblas_dynamic_quit") private func gotoblasDynamicQuit()

/// Re-selects OpenBLAS's kernel set by name (OPENBLAS_CORETYPE, e.g. "SkylakeX"), as its loader does
/// at startup: OpenBLAS 0.3.21 does not know Zen 5 and falls back to the AVX2 "Haswell" kernels on
/// CPUs that have AVX-512. Call before any other thread uses BLAS. Returns the core name in use.
@discardableResult
public func selectBLASCore(_ name: String) -> String {
    guard blasCoreName.lowercased() != name.lowercased() else { return blasCoreName }
    setenv("OPENBLAS_CORETYPE", name, 1)
    gotoblasDynamicQuit()
    gotoblasDynamicInit()
    return blasCoreName
}

/// Row-major C (m x n) = alpha * op(A) * op(B) + beta * C.
@inline(__always)
public func sgemm(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
                  alpha: Float = 1, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                  beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
}

/// x: (N, I), w: (O, I), b: (O) -> y: (N, O). Small (time-embedding path): one thread.
public func linear(_ x: UnsafePointer<Float>, n: Int, inFeatures: Int, weight: UnsafePointer<Float>,
                   bias: UnsafePointer<Float>?, outFeatures: Int, into y: UnsafeMutablePointer<Float>) {
    _ = Parallel.shared   // BLAS single-threaded from here on (see Parallel.init)
    for i in 0..<n {
        let row = y + i * outFeatures
        if let bias { row.update(from: bias, count: outFeatures) } else { row.update(repeating: 0, count: outFeatures) }
    }
    sgemm(transB: true, m: n, n: outFeatures, k: inFeatures, a: x, lda: inFeatures, b: weight, ldb: inFeatures,
          beta: 1, c: y, ldc: outFeatures)
}

/// Geometry of one 2D convolution with a square kernel.
public struct ConvShape: Sendable, Equatable {
    public var inChannels: Int, outChannels: Int, kernel: Int, stride: Int, pad: Int
    public init(inChannels: Int, outChannels: Int, kernel: Int, stride: Int = 1, pad: Int? = nil) {
        self.inChannels = inChannels; self.outChannels = outChannels; self.kernel = kernel
        self.stride = stride; self.pad = pad ?? kernel / 2
    }
    public func outSize(_ h: Int, _ w: Int) -> (Int, Int) {
        ((h + 2 * pad - kernel) / stride + 1, (w + 2 * pad - kernel) / stride + 1)
    }
    public var reduction: Int { inChannels * kernel * kernel }
    /// Whether conv2d takes the packed-weight (NHWC slab) path for this shape; otherwise it runs im2col
    /// on the raw (O, C, k, k) weight and ignores `packedWeight`. Few input channels (SPADE's
    /// conditioning frames) make OpenBLAS's nine K = C products too thin, not the tiles.
    public var usesPackedWeights: Bool {
        kernel == 3 && stride == 1 && pad == 1 && (inChannels >= 16 || Engine.path.tiles)
    }
    public func flops(n: Int, oh: Int, ow: Int) -> Int { 2 * n * outChannels * reduction * oh * ow }
}

/// Scratch budget per band in floats (~512 KB: a band and its packed panels stay in the 2 MB L2);
/// MCVD_BAND overrides it for tuning.
let bandBudget = ProcessInfo.processInfo.environment["MCVD_BAND"].flatMap { Int($0) } ?? (1 << 17)

/// Row stride of a packed 3x3 weight matrix with `o` output columns: o rounded up to 16 (one AVX-512
/// register), the padding columns zero.
public func packedConv3x3Stride(_ o: Int) -> Int { (o + 15) & ~15 }

/// w: (O, C, 3, 3) -> wt: (9C, packedConv3x3Stride(O)), row (ky*3 + kx)*C + ci, padding columns zeroed:
/// the weights of `conv3x3Tiles` and `conv3x3Rows`. Models pack once at load; `conv2d`
/// packs into its arena when not given. With `rowStride` (several convs sharing one input side by side,
/// stride packedConv3x3Stride of their total), w fills columns [0, O) and the rest is left as it is.
public func packConv3x3Weights(_ w: UnsafePointer<Float>, inChannels c: Int, outChannels o: Int,
                               into wt: UnsafeMutablePointer<Float>, rowStride: Int? = nil) {
    let ld = rowStride ?? packedConv3x3Stride(o)
    if rowStride == nil && ld > o { for row in 0..<(9 * c) { (wt + row * ld + o).update(repeating: 0, count: ld - o) } }
    for oc in 0..<o { for ci in 0..<c { for t in 0..<9 { wt[(t * c + ci) * ld + oc] = w[(oc * c + ci) * 9 + t] } } }
}

/// x: (N, C, H, W), w: (O, C, k, k), b: (O) -> y: (N, O, OH, OW);
/// y = (conv(x) + b + residual) * scale, residual (N, O, OH, OW) optional.
/// packedWeight: `packConv3x3Weights` of w for 3x3 stride-1 pad-1 convolutions (optional; row stride
/// packedConv3x3Stride(O)); winogradWeight: `packWinogradWeights` of that (optional, read only with
/// packedWeight and when the convolution runs as Winograd).
public func conv2d(_ x: Tensor, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?, shape s: ConvShape,
                   into y: Tensor, residual: Tensor? = nil, scale: Float = 1, packedWeight: UnsafePointer<Float>? = nil,
                   winogradWeight: UnsafePointer<Float>? = nil, arena: Arena) {
    precondition(x.c == s.inChannels && y.c == s.outChannels && x.n == y.n, "conv2d: channels/batch")
    let (oh, ow) = s.outSize(x.h, x.w)
    precondition(y.h == oh && y.w == ow, "conv2d: output \(y.shape) for input \(x.shape)")
    if let residual { precondition(residual.count == y.count, "conv2d: residual shape") }
    let path = Engine.path
    if s.usesPackedWeights {
        let mark = arena.mark()
        let wt = packedWeight ?? {
            let p = arena.floats(9 * s.inChannels * packedConv3x3Stride(s.outChannels))
            packConv3x3Weights(weight, inChannels: s.inChannels, outChannels: s.outChannels, into: p)
            return UnsafePointer(p)
        }()
        if path.tiles {
            conv3x3Tiles(path, x, packed: wt, winograd: packedWeight == nil ? nil : winogradWeight, bias: bias, into: y,
                         residual: residual, scale: scale, arena: arena)
        } else {
            conv3x3Rows(x, packed: wt, bias: bias, into: y, residual: residual, scale: scale, arena: arena)
        }
        arena.release(to: mark)
        return
    }
    if s.kernel == 1 && s.stride == 1 && s.pad == 0 && path.tiles {
        pointwiseTiles(path, x, weight: weight, strides: WeightStrides(tap: 0, channel: 1, output: s.inChannels), bias: bias,
                       outChannels: s.outChannels, into: y, residual: residual, scale: scale)
        return
    }
    let pool = Parallel.shared
    let o = s.outChannels, kk = s.reduction, L = oh * ow
    let direct = s.kernel == 1 && s.stride == 1 && s.pad == 0

    // Work items: (image, band of output rows). 1x1 convs read x in place, so bands only split work.
    var rowsPerBand = direct ? max(1, (oh + 1) / 2) : max(1, min(oh, bandBudget / max(1, kk * ow)))
    // At least one band per thread, so neither builds the whole im2col.
    if x.n * ((oh + rowsPerBand - 1) / rowsPerBand) < pool.threads { rowsPerBand = max(1, (oh + pool.threads - 1) / pool.threads) }
    let bands = (oh + rowsPerBand - 1) / rowsPerBand
    let items = x.n * bands
    let mark = arena.mark()
    let scratchFloats = direct ? 0 : kk * rowsPerBand * ow
    let parts = pool.threads
    let scratch = direct ? nil : arena.floats(scratchFloats * parts)

    func runBand(_ item: Int, rows mRange: Range<Int>, buffer: UnsafeMutablePointer<Float>?) {
        let img = item / bands, band = item % bands
        let oy0 = band * rowsPerBand, oy1 = min(oh, oy0 + rowsPerBand)
        let cols = (oy1 - oy0) * ow
        let xi = x.data + img * x.imageCount
        let yi = y.data + img * o * L + oy0 * ow
        let bMat: UnsafePointer<Float>, ldb: Int
        if direct { bMat = UnsafePointer(xi + oy0 * ow); ldb = L } else {
            im2col(xi, c: x.c, h: x.h, w: x.w, shape: s, ow: ow, rows: oy0..<oy1, into: buffer!)
            bMat = UnsafePointer(buffer!); ldb = cols
        }
        let m0 = mRange.lowerBound, mc = mRange.count
        sgemm(m: mc, n: cols, k: kk, a: weight + m0 * kk, lda: kk, b: bMat, ldb: ldb,
              c: yi + m0 * L, ldc: L)
        let res = residual.map { UnsafePointer($0.data + img * o * L + oy0 * ow) }
        for oc in mRange {
            let row = yi + oc * L
            let bv = bias?[oc] ?? 0
            if let res {
                let r = res + oc * L
                for j in 0..<cols { row[j] = (row[j] + bv + r[j]) * scale }
            } else if scale != 1 {
                for j in 0..<cols { row[j] = (row[j] + bv) * scale }
            } else if bv != 0 {
                for j in 0..<cols { row[j] += bv }
            }
        }
    }

    if items > 1 || parts == 1 {
        let used = min(parts, items)
        pool.run(parts: used) { part in
            let per = (items + used - 1) / used
            let lo = part * per, hi = min(items, lo + per)
            let buf = scratch.map { $0 + part * scratchFloats }
            for item in lo..<max(lo, hi) { runBand(item, rows: 0..<o, buffer: buf) }
        }
    } else {
        // One band in all: split output channels; each thread builds its own (small) im2col.
        let used = min(parts, o)
        pool.run(parts: used) { part in
            runBand(0, rows: Parallel.range(part, of: used, o), buffer: scratch.map { $0 + part * scratchFloats })
        }
    }
    arena.release(to: mark)
}

/// The 3x3 / stride 1 / pad 1 convolution without AVX-512 (else `conv3x3Tiles`), pixel-major: per band
/// of output rows, the input rows (+1 halo) go to a zero-padded (rows+2, W+2, C) NHWC slab. Output
/// position p = r*(W+2) + ox reads slab position p + ky*(W+2) + kx for tap (ky, kx), so each tap is one
/// sgemm on a shifted view of the slab: T (P, O) += slab_tap (P, C) * wt_tap (C, O), nine of them, with
/// M = P pixels (the shape OpenBLAS runs fastest for few channels) and no im2col; the 2 padding columns
/// per row are computed and dropped. T is transposed into y with bias, residual and scale.
/// x: (N, C, H, W), wt: (9C, ld = packedConv3x3Stride(O)), b: (O) -> y: (N, O, H, W).
func conv3x3Rows(_ x: Tensor, packed wt: UnsafePointer<Float>, bias: UnsafePointer<Float>?, into y: Tensor,
                 residual: Tensor?, scale: Float, arena: Arena) {
    let pool = Parallel.shared, parts = pool.threads
    let c = x.c, h = x.h, w = x.w, o = y.c, L = h * w, pw = w + 2, ld = packedConv3x3Stride(o)
    // Equal bands within the L2 budget, a count both threads share evenly when one exists.
    let maxRows = max(1, min(h, bandBudget / max(1, pw * (c + o))))
    let rowsPerBand = stride(from: maxRows, to: 0, by: -1).first { h % $0 == 0 && (x.n * (h / $0)) % parts == 0 } ?? maxRows
    let bands = (h + rowsPerBand - 1) / rowsPerBand, items = x.n * bands
    let slabFloats = ((rowsPerBand + 2) * pw * c + 15) & ~15, tFloats = rowsPerBand * pw * o
    let perThread = slabFloats + tFloats
    let scratch = arena.floats(perThread * parts)

    func runBand(_ item: Int, _ buf: UnsafeMutablePointer<Float>) {
        let img = item / bands, band = item % bands
        let oy0 = band * rowsPerBand, oy1 = min(h, oy0 + rowsPerBand), rows = oy1 - oy0
        let slab = buf, t = buf + slabFloats
        let xi = x.data + img * c * L, rowFloats = pw * c
        // 1. Slab rows oy0-1 ... oy1 (NHWC, zero border).
        for sr in 0..<(rows + 2) {
            let iy = oy0 - 1 + sr, dst = slab + sr * rowFloats
            guard iy >= 0 && iy < h else { dst.update(repeating: 0, count: rowFloats); continue }
            dst.update(repeating: 0, count: c)
            (dst + (w + 1) * c).update(repeating: 0, count: c)
            // Transposed in 16-pixel tiles so the written lines stay in L1 until complete.
            var ox0 = 0
            while ox0 < w {
                let ox1 = min(w, ox0 + 16)
                for ci in 0..<c {
                    let src = xi + ci * L + iy * w
                    var d = dst + (1 + ox0) * c + ci
                    for ox in ox0..<ox1 { d.pointee = src[ox]; d += c }
                }
                ox0 = ox1
            }
        }
        // 2. T = sum over taps of shifted slab views times the tap's weights.
        let positions = rows * pw - 2
        for tap in 0..<9 {
            let shift = (tap / 3) * pw + tap % 3
            sgemm(m: positions, n: o, k: c, a: slab + shift * c, lda: c, b: wt + tap * c * ld, ldb: ld,
                  beta: tap == 0 ? 0 : 1, c: t, ldc: o)
        }
        // 3. y[oc, (r, ox)] = (T[r*(W+2) + ox, oc] + b[oc] + residual) * scale.
        let yi = y.data + img * o * L + oy0 * w
        let res = residual.map { UnsafePointer($0.data + img * o * L + oy0 * w) }
        // In 16-pixel tiles: the tile's T rows (16 x O) stay in L1 while every channel reads them.
        for r in 0..<rows {
            var ox0 = 0
            while ox0 < w {
                let ox1 = min(w, ox0 + 16)
                for oc in 0..<o {
                    let bv = bias?[oc] ?? 0
                    let row = yi + oc * L + r * w
                    var src = UnsafePointer(t + (r * pw + ox0) * o + oc)
                    if let res {
                        let rr = res + oc * L + r * w
                        for ox in ox0..<ox1 { row[ox] = (src.pointee + bv + rr[ox]) * scale; src += o }
                    } else {
                        for ox in ox0..<ox1 { row[ox] = (src.pointee + bv) * scale; src += o }
                    }
                }
                ox0 = ox1
            }
        }
    }

    pool.run(parts: min(parts, items)) { part in
        let per = (items + parts - 1) / parts
        let lo = part * per, hi = min(items, lo + per)
        for item in lo..<max(lo, hi) { runBand(item, scratch + part * perThread) }
    }
}

/// x (one image): (C, H, W) -> buf: (C*k*k, rows*OW) for output rows `rows`.
func im2col(_ x: UnsafePointer<Float>, c: Int, h: Int, w: Int, shape s: ConvShape, ow: Int, rows: Range<Int>,
            into buf: UnsafeMutablePointer<Float>) {
    let k = s.kernel, cols = rows.count * ow
    if k == 3 && s.stride == 1 && s.pad == 1 && ow == w {
        for ci in 0..<c {
            let plane = x + ci * h * w
            for ky in 0..<3 {
                for kx in 0..<3 {
                    var dst = buf + ((ci * 3 + ky) * 3 + kx) * cols
                    for oy in rows {
                        let iy = oy + ky - 1
                        if iy < 0 || iy >= h { dst.update(repeating: 0, count: w) } else {
                            let src = plane + iy * w
                            switch kx {
                            case 0: dst[0] = 0; (dst + 1).update(from: src, count: w - 1)
                            case 1: dst.update(from: src, count: w)
                            default: dst.update(from: src + 1, count: w - 1); dst[w - 1] = 0
                            }
                        }
                        dst += w
                    }
                }
            }
        }
        return
    }
    for ci in 0..<c {
        let plane = x + ci * h * w
        for ky in 0..<k {
            for kx in 0..<k {
                var dst = buf + ((ci * k + ky) * k + kx) * cols
                for oy in rows {
                    let iy = oy * s.stride - s.pad + ky
                    if iy < 0 || iy >= h { dst.update(repeating: 0, count: ow); dst += ow; continue }
                    let src = plane + iy * w
                    for ox in 0..<ow {
                        let ix = ox * s.stride - s.pad + kx
                        dst[ox] = (ix >= 0 && ix < w) ? src[ix] : 0
                    }
                    dst += ow
                }
            }
        }
    }
}

/// Measured single-precision GEMM rate (GFLOP/s) of this machine with `threads` BLAS threads on a
/// square problem of size `size`: the yardstick `mcvd bench` prints beside the forward rate.
public func measureSgemm(threads: Int, size: Int = 1024, repeats: Int = 5) -> Double {
    let count = size * size
    let a = UnsafeMutablePointer<Float>.allocate(capacity: count)
    let b = UnsafeMutablePointer<Float>.allocate(capacity: count)
    let c = UnsafeMutablePointer<Float>.allocate(capacity: count)
    defer { a.deallocate(); b.deallocate(); c.deallocate() }
    for i in 0..<count { a[i] = Float(i % 7) * 0.1; b[i] = Float(i % 5) * 0.1 }
    openblas_set_num_threads(Int32(threads))
    defer { openblas_set_num_threads(1) }
    var times: [Double] = []
    for _ in 0..<(repeats + 1) {
        let t0 = DispatchTime.now().uptimeNanoseconds
        sgemm(m: size, n: size, k: size, a: a, lda: size, b: b, ldb: size, c: c, ldc: size)
        times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9)
    }
    let best = times.dropFirst().sorted()[times.count / 2 - 1]
    return 2 * Double(size * size * size) / best * 1e-9
}
