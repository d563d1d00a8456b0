// Convolutions on channel-major (NCHW) data on AVX-512: out[oc, p] = sum over taps and input channels
// of w(tap, ci, oc) * x[ci, p + shift(tap)]. One tap with shift 0 is a 1x1 convolution read in place;
// nine shifts over a zero-padded copy of the rows (row stride W + 2) are a 3x3 convolution. A tile is
// 8 output channels x 48 positions in 24 registers: per (tap, channel) three vector loads of x and
// eight weight broadcasts feed 24 FMAs. No packing, no transposes; every output is summed in one fixed
// order (tap, then channel), whatever the tiling or thread split.

/// Where the weights are: w(tap, ci, oc) = w[tap * tap + ci * channel + oc * output].
public struct WeightStrides: Sendable {
    public var tap: Int, channel: Int, output: Int
    public init(tap: Int, channel: Int, output: Int) { self.tap = tap; self.channel = channel; self.output = output }
}

/// out[oc * ldo + p] = sum over t < shifts.count, ci < c of w(t, ci, oc) * x[ci * cs + p + shifts[t]]
/// (or += that sum when `accumulate`), for oc in outputs, p in 0..<positions. Reads x only at the
/// positions asked for (plus shifts).
public func channelMajorProduct(x: UnsafePointer<Float>, channelStride cs: Int, channels c: Int,
                                shifts: UnsafeBufferPointer<Int>, positions: Int,
                                weights w: UnsafePointer<Float>, strides s: WeightStrides, outputs: Range<Int>,
                                into out: UnsafeMutablePointer<Float>, ldo: Int, accumulate: Bool = false) {
    let a = accumulate
    var oc = outputs.lowerBound
    while oc + 8 <= outputs.upperBound {
        let wo = w + oc * s.output, o = out + oc * ldo
        var p = 0
        while p + 48 <= positions { tile8x48(x + p, cs, c, shifts, wo, s, o + p, ldo, a); p += 48 }
        if p + 32 <= positions { tile8x32(x + p, cs, c, shifts, wo, s, o + p, ldo, a); p += 32 }
        if p + 16 <= positions { tile8x16(x + p, cs, c, shifts, wo, s, o + p, ldo, a); p += 16 }
        for j in 0..<8 where p < positions { scalarRow(x, cs, c, shifts, p..<positions, wo + j * s.output, s, o + j * ldo, a) }
        oc += 8
    }
    while oc < outputs.upperBound {
        let wo = w + oc * s.output, o = out + oc * ldo
        var p = 0
        while p + 16 <= positions { tile1x16(x + p, cs, c, shifts, wo, s, o + p, a); p += 16 }
        if p < positions { scalarRow(x, cs, c, shifts, p..<positions, wo, s, o, a) }
        oc += 1
    }
}

private typealias Lanes = SIMD16<Float>   // one zmm register

@inline(__always) private func load(_ p: UnsafePointer<Float>) -> Lanes { UnsafeRawPointer(p).loadUnaligned(as: Lanes.self) }
/// Stores (or adds, when accumulating) one, two or three consecutive vectors of an output row.
@inline(__always) private func store(_ p: UnsafeMutablePointer<Float>, _ accumulate: Bool, _ v: Lanes) {
    UnsafeMutableRawPointer(p).storeBytes(of: accumulate ? v + load(p) : v, as: Lanes.self)
}
@inline(__always) private func store(_ p: UnsafeMutablePointer<Float>, _ accumulate: Bool, _ v0: Lanes, _ v1: Lanes) {
    store(p, accumulate, v0); store(p + 16, accumulate, v1)
}
@inline(__always) private func store(_ p: UnsafeMutablePointer<Float>, _ accumulate: Bool, _ v0: Lanes, _ v1: Lanes,
                                     _ v2: Lanes) {
    store(p, accumulate, v0); store(p + 16, accumulate, v1); store(p + 32, accumulate, v2)
}

