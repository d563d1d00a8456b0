// Convolutions on channel-major (NCHW) data, written once over the SIMD width: out[oc, p] = sum over
// taps and input channels of w(tap, ci, oc) * x[ci, p + shift(tap)]. One tap with shift 0 is a 1x1
// convolution read in place; nine shifts over a zero-padded copy of the rows (row stride W + 2) are a
// 3x3 convolution. A tile is R output channels x K vectors of positions held in R * K registers: per
// (tap, channel) K vector loads of x and R weight broadcasts feed R * K FMAs. No packing, no transposes.
//
// The code is @inlinable and generic over the vector type, so each module that instantiates it compiles
// it for its own CPU: AVX512Kernels (skylake-avx512) with SIMD16 and 8-row tiles (8 x 48 positions in
// 24 of 32 zmm), AVX2Kernels (haswell) with SIMD8 and 4-row tiles (4 x 24 positions in 12 of 16 ymm),
// and this module's own `portableChannelMajorProduct` (no CPU flags: SSE2 on x86-64, NEON on arm64)
// with SIMD4. Every output is summed in one fixed order (tap, then channel, one multiply-add each), in
// the tiles and the scalar edges alike, so the tiling and thread split never change the bits.

/// Where the weights are: w(tap, ci, oc) = w[tap * tap + ci * channel + oc * output].
public struct WeightStrides: Sendable {
    public var tap: Int, channel: Int, output: Int
    public init(tap: Int, channel: Int, output: Int) { self.tap = tap; self.channel = channel; self.output = output }
}

/// The arguments shared by every tile of one product.
@frozen public struct ProductArgs {
    public let x: UnsafePointer<Float>, cs: Int, c: Int, shifts: UnsafeBufferPointer<Int>
    public let w: UnsafePointer<Float>, s: WeightStrides, ldo: Int, accumulate: Bool
    @inlinable public init(x: UnsafePointer<Float>, cs: Int, c: Int, shifts: UnsafeBufferPointer<Int>,
                           w: UnsafePointer<Float>, s: WeightStrides, ldo: Int, accumulate: Bool) {
        self.x = x; self.cs = cs; self.c = c; self.shifts = shifts; self.w = w; self.s = s; self.ldo = ldo
        self.accumulate = accumulate
    }
}

/// out[oc * ldo + p] = sum over t < shifts.count, ci < c of w(t, ci, oc) * x[ci * cs + p + shifts[t]]
/// (or += that sum when `accumulate`), for oc in outputs, p in 0..<positions, with tiles of `rows`
/// (8 or 4) output channels and vectors of V, each term added by M (Fused or Unfused). Reads x only at
/// the positions asked for (plus shifts).
@inlinable @inline(__always)
public func channelMajorProduct<V: SIMD, M: MultiplyAdd>(_: V.Type, rows: Int, _ fused: M.Type,
                                         x: UnsafePointer<Float>, channelStride cs: Int, channels c: Int,
                                         shifts: UnsafeBufferPointer<Int>, positions: Int,
                                         weights w: UnsafePointer<Float>, strides s: WeightStrides, outputs: Range<Int>,
                                         into out: UnsafeMutablePointer<Float>, ldo: Int, accumulate: Bool)
    where V.Scalar == Float {
    let n = V.scalarCount
    var oc = outputs.lowerBound
    while oc + rows <= outputs.upperBound {
        let a = ProductArgs(x: x, cs: cs, c: c, shifts: shifts, w: w + oc * s.output, s: s, ldo: ldo,
                            accumulate: accumulate)
        let o = out + oc * ldo
        var p = 0
        if rows == 8 {
            while p + 3 * n <= positions { tile8x3(V.self, fused, a, p, o + p); p += 3 * n }
            if p + 2 * n <= positions { tile8x2(V.self, fused, a, p, o + p); p += 2 * n }
            if p + n <= positions { tile8x1(V.self, fused, a, p, o + p); p += n }
        } else {
            while p + 3 * n <= positions { tile4x3(V.self, fused, a, p, o + p); p += 3 * n }
            if p + 2 * n <= positions { tile4x2(V.self, fused, a, p, o + p); p += 2 * n }
            if p + n <= positions { tile4x1(V.self, fused, a, p, o + p); p += n }
        }
        for j in 0..<rows where p < positions {
            scalarRow(M.self, a, p..<positions, a.w + j * s.output, o + j * ldo)
        }
        oc += rows
    }
    while oc < outputs.upperBound {
        let a = ProductArgs(x: x, cs: cs, c: c, shifts: shifts, w: w + oc * s.output, s: s, ldo: ldo,
                            accumulate: accumulate)
        let o = out + oc * ldo
        var p = 0
        while p + n <= positions { tile1x1(V.self, fused, a, p, o + p); p += n }
        if p < positions { scalarRow(M.self, a, p..<positions, a.w, o) }
        oc += 1
    }
}

