// 3x3 stride-1 pad-1 convolutions by Winograd's minimal filtering F(2x2, 3x3) (Lavin and Gray, "Fast
// Algorithms for Convolutional Neural Networks", 2016) on the channel-major tiles: each 2x2 block of
// outputs comes from a 4x4 input patch d and the 3x3 kernel g as Y = A^T [(G g G^T) * (B^T d B)] A, so
// an (input, output) channel pair costs 16 multiply-adds per 2x2 outputs instead of 36 (2.25x fewer).
// The 16 elementwise products summed over input channels are 16 independent matrix products
// M_e (O x tiles) = U_e (O x C) . V_e (C x tiles), each one ConvKernels product with one tap.
//
// Every output is still summed in one fixed order (channels in the product, then the fixed output
// transform), so the thread split never changes the bits. The transforms' factors are 0, +-1 and 1/2
// (exact in binary); against the direct sum the results differ by rounding only (tests: 1e-5 of the
// largest output, as the direct tiles).
import ConvKernels
import Foundation

/// Whether `conv3x3Tiles` runs a convolution as Winograd F(2x2, 3x3): `auto` where it measured faster
/// than the direct tiles, `always` for every 3x3 convolution on the tiles (tests), `never` (MCVD_WINOGRAD
/// = auto, 1 or 0; default auto).
public enum WinogradChoice: String, Sendable {
    case auto, always, never
}

extension Engine {
    /// The process-wide choice, from MCVD_WINOGRAD (0: never, 1: always, else auto).
    nonisolated(unsafe) public static var winograd: WinogradChoice = {
        switch ProcessInfo.processInfo.environment["MCVD_WINOGRAD"] {
        case "0", "never": .never
        case "1", "always": .always
        default: .auto
        }
    }()
    /// Overrides `winograd` for code running in the current task only (tests).
    @TaskLocal public static var winogradInTask: WinogradChoice?

    /// Whether a 3x3 stride-1 convolution C -> O over H x W runs as Winograd on `path`'s tiles now.
    /// auto: at least 16 input and output channels (fewer leave the 16 products too thin to pay for
    /// the transforms) and at least 16 x 16 positions (at 8 x 8 the transforms cost more than they save)
    /// on the avx2 and portable paths. The avx512 path's direct tiles are faster still below 64 x 64
    /// positions and 32 channels (AMD EPYC with AVX-512, 1 thread, `mcvd bench --ops`, ms direct ->
    /// Winograd: 64->64 @ 64x64 1.18 -> 1.04, 32->64 @ 64x64 0.60 -> 0.48, 32->32 @ 64x64 0.31 -> 0.31,
    /// 128->64 @ 32x32 0.63 -> 0.64, 128->128 @ 16x16 0.32 -> 0.63, 16->16 @ 64x64 0.08 -> 0.12).
    static func usesWinograd(_ path: Engine.KernelSet, c: Int, o: Int, h: Int, w: Int) -> Bool {
        guard path.tiles else { return false }
        switch winogradInTask ?? winograd {
        case .never: return false
        case .always: return true
        case .auto where path == .avx512: return c >= 32 && o >= 32 && h * w >= 4096
        case .auto: return c >= 16 && o >= 16 && h * w >= 256
        }
    }
}

typealias V8 = SIMD8<Float>
extension SIMD8 where Scalar == Float {
    @inline(__always) init(_ p: UnsafePointer<Float>) { self = UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self) }
    @inline(__always) init(_ p: UnsafeMutablePointer<Float>) { self.init(UnsafePointer(p)) }
}
@inline(__always) func store8(_ p: UnsafeMutablePointer<Float>, _ v: V8) { UnsafeMutableRawPointer(p).storeBytes(of: v, as: V8.self) }

/// Floats per band of tiles (transformed input and products of one band, per thread; ~256 KB, within
/// the L2); MCVD_WINOGRAD_BAND overrides it for tuning.
let winogradBandBudget = ProcessInfo.processInfo.environment["MCVD_WINOGRAD_BAND"].flatMap { Int($0) } ?? (1 << 16)