@inline(never)
private func tile8x48(_ x: UnsafePointer<Float>, _ cs: Int, _ c: Int, _ shifts: UnsafeBufferPointer<Int>,
                      _ w: UnsafePointer<Float>, _ s: WeightStrides, _ out: UnsafeMutablePointer<Float>, _ ldo: Int,
                      _ accumulate: Bool) {
    var a00 = Lanes(), a01 = Lanes(), a02 = Lanes(), a10 = Lanes(), a11 = Lanes(), a12 = Lanes()
    var a20 = Lanes(), a21 = Lanes(), a22 = Lanes(), a30 = Lanes(), a31 = Lanes(), a32 = Lanes()
    var a40 = Lanes(), a41 = Lanes(), a42 = Lanes(), a50 = Lanes(), a51 = Lanes(), a52 = Lanes()
    var a60 = Lanes(), a61 = Lanes(), a62 = Lanes(), a70 = Lanes(), a71 = Lanes(), a72 = Lanes()
    let so = s.output
    for t in 0..<shifts.count {
        var xp = x + shifts[t]
        var wp = w + t * s.tap
        for _ in 0..<c {
            let x0 = load(xp), x1 = load(xp + 16), x2 = load(xp + 32)
            var b = Lanes(repeating: wp[0]); a00.addProduct(b, x0); a01.addProduct(b, x1); a02.addProduct(b, x2)
            b = Lanes(repeating: wp[so]); a10.addProduct(b, x0); a11.addProduct(b, x1); a12.addProduct(b, x2)
            b = Lanes(repeating: wp[2 * so]); a20.addProduct(b, x0); a21.addProduct(b, x1); a22.addProduct(b, x2)
            b = Lanes(repeating: wp[3 * so]); a30.addProduct(b, x0); a31.addProduct(b, x1); a32.addProduct(b, x2)
            b = Lanes(repeating: wp[4 * so]); a40.addProduct(b, x0); a41.addProduct(b, x1); a42.addProduct(b, x2)
            b = Lanes(repeating: wp[5 * so]); a50.addProduct(b, x0); a51.addProduct(b, x1); a52.addProduct(b, x2)
            b = Lanes(repeating: wp[6 * so]); a60.addProduct(b, x0); a61.addProduct(b, x1); a62.addProduct(b, x2)
            b = Lanes(repeating: wp[7 * so]); a70.addProduct(b, x0); a71.addProduct(b, x1); a72.addProduct(b, x2)
            xp += cs; wp += s.channel
        }
    }
    let acc = accumulate
    store(out, acc, a00, a01, a02); store(out + ldo, acc, a10, a11, a12)
    store(out + 2 * ldo, acc, a20, a21, a22); store(out + 3 * ldo, acc, a30, a31, a32)
    store(out + 4 * ldo, acc, a40, a41, a42); store(out + 5 * ldo, acc, a50, a51, a52)
    store(out + 6 * ldo, acc, a60, a61, a62); store(out + 7 * ldo, acc, a70, a71, a72)
}

@inline(never)
private func tile8x32(_ x: UnsafePointer<Float>, _ cs: Int, _ c: Int, _ shifts: UnsafeBufferPointer<Int>,
                      _ w: UnsafePointer<Float>, _ s: WeightStrides, _ out: UnsafeMutablePointer<Float>, _ ldo: Int,
                      _ accumulate: Bool) {
    var a00 = Lanes(), a01 = Lanes(), a10 = Lanes(), a11 = Lanes(), a20 = Lanes(), a21 = Lanes()
    var a30 = Lanes(), a31 = Lanes(), a40 = Lanes(), a41 = Lanes(), a50 = Lanes(), a51 = Lanes()
    var a60 = Lanes(), a61 = Lanes(), a70 = Lanes(), a71 = Lanes()
    let so = s.output
    for t in 0..<shifts.count {
        var xp = x + shifts[t]
        var wp = w + t * s.tap
        for _ in 0..<c {
            let x0 = load(xp), x1 = load(xp + 16)
            var b = Lanes(repeating: wp[0]); a00.addProduct(b, x0); a01.addProduct(b, x1)
            b = Lanes(repeating: wp[so]); a10.addProduct(b, x0); a11.addProduct(b, x1)
            b = Lanes(repeating: wp[2 * so]); a20.addProduct(b, x0); a21.addProduct(b, x1)
            b = Lanes(repeating: wp[3 * so]); a30.addProduct(b, x0); a31.addProduct(b, x1)
            b = Lanes(repeating: wp[4 * so]); a40.addProduct(b, x0); a41.addProduct(b, x1)
            b = Lanes(repeating: wp[5 * so]); a50.addProduct(b, x0); a51.addProduct(b, x1)
            b = Lanes(repeating: wp[6 * so]); a60.addProduct(b, x0); a61.addProduct(b, x1)
            b = Lanes(repeating: wp[7 * so]); a70.addProduct(b, x0); a71.addProduct(b, x1)
            xp += cs; wp += s.channel
        }
    }
    let acc = accumulate
    store(out, acc, a00, a01); store(out + ldo, acc, a10, a11)
    store(out + 2 * ldo, acc, a20, a21); store(out + 3 * ldo, acc, a30, a31)
    store(out + 4 * ldo, acc, a40, a41); store(out + 5 * ldo, acc, a50, a51)
    store(out + 6 * ldo, acc, a60, a61); store(out + 7 * ldo, acc, a70, a71)
}