/// The portable instantiation: SIMD4 (one SSE or NEON register), 4-row tiles; FMA on arm64 (NEON has
/// it), multiply-add on x86-64 without flags (SSE2 has none; a fused op would be a libm call per lane).
public func portableChannelMajorProduct(x: UnsafePointer<Float>, channelStride cs: Int, channels c: Int,
                                        shifts: UnsafeBufferPointer<Int>, positions: Int,
                                        weights w: UnsafePointer<Float>, strides s: WeightStrides, outputs: Range<Int>,
                                        into out: UnsafeMutablePointer<Float>, ldo: Int, accumulate: Bool = false) {
    #if arch(arm64)
    let fused = Fused.self
    #else
    let fused = Unfused.self
    #endif
    channelMajorProduct(SIMD4<Float>.self, rows: 4, fused, x: x, channelStride: cs, channels: c, shifts: shifts,
                        positions: positions, weights: w, strides: s, outputs: outputs, into: out, ldo: ldo,
                        accumulate: accumulate)
}

// MARK: - Tiles

@inlinable @inline(__always)
func load<V: SIMD>(_ p: UnsafePointer<Float>, _: V.Type) -> V where V.Scalar == Float {
    UnsafeRawPointer(p).loadUnaligned(as: V.self)
}

/// How a term is added: one fused multiply-add, or a multiply then an add (for CPUs without FMA). A
/// type parameter, so each tile is specialised for one and its inner loop has no branch.
public protocol MultiplyAdd {
    static func add<V: SIMD>(_ acc: inout V, _ b: V, _ x: V) where V.Scalar == Float
    static func add(_ acc: inout Float, _ b: Float, _ x: Float)
}
public enum Fused: MultiplyAdd {
    @inlinable @inline(__always)
    public static func add<V: SIMD>(_ acc: inout V, _ b: V, _ x: V) where V.Scalar == Float { acc.addProduct(b, x) }
    @inlinable @inline(__always)
    public static func add(_ acc: inout Float, _ b: Float, _ x: Float) { acc.addProduct(b, x) }
}
public enum Unfused: MultiplyAdd {
    @inlinable @inline(__always)
    public static func add<V: SIMD>(_ acc: inout V, _ b: V, _ x: V) where V.Scalar == Float { acc += b * x }
    @inlinable @inline(__always)
    public static func add(_ acc: inout Float, _ b: Float, _ x: Float) { acc += b * x }
}

@inlinable @inline(__always)
func madd<V: SIMD, M: MultiplyAdd>(_ acc: inout V, _ b: V, _ x: V, _: M.Type) where V.Scalar == Float {
    M.add(&acc, b, x)
}

/// Stores (or adds, when accumulating) one vector of an output row.
@inlinable @inline(__always)
func put<V: SIMD>(_ p: UnsafeMutablePointer<Float>, _ accumulate: Bool, _ v: V) where V.Scalar == Float {
    UnsafeMutableRawPointer(p).storeBytes(of: accumulate ? v + load(p, V.self) : v, as: V.self)
}

