// The reference's AttnBlockpp: GroupNorm, q/k/v by 1x1 "NIN" maps, softmax(q^T k / sqrt(d)) over all
// H*W positions per head, output NIN, residual add (optionally / sqrt 2). Query rows are split between
// the threads; the matrix products go through sgemm (Conv.swift).
import ConvKernels
import VectorMath

/// Parameters of one attention block, named as the reference state_dict (GroupNorm_0, NIN_0..3).
public struct AttentionWeights: @unchecked Sendable {
    /// norm gamma, beta: (C)
    public var normWeight: UnsafePointer<Float>, normBias: UnsafePointer<Float>
    /// nin[i].w: (C, C) stored (in, out) as NIN.W; nin[i].b: (C). Order q, k, v, out.
    public var nin: [(w: UnsafePointer<Float>, b: UnsafePointer<Float>)]
    public init(normWeight: UnsafePointer<Float>, normBias: UnsafePointer<Float>,
                nin: [(w: UnsafePointer<Float>, b: UnsafePointer<Float>)]) {
        self.normWeight = normWeight; self.normBias = normBias; self.nin = nin
    }
}

/// The reference's head count: C / headChannels heads, or 1 when headChannels is -1 or C < headChannels.
public func referenceHeads(channels: Int, headChannels: Int) -> Int {
    if headChannels <= 0 || channels < headChannels { return 1 }
    precondition(channels % headChannels == 0, "attention: \(channels) channels, \(headChannels) per head")
    return channels / headChannels
}

/// x: (N, C, H, W), w: NIN (C, C) stored (in, out), b: (C) -> y: (N, C, H, W); y = W^T x + b (+ residual) * scale.
public func nin(_ x: Tensor, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>, outChannels o: Int,
                into y: Tensor, residual: Tensor? = nil, scale: Float = 1) {
    let path = Engine.path
    if path.tiles {
        pointwiseTiles(path, x, weight: weight, strides: WeightStrides(tap: 0, channel: o, output: 1), bias: bias,
                       outChannels: o, into: y, residual: residual, scale: scale)
        return
    }
    let L = x.plane, ci = x.c
    Parallel.shared.split(x.n * 2) { parts in
        for part in parts {
            let img = part / 2, half = (L + 1) / 2
            let c0 = part % 2 == 0 ? 0 : half, cols = part % 2 == 0 ? half : L - half
            guard cols > 0 else { continue }
            let xi = x.data + img * ci * L + c0, yi = y.data + img * o * L + c0
            sgemm(transA: true, m: o, n: cols, k: ci, a: weight, lda: o, b: xi, ldb: L, c: yi, ldc: L)
            let res = residual.map { $0.data + img * o * L + c0 }
            for oc in 0..<o {
                let row = yi + oc * L, bv = bias[oc]
                if let res {
                    let r = res + oc * L
                    for j in 0..<cols { row[j] = (row[j] + bv + r[j]) * scale }
                } else {
                    for j in 0..<cols { row[j] = (row[j] + bv) * scale }
                }
            }
        }
    }
}

/// x: (N, C, H, W) -> y: (N, C, H, W). y must not alias x. Scratch from `arena` is released on return.
public func attentionBlock(_ x: Tensor, _ p: AttentionWeights, heads: Int, skipRescale: Bool, into y: Tensor,
                           arena: Arena) {
    let n = x.n, c = x.c, L = x.plane, ch = c / heads
    let mark = arena.mark()
    let h = arena.tensor(n, c, x.h, x.w)
    groupNorm(x, groups: referenceGroups(c), eps: 1e-6, NormModulation(gamma: p.normWeight, beta: p.normBias),
              activation: .none, into: h)
    let q = arena.tensor(n, c, x.h, x.w), k = arena.tensor(n, c, x.h, x.w), v = arena.tensor(n, c, x.h, x.w)
    nin(h, weight: p.nin[0].w, bias: p.nin[0].b, outChannels: c, into: q)
    nin(h, weight: p.nin[1].w, bias: p.nin[1].b, outChannels: c, into: k)
    nin(h, weight: p.nin[2].w, bias: p.nin[2].b, outChannels: c, into: v)
    // Query rows go in blocks whose score rows (block x L) stay in L2; each thread owns its rows.
    let block = max(16, min(L, (1 << 17) / L))
    let parts = Parallel.shared.threads
    let scores = arena.floats(parts * block * L), inverse = arena.floats(parts * block)
    let alpha = 1 / Float(ch).squareRoot()
    let loops = Loops.now
    // Reuse h for the attended values (N, C, H, W) before the output NIN.
    for img in 0..<n {
        for head in 0..<heads {
            let off = img * c * L + head * ch * L
            let qh = q.data + off, kh = k.data + off, vh = v.data + off, oh = h.data + off
            Parallel.shared.splitParts(L) { part, rows in
                let s = scores + part * block * L, inv = inverse + part * block
                var i0 = rows.lowerBound
                while i0 < rows.upperBound {
                    let m = min(block, rows.upperBound - i0)
                    // s[i, j] = alpha * sum_c q[c, i] k[c, j]
                    sgemm(transA: true, m: m, n: L, k: ch, alpha: alpha, a: qh + i0, lda: L, b: kh, ldb: L,
                          c: s, ldc: L)
                    for i in 0..<m { inv[i] = 1 / loops.softmaxNumerators(s + i * L, L) }
                    // o[c, i] = sum_j v[c, j] s[i, j] / sum_j s[i, j]
                    sgemm(transB: true, m: ch, n: m, k: L, a: vh, lda: L, b: s, ldb: L, c: oh + i0, ldc: L)
                    for cc in 0..<ch {
                        let row = oh + cc * L + i0
                        for i in 0..<m { row[i] *= inv[i] }
                    }
                    i0 += m
                }
            }
        }
    }
    nin(h, weight: p.nin[3].w, bias: p.nin[3].b, outChannels: c, into: y, residual: x,
        scale: skipRescale ? Float(0.5).squareRoot() : 1)
    arena.release(to: mark)
}

