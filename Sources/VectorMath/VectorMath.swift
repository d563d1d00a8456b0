// Elementwise float kernels written once as @inlinable code, so that every module that calls them
// compiles them for its own target CPU: Tensor for x86-64-v3 (AVX2: each SIMD16 is two ymm registers),
// AVX512Kernels for AVX-512 (one zmm). Tensor picks between the two at run time (`Engine.kernels`).
import Foundation

/// Mean and 1/sqrt(var + eps) of `count` floats (biased variance, as torch): two passes (mean, then
/// squared deviations), Float lanes over runs of 512 folded into Double, so large means do not cancel.
@inlinable @inline(__always)
public func moments(_ p: UnsafePointer<Float>, count: Int, eps: Float) -> (Float, Float) {
    let raw = UnsafeRawPointer(p)
    var total = 0.0, i = 0
    while i + 16 <= count {
        var s0 = SIMD16<Float>.zero, s1 = SIMD16<Float>.zero
        let end = min(count & ~15, i + 512)
        while i + 32 <= end {
            s0 += raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
            s1 += raw.loadUnaligned(fromByteOffset: i * 4 + 64, as: SIMD16<Float>.self)
            i += 32
        }
        if i + 16 <= end { s0 += raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self); i += 16 }
        total += Double((s0 + s1).sum())
    }
    while i < count { total += Double(p[i]); i += 1 }
    let mean = Float(total / Double(count))
    let vm = SIMD16<Float>(repeating: mean)
    var dev = 0.0
    i = 0
    while i + 16 <= count {
        var s0 = SIMD16<Float>.zero, s1 = SIMD16<Float>.zero
        let end = min(count & ~15, i + 512)
        while i + 32 <= end {
            let a = raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self) - vm
            let b = raw.loadUnaligned(fromByteOffset: i * 4 + 64, as: SIMD16<Float>.self) - vm
            s0 += a * a; s1 += b * b
            i += 32
        }
        if i + 16 <= end { let a = raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self) - vm; s0 += a * a; i += 16 }
        dev += Double((s0 + s1).sum())
    }
    while i < count { let d = p[i] - mean; dev += Double(d * d); i += 1 }
    let v = dev / Double(count)
    return (mean, Float(1 / (v + Double(eps)).squareRoot()))
}

@inlinable @inline(__always)
public func affineActivate(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ count: Int, _ a: Float,
                    _ b: Float, _ silu: Bool) {
    var i = 0
    let va = SIMD16<Float>(repeating: a), vb = SIMD16<Float>(repeating: b)
    if silu {
        while i + 16 <= count {
            let t = UnsafeRawPointer(src + i).loadUnaligned(as: SIMD16<Float>.self) * va + vb
            UnsafeMutableRawPointer(dst + i).storeBytes(of: silu16(t), as: SIMD16<Float>.self)
            i += 16
        }
    } else {
        while i + 16 <= count {
            let t = UnsafeRawPointer(src + i).loadUnaligned(as: SIMD16<Float>.self) * va + vb
            UnsafeMutableRawPointer(dst + i).storeBytes(of: t, as: SIMD16<Float>.self)
            i += 16
        }
    }
    while i < count { let t = src[i] * a + b; dst[i] = silu ? siluScalar(t) : t; i += 1 }
}

@inlinable @inline(__always)
public func modulateSpatial(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ count: Int, _ a: Float,
                     _ b: Float, _ g: UnsafePointer<Float>, _ be: UnsafePointer<Float>, _ post: (Float, Float),
                     _ silu: Bool) {
    var i = 0
    let va = SIMD16<Float>(repeating: a), vb = SIMD16<Float>(repeating: b)
    let p0 = SIMD16<Float>(repeating: post.0), p1 = SIMD16<Float>(repeating: post.1)
    let one = SIMD16<Float>(repeating: 1)
    while i + 16 <= count {
        let x = UnsafeRawPointer(src + i).loadUnaligned(as: SIMD16<Float>.self)
        let gv = UnsafeRawPointer(g + i).loadUnaligned(as: SIMD16<Float>.self)
        let bv = UnsafeRawPointer(be + i).loadUnaligned(as: SIMD16<Float>.self)
        var t = ((x * va + vb) * (one + gv) + bv) * p0 + p1
        if silu { t = silu16(t) }
        UnsafeMutableRawPointer(dst + i).storeBytes(of: t, as: SIMD16<Float>.self)
        i += 16
    }
    while i < count {
        let t = ((src[i] * a + b) * (1 + g[i]) + be[i]) * post.0 + post.1
        dst[i] = silu ? siluScalar(t) : t
        i += 1
    }
}