@inlinable @inline(never)
func tile8x3<V: SIMD, M: MultiplyAdd>(_: V.Type, _ f: M.Type, _ a: ProductArgs, _ p: Int, _ out: UnsafeMutablePointer<Float>)
    where V.Scalar == Float {
    var a00 = V(), a01 = V(), a02 = V(), a10 = V(), a11 = V(), a12 = V()
    var a20 = V(), a21 = V(), a22 = V(), a30 = V(), a31 = V(), a32 = V()
    var a40 = V(), a41 = V(), a42 = V(), a50 = V(), a51 = V(), a52 = V()
    var a60 = V(), a61 = V(), a62 = V(), a70 = V(), a71 = V(), a72 = V()
    let so = a.s.output, n = V.scalarCount
    for t in 0..<a.shifts.count {
        var xp = a.x + p + a.shifts[t]
        var wp = a.w + t * a.s.tap
        for _ in 0..<a.c {
            let x0 = load(xp, V.self), x1 = load(xp + n, V.self), x2 = load(xp + 2 * n, V.self)
            var b = V(repeating: wp[0]); madd(&a00, b, x0, f); madd(&a01, b, x1, f); madd(&a02, b, x2, f)
            b = V(repeating: wp[so]); madd(&a10, b, x0, f); madd(&a11, b, x1, f); madd(&a12, b, x2, f)
            b = V(repeating: wp[2 * so]); madd(&a20, b, x0, f); madd(&a21, b, x1, f); madd(&a22, b, x2, f)
            b = V(repeating: wp[3 * so]); madd(&a30, b, x0, f); madd(&a31, b, x1, f); madd(&a32, b, x2, f)
            b = V(repeating: wp[4 * so]); madd(&a40, b, x0, f); madd(&a41, b, x1, f); madd(&a42, b, x2, f)
            b = V(repeating: wp[5 * so]); madd(&a50, b, x0, f); madd(&a51, b, x1, f); madd(&a52, b, x2, f)
            b = V(repeating: wp[6 * so]); madd(&a60, b, x0, f); madd(&a61, b, x1, f); madd(&a62, b, x2, f)
            b = V(repeating: wp[7 * so]); madd(&a70, b, x0, f); madd(&a71, b, x1, f); madd(&a72, b, x2, f)
            xp += a.cs; wp += a.s.channel
        }
    }
    let acc = a.accumulate, ld = a.ldo
    put(out, acc, a00); put(out + n, acc, a01); put(out + 2 * n, acc, a02)
    put(out + ld, acc, a10); put(out + ld + n, acc, a11); put(out + ld + 2 * n, acc, a12)
    put(out + 2 * ld, acc, a20); put(out + 2 * ld + n, acc, a21); put(out + 2 * ld + 2 * n, acc, a22)
    put(out + 3 * ld, acc, a30); put(out + 3 * ld + n, acc, a31); put(out + 3 * ld + 2 * n, acc, a32)
    put(out + 4 * ld, acc, a40); put(out + 4 * ld + n, acc, a41); put(out + 4 * ld + 2 * n, acc, a42)
    put(out + 5 * ld, acc, a50); put(out + 5 * ld + n, acc, a51); put(out + 5 * ld + 2 * n, acc, a52)
    put(out + 6 * ld, acc, a60); put(out + 6 * ld + n, acc, a61); put(out + 6 * ld + 2 * n, acc, a62)
    put(out + 7 * ld, acc, a70); put(out + 7 * ld + n, acc, a71); put(out + 7 * ld + 2 * n, acc, a72)
}

@inlinable @inline(never)
func tile8x2<V: SIMD, M: MultiplyAdd>(_: V.Type, _ f: M.Type, _ a: ProductArgs, _ p: Int, _ out: UnsafeMutablePointer<Float>)
    where V.Scalar == Float {
    var a00 = V(), a01 = V(), a10 = V(), a11 = V(), a20 = V(), a21 = V(), a30 = V(), a31 = V()
    var a40 = V(), a41 = V(), a50 = V(), a51 = V(), a60 = V(), a61 = V(), a70 = V(), a71 = V()
    let so = a.s.output, n = V.scalarCount
    for t in 0..<a.shifts.count {
        var xp = a.x + p + a.shifts[t]
        var wp = a.w + t * a.s.tap
        for _ in 0..<a.c {
            let x0 = load(xp, V.self), x1 = load(xp + n, V.self)
            var b = V(repeating: wp[0]); madd(&a00, b, x0, f); madd(&a01, b, x1, f)
            b = V(repeating: wp[so]); madd(&a10, b, x0, f); madd(&a11, b, x1, f)
            b = V(repeating: wp[2 * so]); madd(&a20, b, x0, f); madd(&a21, b, x1, f)
            b = V(repeating: wp[3 * so]); madd(&a30, b, x0, f); madd(&a31, b, x1, f)
            b = V(repeating: wp[4 * so]); madd(&a40, b, x0, f); madd(&a41, b, x1, f)
            b = V(repeating: wp[5 * so]); madd(&a50, b, x0, f); madd(&a51, b, x1, f)
            b = V(repeating: wp[6 * so]); madd(&a60, b, x0, f); madd(&a61, b, x1, f)
            b = V(repeating: wp[7 * so]); madd(&a70, b, x0, f); madd(&a71, b, x1, f)
            xp += a.cs; wp += a.s.channel
        }
    }
    let acc = a.accumulate, ld = a.ldo
    put(out, acc, a00); put(out + n, acc, a01); put(out + ld, acc, a10); put(out + ld + n, acc, a11)
    put(out + 2 * ld, acc, a20); put(out + 2 * ld + n, acc, a21); put(out + 3 * ld, acc, a30); put(out + 3 * ld + n, acc, a31)
    put(out + 4 * ld, acc, a40); put(out + 4 * ld + n, acc, a41); put(out + 5 * ld, acc, a50); put(out + 5 * ld + n, acc, a51)
    put(out + 6 * ld, acc, a60); put(out + 6 * ld + n, acc, a61); put(out + 7 * ld, acc, a70); put(out + 7 * ld + n, acc, a71)
}

