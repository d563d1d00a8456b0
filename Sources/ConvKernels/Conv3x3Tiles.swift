// The 3x3 convolution's inner product on AVX-512 (this module is built for skylake-avx512; callers
// check the CPU first, see Tensor's `conv3x3Rows`). Input is the zero-padded NHWC slab of a band of
// rows (pixel stride c, row stride pw = W + 2), weights are packed (9c, ld) with taps outermost, so
// output position p sums slab[p + ky*pw + kx] over taps and channels. A tile is 12 positions x 32
// output channels held in 24 registers; per input channel it loads two weight vectors and broadcasts
// 12 slab values: 24 FMAs on 14 loads, no packing per call (OpenBLAS repacks both operands per tap).
// Every output is summed in one fixed order (tap, then channel), whatever the band or thread split.

private typealias Lanes = SIMD16<Float>   // one zmm register

@inline(__always) private func load(_ p: UnsafePointer<Float>) -> Lanes {
    UnsafeRawPointer(p).loadUnaligned(as: Lanes.self)
}
@inline(__always) private func store(_ v: Lanes, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: Lanes.self)
}

/// Positions computed per tile: `conv3x3SlabProduct` rounds `positions` up to a multiple of this.
public let conv3x3TileRows = 12

/// t[p * ldt + oc] = sum over taps (ky, kx) and channels ci of
/// slab[(p + ky * pw + kx) * c + ci] * w[((ky * 3 + kx) * c + ci) * ld + oc],
/// for p in 0..<positions rounded up to 12 and oc in 0..<ld (ld a multiple of 16).
/// The slab must be readable up to (rounded positions + 2 * pw + 2) * c floats.
public func conv3x3SlabProduct(slab: UnsafePointer<Float>, c: Int, pw: Int, positions: Int,
                               weights w: UnsafePointer<Float>, ld: Int,
                               into t: UnsafeMutablePointer<Float>, ldt: Int) {
    precondition(ld % 16 == 0 && ldt >= ld, "conv3x3SlabProduct: ld \(ld), ldt \(ldt)")
    var p = 0
    while p < positions {
        var oc = 0
        while oc + 32 <= ld {
            tile12x32(slab + p * c, c: c, pw: pw, w: w + oc, ld: ld, t: t + p * ldt + oc, ldt: ldt)
            oc += 32
        }
        if oc < ld { tile12x16(slab + p * c, c: c, pw: pw, w: w + oc, ld: ld, t: t + p * ldt + oc, ldt: ldt) }
        p += conv3x3TileRows
    }
}