/// In place: r = exp(r - max r); returns the sum (the softmax denominator).
@inlinable @inline(__always)
public func softmaxNumerators(_ r: UnsafeMutablePointer<Float>, _ count: Int) -> Float {
    var j = 0
    var vmax = SIMD16<Float>(repeating: -.infinity)
    while j + 16 <= count {
        let v = UnsafeRawPointer(r + j).loadUnaligned(as: SIMD16<Float>.self)
        vmax.replace(with: v, where: v .> vmax)
        j += 16
    }
    var mx = vmax.max()
    while j < count { mx = max(mx, r[j]); j += 1 }
    let vm = SIMD16<Float>(repeating: mx)
    var acc = SIMD16<Float>.zero
    j = 0
    while j + 16 <= count {
        let e = exp16(UnsafeRawPointer(r + j).loadUnaligned(as: SIMD16<Float>.self) - vm)
        UnsafeMutableRawPointer(r + j).storeBytes(of: e, as: SIMD16<Float>.self)
        acc += e; j += 16
    }
    var sum = acc.sum()
    while j < count { r[j] = expScalar(r[j] - mx); sum += r[j]; j += 1 }
    return sum
}

/// Sums over one channel's plane made by `normBackwardPlane`.
public struct NormPlaneSums {
    public var dGamma = 0.0, dBeta = 0.0, dScale = 0.0, dShift = 0.0, sumD = 0.0, sumDX = 0.0
    @inlinable public init() {}
}

/// One channel of `groupNormBackward`, 16 lanes at a time (Float lanes, added into Double every 512
/// values as `moments` does). The chain per value, forward: xhat = (x - mean) rstd, t1 = xhat gamma + beta,
/// t2 = t1 (1 + sg) + sb (SPADE), t3 = t2 scale + shift, y = silu(t3) or t3. Writes xhat and dL/dxhat
/// (count values each), the SPADE map gradients when given, and returns the sums.
@inlinable @inline(__always)
public func normBackwardPlane(_ x: UnsafePointer<Float>, dy: UnsafePointer<Float>, count: Int, mean: Float, rstd: Float,
                       gamma: Float, beta: Float, scale: Float, shift: Float, spadeGamma sg: UnsafePointer<Float>?,
                       spadeBeta sb: UnsafePointer<Float>?, silu: Bool, xhat xh: UnsafeMutablePointer<Float>,
                       dxhat dxh: UnsafeMutablePointer<Float>, dSpadeGamma dsg: UnsafeMutablePointer<Float>?,
                       dSpadeBeta dsb: UnsafeMutablePointer<Float>?) -> NormPlaneSums {
    typealias V = SIMD16<Float>
    func load(_ p: UnsafePointer<Float>, _ j: Int) -> V { UnsafeRawPointer(p + j).loadUnaligned(as: V.self) }
    func store(_ v: V, _ p: UnsafeMutablePointer<Float>, _ j: Int) { UnsafeMutableRawPointer(p + j).storeBytes(of: v, as: V.self) }
    var sums = NormPlaneSums()
    let spade = sg != nil && sb != nil, spadeGrads = dsg != nil && dsb != nil
    var j = 0
    while j + 16 <= count {
        var aGm = V.zero, aBt = V.zero, aP0 = V.zero, aP1 = V.zero, aD = V.zero, aDX = V.zero
        let end = min(count & ~15, j + 512)
        while j < end {
            let xhat = (load(x, j) - V(repeating: mean)) * rstd
            store(xhat, xh, j)
            let t1 = xhat * gamma + beta
            var t2 = t1, g1 = V(repeating: 1)
            if spade { g1 = 1 + load(sg!, j); t2 = t1 * g1 + load(sb!, j) }
            let t3 = t2 * scale + shift
            var d3 = load(dy, j)
            if silu {
                let sig = 1 / (1 + exp16(-t3))
                d3 *= sig * (1 + t3 * (1 - sig))
            }
            aP0 += d3 * t2; aP1 += d3
            let d2 = d3 * scale
            if spadeGrads { store(d2, dsb!, j); store(d2 * t1, dsg!, j) }
            let d1 = d2 * g1
            aGm += d1 * xhat; aBt += d1
            let dxhat = d1 * gamma
            store(dxhat, dxh, j)
            aD += dxhat; aDX += dxhat * xhat
            j += 16
        }
        sums.dGamma += Double(aGm.sum()); sums.dBeta += Double(aBt.sum())
        sums.dScale += Double(aP0.sum()); sums.dShift += Double(aP1.sum())
        sums.sumD += Double(aD.sum()); sums.sumDX += Double(aDX.sum())
    }
    while j < count {
        let xhat = (x[j] - mean) * rstd
        xh[j] = xhat
        let t1 = xhat * gamma + beta
        var t2 = t1, g1: Float = 1
        if spade { g1 = 1 + sg![j]; t2 = t1 * g1 + sb![j] }
        let t3 = t2 * scale + shift
        var d3 = dy[j]
        if silu { d3 *= siluDerivative(t3) }
        sums.dScale += Double(d3 * t2); sums.dShift += Double(d3)
        let d2 = d3 * scale
        if spadeGrads { dsb![j] = d2; dsg![j] = d2 * t1 }
        let d1 = d2 * g1
        sums.dGamma += Double(d1 * xhat); sums.dBeta += Double(d1)
        let dxhat = d1 * gamma
        dxh[j] = dxhat
        sums.sumD += Double(dxhat); sums.sumDX += Double(dxhat * xhat)
        j += 1
    }
    return sums
}