@inlinable @inline(never)
func tile8x1<V: SIMD, M: MultiplyAdd>(_: V.Type, _ f: M.Type, _ a: ProductArgs, _ p: Int, _ out: UnsafeMutablePointer<Float>)
    where V.Scalar == Float {
    var a0 = V(), a1 = V(), a2 = V(), a3 = V(), a4 = V(), a5 = V(), a6 = V(), a7 = V()
    let so = a.s.output
    for t in 0..<a.shifts.count {
        var xp = a.x + p + a.shifts[t]
        var wp = a.w + t * a.s.tap
        for _ in 0..<a.c {
            let v = load(xp, V.self)
            madd(&a0, V(repeating: wp[0]), v, f); madd(&a1, V(repeating: wp[so]), v, f)
            madd(&a2, V(repeating: wp[2 * so]), v, f); madd(&a3, V(repeating: wp[3 * so]), v, f)
            madd(&a4, V(repeating: wp[4 * so]), v, f); madd(&a5, V(repeating: wp[5 * so]), v, f)
            madd(&a6, V(repeating: wp[6 * so]), v, f); madd(&a7, V(repeating: wp[7 * so]), v, f)
            xp += a.cs; wp += a.s.channel
        }
    }
    let acc = a.accumulate, ld = a.ldo
    put(out, acc, a0); put(out + ld, acc, a1); put(out + 2 * ld, acc, a2); put(out + 3 * ld, acc, a3)
    put(out + 4 * ld, acc, a4); put(out + 5 * ld, acc, a5); put(out + 6 * ld, acc, a6); put(out + 7 * ld, acc, a7)
}

@inlinable @inline(never)
func tile4x3<V: SIMD, M: MultiplyAdd>(_: V.Type, _ f: M.Type, _ a: ProductArgs, _ p: Int, _ out: UnsafeMutablePointer<Float>)
    where V.Scalar == Float {
    var a00 = V(), a01 = V(), a02 = V(), a10 = V(), a11 = V(), a12 = V()
    var a20 = V(), a21 = V(), a22 = V(), a30 = V(), a31 = V(), a32 = V()
    let so = a.s.output, n = V.scalarCount
    for t in 0..<a.shifts.count {
        var xp = a.x + p + a.shifts[t]
        var wp = a.w + t * a.s.tap
        for _ in 0..<a.c {
            let x0 = load(xp, V.self), x1 = load(xp + n, V.self), x2 = load(xp + 2 * n, V.self)
            var b = V(repeating: wp[0]); madd(&a00, b, x0, f); madd(&a01, b, x1, f); madd(&a02, b, x2, f)
            b = V(repeating: wp[so]); madd(&a10, b, x0, f); madd(&a11, b, x1, f); madd(&a12, b, x2, f)
            b = V(repeating: wp[2 * so]); madd(&a20, b, x0, f); madd(&a21, b, x1, f); madd(&a22, b, x2, f)
            b = V(repeating: wp[3 * so]); madd(&a30, b, x0, f); madd(&a31, b, x1, f); madd(&a32, b, x2, f)
            xp += a.cs; wp += a.s.channel
        }
    }
    let acc = a.accumulate, ld = a.ldo
    put(out, acc, a00); put(out + n, acc, a01); put(out + 2 * n, acc, a02)
    put(out + ld, acc, a10); put(out + ld + n, acc, a11); put(out + ld + 2 * n, acc, a12)
    put(out + 2 * ld, acc, a20); put(out + 2 * ld + n, acc, a21); put(out + 2 * ld + 2 * n, acc, a22)
    put(out + 3 * ld, acc, a30); put(out + 3 * ld + n, acc, a31); put(out + 3 * ld + 2 * n, acc, a32)
}