/// Splits one input row of w floats into its even and odd padded columns (padded column q = input column
/// q - 1, zero outside the row): even[q] = src[2q - 1], odd[q] = src[2q], q < count.
@inline(__always)
func splitRow(_ src: UnsafePointer<Float>, _ w: Int, even: UnsafeMutablePointer<Float>, odd: UnsafeMutablePointer<Float>,
              count: Int) {
    even[0] = 0
    var j = 0
    while 2 * j + 16 <= w {   // 16 input columns: odd[j ..< j+8] and even[j+1 ..< j+9]
        let a = V8(src + 2 * j), b = V8(src + 2 * j + 8)
        store8(odd + j, V8(a[0], a[2], a[4], a[6], b[0], b[2], b[4], b[6]))
        store8(even + j + 1, V8(a[1], a[3], a[5], a[7], b[1], b[3], b[5], b[7]))
        j += 8
    }
    while 2 * j < w {
        odd[j] = src[2 * j]
        even[j + 1] = 2 * j + 1 < w ? src[2 * j + 1] : 0
        j += 1
    }
    // Past the row: odd from j, even from j + 1.
    (odd + j).update(repeating: 0, count: count - j)
    if j + 1 < count { (even + j + 1).update(repeating: 0, count: count - j - 1) }
}

/// U_e = (G g G^T)_e for every (input, output) channel pair of a packed 3x3 weight (rows (tap, ci),
/// stride `ld`, column oc), in blocks of rows = 8 output channels: u[((e * blocks + b) * c + ci) * rows + r]
/// is output channel b * rows + r (zero past the packed padding). G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1].
private func winogradWeights(_ wt: UnsafePointer<Float>, c: Int, ld: Int, blocks: Int,
                     into u: UnsafeMutablePointer<Float>) {
    typealias V4 = SIMD4<Float>
    let rows = 8, plane = blocks * c * rows, half = V4(repeating: 0.5)
    /// G times a column (a, b, c) of g.
    @inline(__always) func gRows(_ a: V4, _ b: V4, _ cc: V4) -> (V4, V4, V4, V4) {
        (a, (a + b + cc) * half, (a - b + cc) * half, cc)
    }
    // Four output channels at a time (the packed stride is a multiple of 16).
    for ci in 0..<c {
        for oc in stride(from: 0, to: blocks * rows, by: 4) {
            let b = oc / rows, r = oc % rows
            func at(_ t: Int) -> V4 { UnsafeRawPointer(wt + (t * c + ci) * ld + oc).loadUnaligned(as: V4.self) }
            // G g (4 x 3), column by column (taps t = 3 ky + kx); then each of its rows times G^T.
            let k0 = gRows(at(0), at(3), at(6)), k1 = gRows(at(1), at(4), at(7)), k2 = gRows(at(2), at(5), at(8))
            let out = u + (b * c + ci) * rows + r
            @inline(__always) func store(_ i: Int, _ row: (V4, V4, V4, V4)) {
                UnsafeMutableRawPointer(out + (4 * i) * plane).storeBytes(of: row.0, as: V4.self)
                UnsafeMutableRawPointer(out + (4 * i + 1) * plane).storeBytes(of: row.1, as: V4.self)
                UnsafeMutableRawPointer(out + (4 * i + 2) * plane).storeBytes(of: row.2, as: V4.self)
                UnsafeMutableRawPointer(out + (4 * i + 3) * plane).storeBytes(of: row.3, as: V4.self)
            }
            store(0, gRows(k0.0, k1.0, k2.0)); store(1, gRows(k0.1, k1.1, k2.1))
            store(2, gRows(k0.2, k1.2, k2.2)); store(3, gRows(k0.3, k1.3, k2.3))
        }
    }
}

/// Floats of `packWinogradWeights`' output for a C -> O convolution.
public func winogradWeightCount(inChannels c: Int, outChannels o: Int) -> Int { 16 * c * ((o + 7) & ~7) }

/// The Winograd weights U_e of a packed 3x3 weight (`packConv3x3Weights`' layout, row stride
/// packedConv3x3Stride(O)) in blocks of 8 output channels: conv2d's `winogradWeight`. Models derive
/// them once when they derive the packed matrix; conv2d derives them per call when not given.
public func packWinogradWeights(_ packed: UnsafePointer<Float>, inChannels c: Int, outChannels o: Int,
                                into u: UnsafeMutablePointer<Float>) {
    winogradWeights(packed, c: c, ld: packedConv3x3Stride(o), blocks: (o + 7) / 8, into: u)
}