/// d/dx [x sigmoid(x)] = s (1 + x (1 - s)), s = sigmoid(x). libm's expf: a scalar e^x (the 16-lane
/// `exp16` on a splat costs 16 lanes per element when the optimiser does not inline it).
@inlinable @inline(__always)
public func siluDerivative(_ x: Float) -> Float {
    let s = 1 / (1 + expf(-x))
    return s * (1 + x * (1 - s))
}


/// y[i] = silu(x[i]) for i in range (in place allowed).
@inlinable @inline(__always)
public func siluRun(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ range: Range<Int>) {
    var i = range.lowerBound
    while i + 16 <= range.upperBound {
        let v = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD16<Float>.self)
        UnsafeMutableRawPointer(y + i).storeBytes(of: v / (1 + exp16(-v)), as: SIMD16<Float>.self)
        i += 16
    }
    while i < range.upperBound { y[i] = siluScalar(x[i]); i += 1 }
}

@_transparent
public func siluScalar(_ x: Float) -> Float { x / (1 + expScalar(-x)) }

@_transparent
public func expScalar(_ x: Float) -> Float { exp16(SIMD16<Float>(repeating: x))[0] }

@_transparent
public func silu16(_ x: SIMD16<Float>) -> SIMD16<Float> { x / (1 + exp16(-x)) }

/// e^x for 16 lanes: x = n ln2 + r, |r| <= ln2/2, degree-7 Taylor polynomial in r (relative error
/// below 1e-7 on the clamped range), times 2^n built in the exponent bits. Rounding uses the 1.5 * 2^23
/// trick and clamping uses masks: the stdlib's SIMD rounded()/clamped() become per-lane calls (20x slower).
@_transparent
public func exp16(_ x: SIMD16<Float>) -> SIMD16<Float> {
    var xc = x
    xc.replace(with: SIMD16(repeating: -87), where: xc .< -87)
    xc.replace(with: SIMD16(repeating: 88), where: xc .> 88)
    let magic = SIMD16<Float>(repeating: 12582912)      // 1.5 * 2^23
    let t = xc * 1.44269504088896341 + magic
    let n = t - magic                                    // round(x / ln2)
    var r = xc - n * 0.693145751953125                   // ln2 high part (exact in float)
    r = r - n * 1.428606765330187045e-06                 // ln2 low part
    var p = SIMD16<Float>(repeating: 1.0 / 5040)
    p = p * r + 1.0 / 720
    p = p * r + 1.0 / 120
    p = p * r + 1.0 / 24
    p = p * r + 1.0 / 6
    p = p * r + 0.5
    p = p * r + 1
    p = p * r + 1
    let ni = unsafeBitCast(t, to: SIMD16<Int32>.self) &- 0x4B40_0000   // n as an integer
    return p * unsafeBitCast((ni &+ 127) &<< 23, to: SIMD16<Float>.self)
}
