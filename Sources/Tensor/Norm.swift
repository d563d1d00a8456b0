// Group normalisation fused with what the reference applies right after it: a per-channel affine,
// SPADE's spatial (1 + gamma, beta) maps, the time embedding's (1 + scale, shift), then SiLU.
// One pass for the statistics and one for the output, split over (image, group) between threads.
import VectorMath

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
    let loops = Loops.now
    Parallel.shared.split(x.n * g) { units in
        for unit in units {
            let img = unit / g, c0 = (unit % g) * cpg
            let base = img * x.imageCount + c0 * plane
            let (mean, rstd) = loops.moments(x.data + base, count: cpg * plane, eps: eps)
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
                    loops.modulateSpatial(src, dst, plane, a, b, sg.data + moff, sb.data + moff, post, activation == .silu)
                } else {
                    let fa = a * post.0, fb = b * post.0 + post.1
                    loops.affineActivate(src, dst, plane, fa, fb, activation == .silu)
                }
            }
        }
    }
}

/// x: any (count) -> y = x * sigmoid(x), in place allowed.
public func silu(_ x: UnsafePointer<Float>, count: Int, into y: UnsafeMutablePointer<Float>) {
    // Halves on 16-float boundaries when large enough to be worth the second thread.
    let chunks = count >= 1 << 14 ? (count + 15) / 16 : 1
    let loops = Loops.now
    Parallel.shared.split(chunks) { r in
        let range = chunks == 1 ? 0..<count : (r.lowerBound * 16)..<min(count, r.upperBound * 16)
        loops.siluRun(x, y, range)
    }
}
