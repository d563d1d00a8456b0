// Backward of Attention.swift: the 1x1 NIN map and the whole AttnBlockpp. The block's backward
// recomputes its inside (norm, q, k, v, softmax rows) from x rather than keeping (L x L) probabilities
// of every block alive between the passes. Matrix products go through sgemm.
import ConvKernels
import VectorMath

/// Where an attention block's parameter gradients go (+=), laid out as `AttentionWeights`.
public struct AttentionGradients: @unchecked Sendable {
    public var normWeight: UnsafeMutablePointer<Float>, normBias: UnsafeMutablePointer<Float>
    /// Order q, k, v, out; w: (C, C) stored (in, out), b: (C).
    public var nin: [(w: UnsafeMutablePointer<Float>, b: UnsafeMutablePointer<Float>)]
    public init(normWeight: UnsafeMutablePointer<Float>, normBias: UnsafeMutablePointer<Float>,
                nin: [(w: UnsafeMutablePointer<Float>, b: UnsafeMutablePointer<Float>)]) {
        self.normWeight = normWeight; self.normBias = normBias; self.nin = nin
    }
}

/// x: (N, C, H, W), w: (C, O) stored (in, out), dy: (N, O, H, W) ->
///   dx: (N, C, H, W) (overwritten or +=), dWeight: (C, O) +=, dBias: (O) +=. Forward: y = W^T x + b.
public func ninBackward(_ x: Tensor, weight: UnsafePointer<Float>, outChannels o: Int, dy: Tensor, dx: Tensor?,
                        accumulate: Bool = false, dWeight: UnsafeMutablePointer<Float>,
                        dBias: UnsafeMutablePointer<Float>) {
    let L = x.plane, ci = x.c
    var dx = dx
    let path = Engine.path
    if let target = dx, path.tiles {
        // dx (C x L) = W (C x O) . dy (O x L): a NIN of dy with W transposed, on the tiles.
        pointwiseTiles(path, dy, weight: weight, strides: WeightStrides(tap: 0, channel: 1, output: o), bias: nil,
                       outChannels: ci, into: target, accumulate: accumulate)
        dx = nil
    }
    // Two fixed halves of the batch as in conv2dBackward: half 1's weight gradient goes to a partial
    // added at the end, so the bits do not depend on the thread count.
    let halves = backwardHalves(x.n)
    let partial = halves.count > 1 ? UnsafeMutablePointer<Float>.allocate(capacity: ci * o) : nil
    defer { partial?.deallocate() }
    partial?.update(repeating: 0, count: ci * o)
    accumulateBiasGradient(dy, into: dBias)
    runHalves(halves.count) { part in
        let dW = part == 0 ? dWeight : partial!
        for img in halves[part] {
            let xi = x.data + img * ci * L, dyi = dy.data + img * o * L
            // dW (C x O) += x (C x L) . dy^T (L x O)
            sgemm(transB: true, m: ci, n: o, k: L, a: xi, lda: L, b: dyi, ldb: L, beta: 1, c: dW, ldc: o)
            if let dx {
                // dx (C x L) = W (C x O) . dy (O x L)
                sgemm(m: ci, n: L, k: o, a: weight, lda: o, b: dyi, ldb: L, beta: accumulate ? 1 : 0,
                      c: dx.data + img * ci * L, ldc: L)
            }
        }
    }
    if let partial { Parallel.shared.split(ci * o) { r in for i in r { dWeight[i] += partial[i] } } }
}