@inlinable @inline(never)
func tile4x2<V: SIMD, M: MultiplyAdd>(_: V.Type, _ f: M.Type, _ a: ProductArgs, _ p: Int, _ out: UnsafeMutablePointer<Float>)
    where V.Scalar == Float {
    var a00 = V(), a01 = V(), a10 = V(), a11 = V(), a20 = V(), a21 = V(), a30 = V(), a31 = V()
    let so = a.s.output, n = V.scalarCount
    for t in 0..<a.shifts.count {
        var xp = a.x + p + a.shifts[t]
        var wp = a.w + t * a.s.tap
        for _ in 0..<a.c {
            let x0 = load(xp, V.self), x1 = load(xp + n, V.self)
            var b = V(repeating: wp[0]); madd(&a00, b, x0, f); madd(&a01, b, x1, f)
            b = V(repeating: wp[so]); madd(&a10, b, x0, f); madd(&a11, b, x1, f)
            b = V(repeating: wp[2 * so]); madd(&a20, b, x0, f); madd(&a21, b, x1, f)
            b = V(repeating: wp[3 * so]); madd(&a30, b, x0, f); madd(&a31, b, x1, f)
            xp += a.cs; wp += a.s.channel
        }
    }
    let acc = a.accumulate, ld = a.ldo
    put(out, acc, a00); put(out + n, acc, a01); put(out + ld, acc, a10); put(out + ld + n, acc, a11)
    put(out + 2 * ld, acc, a20); put(out + 2 * ld + n, acc, a21); put(out + 3 * ld, acc, a30); put(out + 3 * ld + n, acc, a31)
}

@inlinable @inline(never)
func tile4x1<V: SIMD, M: MultiplyAdd>(_: V.Type, _ f: M.Type, _ a: ProductArgs, _ p: Int, _ out: UnsafeMutablePointer<Float>)
    where V.Scalar == Float {
    var a0 = V(), a1 = V(), a2 = V(), a3 = V()
    let so = a.s.output
    for t in 0..<a.shifts.count {
        var xp = a.x + p + a.shifts[t]
        var wp = a.w + t * a.s.tap
        for _ in 0..<a.c {
            let v = load(xp, V.self)
            madd(&a0, V(repeating: wp[0]), v, f); madd(&a1, V(repeating: wp[so]), v, f)
            madd(&a2, V(repeating: wp[2 * so]), v, f); madd(&a3, V(repeating: wp[3 * so]), v, f)
            xp += a.cs; wp += a.s.channel
        }
    }
    let acc = a.accumulate, ld = a.ldo
    put(out, acc, a0); put(out + ld, acc, a1); put(out + 2 * ld, acc, a2); put(out + 3 * ld, acc, a3)
}

/// One output channel, one vector of positions (output channels past the last whole tile).
@inlinable @inline(never)
func tile1x1<V: SIMD, M: MultiplyAdd>(_: V.Type, _ f: M.Type, _ a: ProductArgs, _ p: Int, _ out: UnsafeMutablePointer<Float>)
    where V.Scalar == Float {
    var acc = V()
    for t in 0..<a.shifts.count {
        var xp = a.x + p + a.shifts[t]
        var wp = a.w + t * a.s.tap
        for _ in 0..<a.c { madd(&acc, V(repeating: wp[0]), load(xp, V.self), f); xp += a.cs; wp += a.s.channel }
    }
    put(out, a.accumulate, acc)
}

/// One output channel (weights `w`) at positions `range` (less than a vector left), in the tiles'
/// summation order.
@inlinable
func scalarRow<M: MultiplyAdd>(_: M.Type, _ a: ProductArgs, _ range: Range<Int>, _ w: UnsafePointer<Float>,
               _ out: UnsafeMutablePointer<Float>) {
    for p in range {
        var s: Float = 0
        for t in 0..<a.shifts.count {
            for ci in 0..<a.c {
                let wv = w[t * a.s.tap + ci * a.s.channel], xv = a.x[ci * a.cs + p + a.shifts[t]]
                M.add(&s, wv, xv)
            }
        }
        out[p] = a.accumulate ? out[p] + s : s
    }
}