@inline(never)
private func tile12x32(_ s0: UnsafePointer<Float>, c: Int, pw: Int, w: UnsafePointer<Float>, ld: Int,
                       t: UnsafeMutablePointer<Float>, ldt: Int) {
    var r00 = Lanes(), r01 = Lanes(), r10 = Lanes(), r11 = Lanes()
    var r20 = Lanes(), r21 = Lanes(), r30 = Lanes(), r31 = Lanes()
    var r40 = Lanes(), r41 = Lanes(), r50 = Lanes(), r51 = Lanes()
    var r60 = Lanes(), r61 = Lanes(), r70 = Lanes(), r71 = Lanes()
    var r80 = Lanes(), r81 = Lanes(), r90 = Lanes(), r91 = Lanes()
    var rA0 = Lanes(), rA1 = Lanes(), rB0 = Lanes(), rB1 = Lanes()
    for tap in 0..<9 {
        var s = s0 + ((tap / 3) * pw + tap % 3) * c
        var wp = w + tap * c * ld
        for _ in 0..<c {
            let b0 = load(wp), b1 = load(wp + 16)
            var x = Lanes(repeating: s[0]); r00.addProduct(x, b0); r01.addProduct(x, b1)
            x = Lanes(repeating: s[c]); r10.addProduct(x, b0); r11.addProduct(x, b1)
            x = Lanes(repeating: s[2 * c]); r20.addProduct(x, b0); r21.addProduct(x, b1)
            x = Lanes(repeating: s[3 * c]); r30.addProduct(x, b0); r31.addProduct(x, b1)
            x = Lanes(repeating: s[4 * c]); r40.addProduct(x, b0); r41.addProduct(x, b1)
            x = Lanes(repeating: s[5 * c]); r50.addProduct(x, b0); r51.addProduct(x, b1)
            x = Lanes(repeating: s[6 * c]); r60.addProduct(x, b0); r61.addProduct(x, b1)
            x = Lanes(repeating: s[7 * c]); r70.addProduct(x, b0); r71.addProduct(x, b1)
            x = Lanes(repeating: s[8 * c]); r80.addProduct(x, b0); r81.addProduct(x, b1)
            x = Lanes(repeating: s[9 * c]); r90.addProduct(x, b0); r91.addProduct(x, b1)
            x = Lanes(repeating: s[10 * c]); rA0.addProduct(x, b0); rA1.addProduct(x, b1)
            x = Lanes(repeating: s[11 * c]); rB0.addProduct(x, b0); rB1.addProduct(x, b1)
            s += 1; wp += ld
        }
    }
    store(r00, t); store(r01, t + 16); store(r10, t + ldt); store(r11, t + ldt + 16)
    store(r20, t + 2 * ldt); store(r21, t + 2 * ldt + 16); store(r30, t + 3 * ldt); store(r31, t + 3 * ldt + 16)
    store(r40, t + 4 * ldt); store(r41, t + 4 * ldt + 16); store(r50, t + 5 * ldt); store(r51, t + 5 * ldt + 16)
    store(r60, t + 6 * ldt); store(r61, t + 6 * ldt + 16); store(r70, t + 7 * ldt); store(r71, t + 7 * ldt + 16)
    store(r80, t + 8 * ldt); store(r81, t + 8 * ldt + 16); store(r90, t + 9 * ldt); store(r91, t + 9 * ldt + 16)
    store(rA0, t + 10 * ldt); store(rA1, t + 10 * ldt + 16); store(rB0, t + 11 * ldt); store(rB1, t + 11 * ldt + 16)
}

/// The last 16 output channels when ld is an odd multiple of 16.
@inline(never)
private func tile12x16(_ s0: UnsafePointer<Float>, c: Int, pw: Int, w: UnsafePointer<Float>, ld: Int,
                       t: UnsafeMutablePointer<Float>, ldt: Int) {
    var r0 = Lanes(), r1 = Lanes(), r2 = Lanes(), r3 = Lanes(), r4 = Lanes(), r5 = Lanes()
    var r6 = Lanes(), r7 = Lanes(), r8 = Lanes(), r9 = Lanes(), rA = Lanes(), rB = Lanes()
    for tap in 0..<9 {
        var s = s0 + ((tap / 3) * pw + tap % 3) * c
        var wp = w + tap * c * ld
        for _ in 0..<c {
            let b = load(wp)
            r0.addProduct(Lanes(repeating: s[0]), b); r1.addProduct(Lanes(repeating: s[c]), b)
            r2.addProduct(Lanes(repeating: s[2 * c]), b); r3.addProduct(Lanes(repeating: s[3 * c]), b)
            r4.addProduct(Lanes(repeating: s[4 * c]), b); r5.addProduct(Lanes(repeating: s[5 * c]), b)
            r6.addProduct(Lanes(repeating: s[6 * c]), b); r7.addProduct(Lanes(repeating: s[7 * c]), b)
            r8.addProduct(Lanes(repeating: s[8 * c]), b); r9.addProduct(Lanes(repeating: s[9 * c]), b)
            rA.addProduct(Lanes(repeating: s[10 * c]), b); rB.addProduct(Lanes(repeating: s[11 * c]), b)
            s += 1; wp += ld
        }
    }
    store(r0, t); store(r1, t + ldt); store(r2, t + 2 * ldt); store(r3, t + 3 * ldt)
    store(r4, t + 4 * ldt); store(r5, t + 5 * ldt); store(r6, t + 6 * ldt); store(r7, t + 7 * ldt)
    store(r8, t + 8 * ldt); store(r9, t + 9 * ldt); store(rA, t + 10 * ldt); store(rB, t + 11 * ldt)
}
