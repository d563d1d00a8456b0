// Matrix products and convolutions: the only file that talks to OpenBLAS (cblas_sgemm).
// conv2d = im2col of a band of output rows into arena scratch + one sgemm per band; bands are shared
// between the two threads of `Parallel`, each calling a single-threaded sgemm. Naive twins: Naive.swift.
import COpenBLAS
import Foundation

/// BLAS runs single-threaded inside our own 2-way split (see `Engine.setThreads`).
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
    public func flops(n: Int, oh: Int, ow: Int) -> Int { 2 * n * outChannels * reduction * oh * ow }
}

/// im2col budget per band in floats (~512 KB: a band and its packed panels stay in the 2 MB L2).
let bandBudget = 1 << 17

/// x: (N, C, H, W), w: (O, C, k, k), b: (O) -> y: (N, O, OH, OW);
/// y = (conv(x) + b + residual) * scale, residual (N, O, OH, OW) optional.
public func conv2d(_ x: Tensor, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?, shape s: ConvShape,
                   into y: Tensor, residual: Tensor? = nil, scale: Float = 1, arena: Arena) {
    precondition(x.c == s.inChannels && y.c == s.outChannels && x.n == y.n, "conv2d: channels/batch")
    let (oh, ow) = s.outSize(x.h, x.w)
    precondition(y.h == oh && y.w == ow, "conv2d: output \(y.shape) for input \(x.shape)")
    if let residual { precondition(residual.count == y.count, "conv2d: residual shape") }
    let pool = Parallel.shared
    let o = s.outChannels, kk = s.reduction, L = oh * ow
    let direct = s.kernel == 1 && s.stride == 1 && s.pad == 0

    // Work items: (image, band of output rows). 1x1 convs read x in place, so bands only split work.
    let rowsPerBand = direct ? max(1, (oh + 1) / 2) : max(1, min(oh, bandBudget / max(1, kk * ow)))
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

    if items >= parts {
        pool.run(parts: parts) { part in
            let per = (items + parts - 1) / parts
            let lo = part * per, hi = min(items, lo + per)
            let buf = scratch.map { $0 + part * scratchFloats }
            for item in lo..<max(lo, hi) { runBand(item, rows: 0..<o, buffer: buf) }
        }
    } else {
        // One band in all: split output channels; each thread builds its own (small) im2col.
        let half = (o + 1) / 2
        pool.run(parts: parts) { part in
            runBand(0, rows: part == 0 ? 0..<half : half..<o, buffer: scratch.map { $0 + part * scratchFloats })
        }
    }
    arena.release(to: mark)
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
