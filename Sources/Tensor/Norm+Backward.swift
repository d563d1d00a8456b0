// Backward of Norm.swift's fused group norm (affine, SPADE maps, time scale/shift, SiLU) and of SiLU.
// The statistics are recomputed from x (cheap next to storing them); per-channel sums run in 16 Float
// lanes added into Double every 512 values.
// Work is split over groups (each thread owns its channels for every image), so no two threads add
// into the same gradient entry and the result does not depend on the thread count.

import Foundation

/// Where the parameter-side gradients of a `groupNorm` go; each is += and may be nil.
public struct NormGradients: @unchecked Sendable {
    /// dGamma, dBeta: (C) — the affine weights.
    public var gamma: UnsafeMutablePointer<Float>?, beta: UnsafeMutablePointer<Float>?
    /// (N, C, H, W) — SPADE's maps (overwritten, not accumulated).
    public var spadeGamma: Tensor?, spadeBeta: Tensor?
    /// (N, 2C) — the time embedding's scale then shift (overwritten).
    public var scaleShift: UnsafeMutablePointer<Float>?
    public init(gamma: UnsafeMutablePointer<Float>? = nil, beta: UnsafeMutablePointer<Float>? = nil,
                spadeGamma: Tensor? = nil, spadeBeta: Tensor? = nil, scaleShift: UnsafeMutablePointer<Float>? = nil) {
        self.gamma = gamma; self.beta = beta; self.spadeGamma = spadeGamma; self.spadeBeta = spadeBeta
        self.scaleShift = scaleShift
    }
}

/// x: (N, C, H, W), dy: (N, C, H, W) -> dx: (N, C, H, W) (overwritten, or += when `accumulate`), and
/// the gradients `g` of what `m` holds. The forward is `groupNorm(x, groups:, eps:, m, activation:)`.
/// dx must not alias x or dy.
public func groupNormBackward(_ x: Tensor, groups g: Int, eps: Float, _ m: NormModulation = NormModulation(),
                              activation: Activation, dy: Tensor, dx: Tensor, accumulate: Bool = false,
                              _ grads: NormGradients = NormGradients()) {
    precondition(x.count == dy.count && x.count == dx.count && x.c % g == 0, "groupNormBackward: shapes")
    let cpg = x.c / g, plane = x.plane, c = x.c
    Parallel.shared.split(g) { groupRange in
        do {
            let xhatBuf = UnsafeMutablePointer<Float>.allocate(capacity: 2 * cpg * plane), dxhatBuf = xhatBuf + cpg * plane
            defer { xhatBuf.deallocate() }
            for group in groupRange {
                let c0 = group * cpg
                for img in 0..<x.n {
                    let base = img * x.imageCount + c0 * plane
                    let (mean, rstd) = moments(x.data + base, count: cpg * plane, eps: eps)
                    var sumD = 0.0, sumDX = 0.0
                    for cl in 0..<cpg {
                        let ch = c0 + cl, off = img * x.imageCount + ch * plane
                        let src = x.data + off, dyp = dy.data + off
                        let xh = xhatBuf + cl * plane, dxh = dxhatBuf + cl * plane
                        let gm = m.gamma?[ch] ?? 1, bt = m.beta?[ch] ?? 0
                        var p0: Float = 1, p1: Float = 0
                        if let ss = m.scaleShift { p0 = 1 + ss[img * 2 * c + ch]; p1 = ss[img * 2 * c + c + ch] }
                        let sg = m.spadeGamma.map { UnsafePointer($0.data + off) }
                        let sb = m.spadeBeta.map { UnsafePointer($0.data + off) }
                        let dsg = grads.spadeGamma.map { $0.data + off }, dsb = grads.spadeBeta.map { $0.data + off }
                        let r = normBackwardPlane(src, dy: dyp, count: plane, mean: mean, rstd: rstd, gamma: gm, beta: bt,
                                                  scale: p0, shift: p1, spadeGamma: sg, spadeBeta: sb,
                                                  silu: activation == .silu, xhat: xh, dxhat: dxh, dSpadeGamma: dsg,
                                                  dSpadeBeta: dsb)
                        let (dGm, dBt, dP0, dP1) = (r.dGamma, r.dBeta, r.dScale, r.dShift)
                        sumD += r.sumD; sumDX += r.sumDX
                        grads.gamma?[ch] += Float(dGm)
                        grads.beta?[ch] += Float(dBt)
                        if let dss = grads.scaleShift { dss[img * 2 * c + ch] = Float(dP0); dss[img * 2 * c + c + ch] = Float(dP1) }
                    }
                    // dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)) over the group.
                    let count = Double(cpg * plane)
                    let meanD = Float(sumD / count), meanDX = Float(sumDX / count)
                    let out = dx.data + base
                    for j in 0..<(cpg * plane) {
                        let v = rstd * (dxhatBuf[j] - meanD - xhatBuf[j] * meanDX)
                        if accumulate { out[j] += v } else { out[j] = v }
                    }
                }
            }
        }
    }
}

/// Sums over one channel's plane made by `normBackwardPlane`.
struct NormPlaneSums { var dGamma = 0.0, dBeta = 0.0, dScale = 0.0, dShift = 0.0, sumD = 0.0, sumDX = 0.0 }

/// One channel of `groupNormBackward`, 16 lanes at a time (Float lanes, added into Double every 512
/// values as `moments` does). The chain per value, forward: xhat = (x - mean) rstd, t1 = xhat gamma + beta,
/// t2 = t1 (1 + sg) + sb (SPADE), t3 = t2 scale + shift, y = silu(t3) or t3. Writes xhat and dL/dxhat
/// (count values each), the SPADE map gradients when given, and returns the sums.
@inline(__always)
func normBackwardPlane(_ x: UnsafePointer<Float>, dy: UnsafePointer<Float>, count: Int, mean: Float, rstd: Float,
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
@inline(__always)
public func siluDerivative(_ x: Float) -> Float {
    let s = 1 / (1 + expf(-x))
    return s * (1 + x * (1 - s))
}

/// x: pre-activation (count), dy: (count) -> dx = dy * silu'(x) (dx may alias dy).
public func siluBackward(_ x: UnsafePointer<Float>, dy: UnsafePointer<Float>, count: Int,
                         into dx: UnsafeMutablePointer<Float>) {
    Parallel.shared.split(count) { r in
        for i in r { dx[i] = dy[i] * siluDerivative(x[i]) }
    }
}