/// The 3x3 stride-1 pad-1 convolution as Winograd F(2x2, 3x3): x (N, C, H, W), wt packed (9C,
/// packedConv3x3Stride(O)) or its Winograd weights `given` (`packWinogradWeights`) -> y (N, O, H, W),
/// y = (conv + b + residual) * scale (residual may be y itself: each value is read before it is
/// written). Bands of tile rows (2 output rows each) are the work items; a single image with fewer
/// bands than threads splits the output blocks instead.
func conv3x3Winograd(_ path: Engine.KernelSet, _ x: Tensor, packed wt: UnsafePointer<Float>, winograd given: UnsafePointer<Float>?,
                     bias: UnsafePointer<Float>?, into y: Tensor, residual: Tensor?, scale: Float, arena: Arena) {
    let pool = Parallel.shared, parts = pool.threads
    let c = x.c, h = x.h, w = x.w, o = y.c, L = h * w
    // Products of `rows` outputs (the path's tile) read U in its blocks of 8 (stride 8 per channel).
    let rows = path == .avx512 ? 8 : 4, blocks = (o + rows - 1) / rows, blocks8 = (o + 7) / 8
    // The product runs over whole vectors of positions (16 on avx512, 8 else): a remainder would go to
    // its scalar row code (8 positions of 56, 14%, made a whole 112 x 64 forward 2.3x slower). The
    // positions past the tiles are the zero tail of each transformed row (ldt >= that many).
    let vector = path == .avx512 ? 16 : 8
    let th = (h + 1) / 2, tw = (w + 1) / 2
    let u = given ?? {
        let p = arena.floats(winogradWeightCount(inChannels: c, outChannels: o))
        packWinogradWeights(wt, inChannels: c, outChannels: o, into: p)
        return UnsafePointer(p)
    }()

    let maxTileRows = max(1, min(th, winogradBandBudget / max(1, 16 * c * tw)))
    let splitOutputs = parts > 1 && x.n * ((th + maxTileRows - 1) / maxTileRows) < parts && blocks >= 2
    let tileRows = splitOutputs ? maxTileRows
        : stride(from: maxTileRows, to: 0, by: -1).first { th % $0 == 0 && (x.n * (th / $0)) % parts == 0 } ?? maxTileRows
    let bands = (th + tileRows - 1) / tileRows, items = x.n * bands
    // Positions per transformed row: the band's tiles, a zero tail, room for the last 8-tile step.
    let ldt = (tileRows * tw + (tw % 8 == 0 ? 0 : 7) + 15) & ~15
    let pw = tw + 1, spw = (tw + 8 + 1 + 7) & ~7  // even / odd columns of one padded input row (+ the 8-step's reach)
    let vFloats = 16 * c * ldt, mFloats = 16 * rows * ldt, rowFloats = 2 * (2 * tileRows + 2) * spw
    let perThread = vFloats + mFloats + ((rowFloats + 15) & ~15)
    let scratch = arena.floats(perThread * parts)

    func runBand(_ item: Int, blocksRange: Range<Int>, _ buf: UnsafeMutablePointer<Float>) {
        let img = item / bands, band = item % bands
        let ty0 = band * tileRows, trows = min(th, ty0 + tileRows) - ty0, tiles = trows * tw
        let v = buf, m = buf + vFloats, split = m + mFloats
        let xi = x.data + img * c * L
        // 1. V_e[ci, tile] = (B^T d B)_e, B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]. The patch of
        // tile (ty, tx) is input rows 2ty-1 ... 2ty+2, columns 2tx-1 ... 2tx+2; each input row is first
        // split into its even and odd padded columns (padded column q = input column q - 1), so that
        // patch column k of tile tx is even[tx + k/2] or odd[tx + k/2]: contiguous in tx.
        for ci in 0..<c {
            let plane = xi + ci * L
            // The band's input rows 2 ty0 - 1 ... 2 (ty0 + trows), each split once (consecutive tile rows
            // share two of their four).
            for k in 0..<(2 * trows + 2) {
                let even = split + 2 * k * spw, odd = even + spw, iy = 2 * ty0 - 1 + k
                guard iy >= 0 && iy < h else { even.update(repeating: 0, count: 2 * spw); continue }
                splitRow(plane + iy * w, w, even: even, odd: odd, count: spw)
            }
            for r in 0..<trows {
                let rowSplit = split + 4 * r * spw
                let e0 = rowSplit, o0 = rowSplit + spw, e1 = rowSplit + 2 * spw, o1 = rowSplit + 3 * spw
                let e2 = rowSplit + 4 * spw, o2 = rowSplit + 5 * spw, e3 = rowSplit + 6 * spw, o3 = rowSplit + 7 * spw
                let stride = c * ldt
                var tx = 0
                while tx < tw {   // 8 tiles at a time; past tw into the next row's (rewritten) or the zero tail
                    // Patch rows k: (e_k[tx], o_k[tx], e_k[tx+1], o_k[tx+1]). B^T d by rows, then by columns.
                    let x0 = V8(e0 + tx), x1 = V8(o0 + tx), x2 = V8(e0 + tx + 1), x3 = V8(o0 + tx + 1)
                    let y0 = V8(e1 + tx), y1 = V8(o1 + tx), y2 = V8(e1 + tx + 1), y3 = V8(o1 + tx + 1)
                    let z0 = V8(e2 + tx), z1 = V8(o2 + tx), z2 = V8(e2 + tx + 1), z3 = V8(o2 + tx + 1)
                    let w0 = V8(e3 + tx), w1 = V8(o3 + tx), w2 = V8(e3 + tx + 1), w3 = V8(o3 + tx + 1)
                    let a0 = x0 - z0, a1 = x1 - z1, a2 = x2 - z2, a3 = x3 - z3
                    let b0 = y0 + z0, b1 = y1 + z1, b2 = y2 + z2, b3 = y3 + z3
                    let c0 = z0 - y0, c1 = z1 - y1, c2 = z2 - y2, c3 = z3 - y3
                    let d0 = y0 - w0, d1 = y1 - w1, d2 = y2 - w2, d3 = y3 - w3
                    let p = v + ci * ldt + r * tw + tx
                    store8(p, a0 - a2); store8(p + stride, a1 + a2); store8(p + 2 * stride, a2 - a1); store8(p + 3 * stride, a1 - a3)
                    store8(p + 4 * stride, b0 - b2); store8(p + 5 * stride, b1 + b2); store8(p + 6 * stride, b2 - b1)
                    store8(p + 7 * stride, b1 - b3)
                    store8(p + 8 * stride, c0 - c2); store8(p + 9 * stride, c1 + c2); store8(p + 10 * stride, c2 - c1)
                    store8(p + 11 * stride, c1 - c3)
                    store8(p + 12 * stride, d0 - d2); store8(p + 13 * stride, d1 + d2); store8(p + 14 * stride, d2 - d1)
                    store8(p + 15 * stride, d1 - d3)
                    tx += 8
                }
            }
            if tiles < ldt {
                for e in 0..<16 { (v + e * c * ldt + ci * ldt + tiles).update(repeating: 0, count: ldt - tiles) }
            }
        }
        // 2. Per block of `rows` outputs: M_e[oc, tile] = sum over ci of U_e[oc, ci] V_e[ci, tile], one
        // product per e into a buffer that stays in L1 (16 x rows x tiles), then
        // 3. Y = A^T M A, A^T = [1 1 1 0; 0 1 -1 -1], plus bias and residual, times scale.
        let stride = rows * ldt
        func outputTransform(_ b: Int) {
            for oc in (b * rows)..<min(o, (b + 1) * rows) {
                let bv = bias?[oc] ?? 0
                let yo = y.data + (img * o + oc) * L
                let ro = residual.map { UnsafePointer($0.data + (img * o + oc) * L) }
                for r in 0..<trows {
                    let oy = 2 * (ty0 + r), q = m + (oc - b * rows) * ldt + r * tw
                    let rows2 = min(2, h - oy)
                    var tx = 0
                    while tx < tw {   // 8 tiles at a time (lanes past tw read the zero tail and are not stored)
                        let p = q + tx
                        // Rows of A^T M (4 columns each), then A for the two output columns.
                        let m0 = V8(p), m1 = V8(p + stride), m2 = V8(p + 2 * stride), m3 = V8(p + 3 * stride)
                        let m4 = V8(p + 4 * stride), m5 = V8(p + 5 * stride), m6 = V8(p + 6 * stride), m7 = V8(p + 7 * stride)
                        let m8 = V8(p + 8 * stride), m9 = V8(p + 9 * stride), m10 = V8(p + 10 * stride), m11 = V8(p + 11 * stride)
                        let m12 = V8(p + 12 * stride), m13 = V8(p + 13 * stride), m14 = V8(p + 14 * stride), m15 = V8(p + 15 * stride)
                        let s00 = m0 + m4 + m8, s01 = m1 + m5 + m9, s02 = m2 + m6 + m10, s03 = m3 + m7 + m11
                        let s10 = m4 - m8 - m12, s11 = m5 - m9 - m13, s12 = m6 - m10 - m14, s13 = m7 - m11 - m15
                        let outs = (s00 + s01 + s02, s01 - s02 - s03, s10 + s11 + s12, s11 - s12 - s13)
                        let lanes = min(8, tw - tx)
                        if lanes == 8 && 2 * tx + 16 <= w {
                            // 8 whole tiles: the two columns interleaved into two vectors per output row.
                            let bias8 = V8(repeating: bv), scale8 = V8(repeating: scale)
                            for dy in 0..<rows2 {
                                let left = dy == 0 ? outs.0 : outs.2, right = dy == 0 ? outs.1 : outs.3
                                let row = yo + (oy + dy) * w + 2 * tx
                                var lo = V8(left[0], right[0], left[1], right[1], left[2], right[2], left[3], right[3]) + bias8
                                var hi = V8(left[4], right[4], left[5], right[5], left[6], right[6], left[7], right[7]) + bias8
                                if let ro {
                                    let res = ro + (oy + dy) * w + 2 * tx
                                    lo += V8(res); hi += V8(res + 8)
                                }
                                store8(row, lo * scale8); store8(row + 8, hi * scale8)
                            }
                            tx += 8
                            continue
                        }
                        for dy in 0..<rows2 {
                            let left = dy == 0 ? outs.0 : outs.2, right = dy == 0 ? outs.1 : outs.3
                            let at = (oy + dy) * w + 2 * tx
                            let row = yo + at
                            if let ro {
                                let res = ro + at
                                for j in 0..<lanes {
                                    let v0 = (left[j] + bv + res[2 * j]) * scale
                                    if 2 * (tx + j) + 1 < w {
                                        let v1 = (right[j] + bv + res[2 * j + 1]) * scale
                                        row[2 * j] = v0; row[2 * j + 1] = v1
                                    } else { row[2 * j] = v0 }
                                }
                            } else {
                                for j in 0..<lanes {
                                    row[2 * j] = (left[j] + bv) * scale
                                    if 2 * (tx + j) + 1 < w { row[2 * j + 1] = (right[j] + bv) * scale }
                                }
                            }
                        }
                        tx += 8
                    }
                }
            }
        }
        for b in blocksRange {
            withUnsafeTemporaryAllocation(of: Int.self, capacity: 1) { sh in   // on the stack: no allocation
                sh[0] = 0
                for e in 0..<16 {
                    let oc = b * rows
                    tileProduct(path, x: v + e * c * ldt, channelStride: ldt, channels: c, shifts: UnsafeBufferPointer(sh),
                                positions: (tiles + vector - 1) & ~(vector - 1), weights: u + (e * blocks8 + oc / 8) * c * 8 + oc % 8,
                                strides: WeightStrides(tap: 0, channel: 8, output: 1),
                                outputs: 0..<rows, into: m + e * stride, ldo: ldt)
                }
            }
            outputTransform(b)
        }
    }

    if splitOutputs {
        let used = min(parts, blocks)
        pool.run(parts: used) { part in
            let r = Parallel.range(part, of: used, blocks)
            for item in 0..<items { runBand(item, blocksRange: r, scratch + part * perThread) }
        }
    } else {
        pool.run(parts: min(parts, items)) { part in
            let per = (items + parts - 1) / parts
            let lo = part * per, hi = min(items, lo + per)
            for item in lo..<max(lo, hi) { runBand(item, blocksRange: 0..<blocks, scratch + part * perThread) }
        }
    }
}
