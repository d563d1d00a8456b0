// Backward of Norm.swift's fused group norm (affine, SPADE maps, time scale/shift, SiLU) and of SiLU.
// The statistics are recomputed from x (cheap next to storing them); per-channel sums run in 16 Float
// lanes added into Double every 512 values.
// Work is split over groups (each thread owns its channels for every image), so no two threads add
// into the same gradient entry and the result does not depend on the thread count.

import Foundation
import VectorMath

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
    let loops = Loops.now
    Parallel.shared.split(g) { groupRange in
        do {
            let xhatBuf = UnsafeMutablePointer<Float>.allocate(capacity: 2 * cpg * plane), dxhatBuf = xhatBuf + cpg * plane
            defer { xhatBuf.deallocate() }
            for group in groupRange {
                let c0 = group * cpg
                for img in 0..<x.n {
                    let base = img * x.imageCount + c0 * plane
                    let (mean, rstd) = loops.moments(x.data + base, count: cpg * plane, eps: eps)
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
                        let r = loops.normBackwardPlane(src, dy: dyp, count: plane, mean: mean, rstd: rstd, gamma: gm,
                                                        beta: bt, scale: p0, shift: p1, spadeGamma: sg, spadeBeta: sb,
                                                        silu: activation == .silu, xhat: xh, dxhat: dxh,
                                                        dSpadeGamma: dsg, dSpadeBeta: dsb)
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

/// x: pre-activation (count), dy: (count) -> dx = dy * silu'(x) (dx may alias dy).
public func siluBackward(_ x: UnsafePointer<Float>, dy: UnsafePointer<Float>, count: Int,
                         into dx: UnsafeMutablePointer<Float>) {
    Parallel.shared.split(count) { r in
        for i in r { dx[i] = dy[i] * siluDerivative(x[i]) }
    }
}
