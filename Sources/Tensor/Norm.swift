// Group normalisation fused with what the reference applies right after it: a per-channel affine,
// SPADE's spatial (1 + gamma, beta) maps, the time embedding's (1 + scale, shift), then SiLU.
// One pass for the statistics and one for the output, split over (image, group) between threads.

/// The reference's group count for `channels` (min(C/4, 32), lowered until it divides C).
public func referenceGroups(_ channels: Int) -> Int {
    var g = max(1, min(channels / 4, 32))
    while channels % g != 0 { g -= 1 }
    return g
}

public enum Activation: Sendable { case none, silu }

/// What follows the normalisation, all optional (nil = absent). Applied in this order:
/// t = (x - mean) * rstd; t = t * gamma + beta; t = t * (1 + spadeGamma) + spadeBeta;
/// t = t * (1 + scale) + shift; y = act(t).
public struct NormModulation: @unchecked Sendable {
    /// gamma, beta: (C) — nn.GroupNorm affine.
    public var gamma: UnsafePointer<Float>?, beta: UnsafePointer<Float>?
    /// spadeGamma, spadeBeta: (N, C, H, W), images `spadeImageStride` floats apart (default C*H*W; one
    /// (N, 2C, H, W) buffer holding gamma then beta per image has stride 2C*H*W).
    public var spadeGamma: Tensor?, spadeBeta: Tensor?
    public var spadeImageStride: Int?
    /// scaleShift: (N, 2C), first C the scale, then the shift (torch.chunk(emb, 2, dim=1)).
    public var scaleShift: UnsafePointer<Float>?
    public init(gamma: UnsafePointer<Float>? = nil, beta: UnsafePointer<Float>? = nil, spadeGamma: Tensor? = nil,
                spadeBeta: Tensor? = nil, scaleShift: UnsafePointer<Float>? = nil) {
        self.gamma = gamma; self.beta = beta; self.spadeGamma = spadeGamma; self.spadeBeta = spadeBeta
        self.scaleShift = scaleShift
    }
}

/// x: (N, C, H, W) -> y: (N, C, H, W), G groups of C/G channels each. y may alias x.
public func groupNorm(_ x: Tensor, groups g: Int, eps: Float, _ m: NormModulation = NormModulation(),
                      activation: Activation, into y: Tensor) {
    precondition(x.count == y.count && x.c % g == 0, "groupNorm: shapes \(x.shape) -> \(y.shape), groups \(g)")
    let cpg = x.c / g, plane = x.plane, c = x.c
    Parallel.shared.split(x.n * g) { units in
        for unit in units {
            let img = unit / g, c0 = (unit % g) * cpg
            let base = img * x.imageCount + c0 * plane
            let (mean, rstd) = moments(x.data + base, count: cpg * plane, eps: eps)
            for ch in c0..<(c0 + cpg) {
                // Fold every per-channel factor into a, b: t = x * a + b, then the spatial maps.
                var a = rstd, b = -mean * rstd
                if let gm = m.gamma { a *= gm[ch]; b *= gm[ch] }
                if let bt = m.beta { b += bt[ch] }
                var post: (Float, Float) = (1, 0)
                if let ss = m.scaleShift { post = (1 + ss[img * 2 * c + ch], ss[img * 2 * c + c + ch]) }
                let off = img * x.imageCount + ch * plane
                let src = x.data + off, dst = y.data + off
                if let sg = m.spadeGamma, let sb = m.spadeBeta {
                    let moff = img * (m.spadeImageStride ?? x.imageCount) + ch * plane
                    modulateSpatial(src, dst, plane, a, b, sg.data + moff, sb.data + moff, post, activation)
                } else {
                    let fa = a * post.0, fb = b * post.0 + post.1
                    affineActivate(src, dst, plane, fa, fb, activation)
                }
            }
        }
    }
}

/// Mean and 1/sqrt(var + eps) of `count` floats (biased variance, as torch): two passes (mean, then
/// squared deviations), Float lanes over runs of 512 folded into Double, so large means do not cancel.
@inline(__always)
func moments(_ p: UnsafePointer<Float>, count: Int, eps: Float) -> (Float, Float) {
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

@inline(__always)
func affineActivate(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ count: Int, _ a: Float,
                    _ b: Float, _ act: Activation) {
    var i = 0
    let va = SIMD16<Float>(repeating: a), vb = SIMD16<Float>(repeating: b)
    if act == .silu {
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
    while i < count { let t = src[i] * a + b; dst[i] = act == .silu ? siluScalar(t) : t; i += 1 }
}

@inline(__always)
func modulateSpatial(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ count: Int, _ a: Float,
                     _ b: Float, _ g: UnsafePointer<Float>, _ be: UnsafePointer<Float>, _ post: (Float, Float),
                     _ act: Activation) {
    var i = 0
    let va = SIMD16<Float>(repeating: a), vb = SIMD16<Float>(repeating: b)
    let p0 = SIMD16<Float>(repeating: post.0), p1 = SIMD16<Float>(repeating: post.1)
    let one = SIMD16<Float>(repeating: 1)
    while i + 16 <= count {
        let x = UnsafeRawPointer(src + i).loadUnaligned(as: SIMD16<Float>.self)
        let gv = UnsafeRawPointer(g + i).loadUnaligned(as: SIMD16<Float>.self)
        let bv = UnsafeRawPointer(be + i).loadUnaligned(as: SIMD16<Float>.self)
        var t = ((x * va + vb) * (one + gv) + bv) * p0 + p1
        if act == .silu { t = silu16(t) }
        UnsafeMutableRawPointer(dst + i).storeBytes(of: t, as: SIMD16<Float>.self)
        i += 16
    }
    while i < count {
        let t = ((src[i] * a + b) * (1 + g[i]) + be[i]) * post.0 + post.1
        dst[i] = act == .silu ? siluScalar(t) : t
        i += 1
    }
}

/// x: any (count) -> y = x * sigmoid(x), in place allowed.
public func silu(_ x: UnsafePointer<Float>, count: Int, into y: UnsafeMutablePointer<Float>) {
    // Halves on 16-float boundaries when large enough to be worth the second thread.
    let chunks = count >= 1 << 14 ? (count + 15) / 16 : 1
    Parallel.shared.split(chunks) { r in
        var i = chunks == 1 ? 0 : r.lowerBound * 16
        let end = chunks == 1 ? count : min(count, r.upperBound * 16)
        while i + 16 <= end {
            let v = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD16<Float>.self)
            UnsafeMutableRawPointer(y + i).storeBytes(of: v / (1 + exp16(-v)), as: SIMD16<Float>.self)
            i += 16
        }
        while i < end { y[i] = siluScalar(x[i]); i += 1 }
    }
}

@inline(__always)
public func siluScalar(_ x: Float) -> Float { x / (1 + expScalar(-x)) }

@inline(__always)
func expScalar(_ x: Float) -> Float { exp16(SIMD16<Float>(repeating: x))[0] }

@inline(__always)
public func silu16(_ x: SIMD16<Float>) -> SIMD16<Float> { x / (1 + exp16(-x)) }

/// e^x for 16 lanes: x = n ln2 + r, |r| <= ln2/2, degree-7 Taylor polynomial in r (relative error
/// below 1e-7 on the clamped range), times 2^n built in the exponent bits. Rounding uses the 1.5 * 2^23
/// trick and clamping uses masks: the stdlib's SIMD rounded()/clamped() become per-lane calls (20x slower).
@inline(__always)
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