/// x: (N, C, H, W), dy: (N, C, H, W) -> dx: (N, C, H, W) (overwritten, or += when `accumulate`) and the
/// parameter gradients (+=). The forward is `attentionBlock(x, p, heads:, skipRescale:)`.
public func attentionBlockBackward(_ x: Tensor, _ p: AttentionWeights, heads: Int, skipRescale: Bool, dy: Tensor,
                                   dx: Tensor, accumulate: Bool = false, _ grads: AttentionGradients, arena: Arena) {
    let n = x.n, c = x.c, L = x.plane, ch = c / heads
    let scale: Float = skipRescale ? Float(0.5).squareRoot() : 1
    let alpha = 1 / Float(ch).squareRoot()
    let mark = arena.mark()
    func carve() -> Tensor { arena.tensor(n, c, x.h, x.w) }
    // Recompute the forward's inside.
    let h = carve(), q = carve(), k = carve(), v = carve(), o = carve()
    groupNorm(x, groups: referenceGroups(c), eps: 1e-6, NormModulation(gamma: p.normWeight, beta: p.normBias),
              activation: .none, into: h)
    nin(h, weight: p.nin[0].w, bias: p.nin[0].b, outChannels: c, into: q)
    nin(h, weight: p.nin[1].w, bias: p.nin[1].b, outChannels: c, into: k)
    nin(h, weight: p.nin[2].w, bias: p.nin[2].b, outChannels: c, into: v)
    let halves = backwardHalves(n)
    let scratch = arena.floats(2 * L * L * halves.count)

    // y = (x + NIN_3(o)) * scale: dz = dy * scale flows to x directly and into NIN_3.
    let dz = carve(), dO = carve(), dQ = carve(), dK = carve(), dV = carve()
    // Images are independent from here to the NIN backwards: each half of the batch on its thread.
    let loops = Loops.now   // read here: the worker thread does not see a test task's kernel choice
    runHalves(halves.count) { part in
        let probs = scratch + part * 2 * L * L, dP = probs + L * L
        for img in halves[part] {
            let base = img * c * L
            for i in base..<(base + c * L) { dz.data[i] = dy.data[i] * scale }
            // dO (C x L) = W_3 (C x C) . dz (C x L) (NIN_3's input gradient; its weight gradient needs o
            // and comes after the head loop).
            sgemm(m: c, n: L, k: c, a: p.nin[3].w, lda: c, b: dz.data + base, ldb: L, c: dO.data + base, ldc: L)
            for head in 0..<heads {
                let off = base + head * ch * L
                // P[i, j] = softmax_j(alpha q_i . k_j); o[:, i] = sum_j v[:, j] P[i, j]
                sgemm(transA: true, m: L, n: L, k: ch, alpha: alpha, a: q.data + off, lda: L, b: k.data + off, ldb: L,
                      c: probs, ldc: L)
                for i in 0..<L {
                    let inv = 1 / loops.softmaxNumerators(probs + i * L, L)
                    for j in 0..<L { probs[i * L + j] *= inv }
                }
                sgemm(transB: true, m: ch, n: L, k: L, a: v.data + off, lda: L, b: probs, ldb: L, c: o.data + off, ldc: L)
                // dV (ch x L) = dO (ch x L) . P (L x L); dP (L x L) = dO^T (L x ch) . V (ch x L)
                sgemm(m: ch, n: L, k: L, a: dO.data + off, lda: L, b: probs, ldb: L, c: dV.data + off, ldc: L)
                sgemm(transA: true, m: L, n: L, k: ch, a: dO.data + off, lda: L, b: v.data + off, ldb: L, c: dP, ldc: L)
                // dS = P * (dP - rowsum(dP * P)), folded with alpha into dP.
                for i in 0..<L {
                    let pr = probs + i * L, dr = dP + i * L
                    var dot: Float = 0
                    for j in 0..<L { dot += pr[j] * dr[j] }
                    for j in 0..<L { dr[j] = alpha * pr[j] * (dr[j] - dot) }
                }
                // dQ (ch x L) = K (ch x L) . dS^T; dK (ch x L) = Q (ch x L) . dS
                sgemm(transB: true, m: ch, n: L, k: L, a: k.data + off, lda: L, b: dP, ldb: L, c: dQ.data + off, ldc: L)
                sgemm(m: ch, n: L, k: L, a: q.data + off, lda: L, b: dP, ldb: L, c: dK.data + off, ldc: L)
            }
        }
    }
    ninBackward(o, weight: p.nin[3].w, outChannels: c, dy: dz, dx: nil, dWeight: grads.nin[3].w, dBias: grads.nin[3].b)
    let dH = carve()
    ninBackward(h, weight: p.nin[0].w, outChannels: c, dy: dQ, dx: dH, dWeight: grads.nin[0].w, dBias: grads.nin[0].b)
    ninBackward(h, weight: p.nin[1].w, outChannels: c, dy: dK, dx: dH, accumulate: true, dWeight: grads.nin[1].w,
                dBias: grads.nin[1].b)
    ninBackward(h, weight: p.nin[2].w, outChannels: c, dy: dV, dx: dH, accumulate: true, dWeight: grads.nin[2].w,
                dBias: grads.nin[2].b)
    groupNormBackward(x, groups: referenceGroups(c), eps: 1e-6, NormModulation(gamma: p.normWeight, beta: p.normBias),
                      activation: .none, dy: dH, dx: dx, accumulate: accumulate,
                      NormGradients(gamma: grads.normWeight, beta: grads.normBias))
    // The residual path.
    Parallel.shared.split(dx.count) { r in for i in r { dx.data[i] += dz.data[i] } }
    arena.release(to: mark)
}