@inline(never)
private func tile8x16(_ x: UnsafePointer<Float>, _ cs: Int, _ c: Int, _ shifts: UnsafeBufferPointer<Int>,
                      _ w: UnsafePointer<Float>, _ s: WeightStrides, _ out: UnsafeMutablePointer<Float>, _ ldo: Int,
                      _ accumulate: Bool) {
    var a0 = Lanes(), a1 = Lanes(), a2 = Lanes(), a3 = Lanes(), a4 = Lanes(), a5 = Lanes(), a6 = Lanes(), a7 = Lanes()
    let so = s.output
    for t in 0..<shifts.count {
        var xp = x + shifts[t]
        var wp = w + t * s.tap
        for _ in 0..<c {
            let v = load(xp)
            a0.addProduct(Lanes(repeating: wp[0]), v); a1.addProduct(Lanes(repeating: wp[so]), v)
            a2.addProduct(Lanes(repeating: wp[2 * so]), v); a3.addProduct(Lanes(repeating: wp[3 * so]), v)
            a4.addProduct(Lanes(repeating: wp[4 * so]), v); a5.addProduct(Lanes(repeating: wp[5 * so]), v)
            a6.addProduct(Lanes(repeating: wp[6 * so]), v); a7.addProduct(Lanes(repeating: wp[7 * so]), v)
            xp += cs; wp += s.channel
        }
    }
    let acc = accumulate
    store(out, acc, a0); store(out + ldo, acc, a1); store(out + 2 * ldo, acc, a2); store(out + 3 * ldo, acc, a3)
    store(out + 4 * ldo, acc, a4); store(out + 5 * ldo, acc, a5); store(out + 6 * ldo, acc, a6); store(out + 7 * ldo, acc, a7)
}

/// One output channel, 16 positions (output channels past the last multiple of 8).
private func tile1x16(_ x: UnsafePointer<Float>, _ cs: Int, _ c: Int, _ shifts: UnsafeBufferPointer<Int>,
                      _ w: UnsafePointer<Float>, _ s: WeightStrides, _ out: UnsafeMutablePointer<Float>,
                      _ accumulate: Bool) {
    var a = Lanes()
    for t in 0..<shifts.count {
        var xp = x + shifts[t]
        var wp = w + t * s.tap
        for _ in 0..<c { a.addProduct(Lanes(repeating: wp[0]), load(xp)); xp += cs; wp += s.channel }
    }
    store(out, accumulate, a)
}

/// One output channel at positions `range` (fewer than 16 left), in the tiles' summation order.
private func scalarRow(_ x: UnsafePointer<Float>, _ cs: Int, _ c: Int, _ shifts: UnsafeBufferPointer<Int>,
                       _ range: Range<Int>, _ w: UnsafePointer<Float>, _ s: WeightStrides,
                       _ out: UnsafeMutablePointer<Float>, _ accumulate: Bool) {
    for p in range {
        var a: Float = 0
        for t in 0..<shifts.count {
            for ci in 0..<c { a.addProduct(w[t * s.tap + ci * s.channel], x[ci * cs + p + shifts[t]]) }
        }
        out[p] = accumulate ? out[p] + a : a
    }
}
