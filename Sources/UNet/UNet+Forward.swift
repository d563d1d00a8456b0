// UNet.forward: the reference's NCSNpp / SPADE_NCSNpp forward, step for step. Every buffer comes from
// the model's arena (reset per call), so after the first call at a size nothing is allocated.
import Tensor

extension UNet {
    /// x: (N, C*n, H, W), t: (N) diffusion step (the reference's time_cond), cond: (N, C*(k+f), H, W)
    /// -> out: (N, C*n, H, W) predicted eps. H, W divisible by 2^(levels-1). Not reentrant.
    public func forward(x: UnsafePointer<Float>, t: [Float], cond: UnsafePointer<Float>?, n: Int, h: Int, w: Int,
                        into out: UnsafeMutablePointer<Float>, profile: Profile? = nil) {
        let c = config, a = arena, nf = c.ngf, levels = c.chMult.count
        // Checked in every build (fatalError prints its message in release builds, where a failed
        // precondition would stop without one): the callers' buffers are only as big as these say.
        if let problem = inputProblem(t: t.count, hasCond: cond != nil, n: n, h: h, w: w) { fatalError(problem) }
        a.reset()

        // 1. Input: NCSNpp concatenates [x, cond] on channels; SPADE_NCSNpp sees x only and resizes
        //    cond (nearest) to every level's size for its norms.
        let (xin, maps) = profile.measure(.copy) { prepareInputs(x: x, cond: cond, n: n, h: h, w: w, arena: a) }

        // 2. Time embedding: sinusoid(t, nf) -> Dense_0 -> SiLU -> Dense_1 (+ cond_emb row 1, i.e. the
        //    reference's default cond_mask of ones); every block's Dense_0 then reads silu(temb).
        var embAct: UnsafeMutablePointer<Float>? = nil, embDim = 0
        if let dense0, let dense1 {
            embDim = 4 * nf + (condEmbedding == nil ? 0 : nf / 2)
            let e0 = a.floats(n * nf), e1 = a.floats(n * 4 * nf), e2 = a.floats(n * 4 * nf), e = a.floats(n * embDim)
            let ctx0 = Context(params: params, packed: packed, arena: a, profile: nil, embAct: nil, embDim: 0, spadeMaps: [:])
            profile.measure(.embedding, flops: 2 * n * (nf * 4 * nf + 16 * nf * nf)) {
                timestepEmbedding(t, dim: nf, into: e0)
                dense0(e0, n: n, into: e1, ctx0)
                silu(e1, count: n * 4 * nf, into: e1)
                dense1(e1, n: n, into: e2, ctx0)
                for i in 0..<n {
                    (e + i * embDim).update(from: e2 + i * 4 * nf, count: 4 * nf)
                    if let table = condEmbedding {
                        (e + i * embDim + 4 * nf).update(from: params + table + nf / 2, count: nf / 2)
                    }
                }
                silu(e, count: n * embDim, into: e)
            }
            embAct = e
        }
        let ctx = Context(params: params, packed: packed, arena: a, profile: profile, embAct: embAct, embDim: embDim, spadeMaps: maps)

        // Runs `body` with scratch released afterwards; the result is carved before the mark.
        func step(_ ch: Int, _ hh: Int, _ ww: Int, _ body: (Tensor) -> Void) -> Tensor {
            let y = a.tensor(n, ch, hh, ww)
            let mark = a.mark()
            body(y)
            a.release(to: mark)
            return y
        }

        // 3. Down path: every block's output (after its attention) is a skip.
        skips.removeAll(keepingCapacity: true)
        skips.append(step(nf, h, w) { convIn(xin, into: $0, ctx) })
        for level in 0..<levels {
            for (block, attention) in down[level] {
                let prev = skips[skips.count - 1]
                var cur = step(block.outCh, prev.h, prev.w) { block(prev, into: $0, ctx) }
                if let attention { let x0 = cur; cur = step(x0.c, x0.h, x0.w) { attention(x0, into: $0, ctx) } }
                skips.append(cur)
            }
            if let ds = downSample[level] {
                let prev = skips[skips.count - 1]
                skips.append(step(ds.outCh, prev.h / 2, prev.w / 2) { ds(prev, into: $0, ctx) })
            }
        }

        // 4. Middle: ResBlock, attention, ResBlock.
        var cur = skips[skips.count - 1]
        do {
            let x0 = cur
            cur = step(middle.0.outCh, x0.h, x0.w) { middle.0(x0, into: $0, ctx) }
            let x1 = cur
            cur = step(x1.c, x1.h, x1.w) { middle.1(x1, into: $0, ctx) }
            let x2 = cur
            cur = step(middle.2.outCh, x2.h, x2.w) { middle.2(x2, into: $0, ctx) }
        }

        // 5. Up path: each block reads cat([h, skip], channels); attention after a level's blocks.
        for (i, blocks) in up.enumerated() {
            for block in blocks {
                let skip = skips.removeLast(), hcur = cur
                cur = step(block.outCh, hcur.h, hcur.w) { y in
                    let cat = a.tensor(n, hcur.c + skip.c, hcur.h, hcur.w)
                    profile.measure(.copy) {
                        for j in 0..<n {
                            (cat.data + j * cat.imageCount).update(from: hcur.data + j * hcur.imageCount, count: hcur.imageCount)
                            (cat.data + j * cat.imageCount + hcur.imageCount).update(from: skip.data + j * skip.imageCount,
                                                                                     count: skip.imageCount)
                        }
                    }
                    block(cat, into: y, ctx)
                }
            }
            if let attention = upAttn[i] { let x0 = cur; cur = step(x0.c, x0.h, x0.w) { attention(x0, into: $0, ctx) } }
            if let us = upSample[i] { let x0 = cur; cur = step(us.outCh, x0.h * 2, x0.w * 2) { us(x0, into: $0, ctx) } }
        }
        precondition(skips.isEmpty, "forward: skip bookkeeping")

        // 6. Final act-norm (GroupNorm or SPADE, then SiLU) and the output conv.
        finalNorm(cur, into: cur, ctx)
        let y = Tensor(out, n, c.outputChannels, h, w)
        let mark = a.mark()
        convOut(cur, into: y, ctx)
        a.release(to: mark)
        a.settle()
    }

    /// What is wrong with forward inputs of these sizes (batch n of h x w frames, t.count == tCount; with
    /// xCount / condCount when known), or nil when they fit the model. Callers that take inputs from
    /// users (the element, the CLI) can check first and report it; `forward` traps with it.
    public func inputProblem(t tCount: Int, hasCond: Bool, n: Int, h: Int, w: Int, xCount: Int? = nil,
                             condCount: Int? = nil) -> String? {
        let c = config, levels = c.chMult.count, plane = n * h * w
        if n < 1 || h < 1 || w < 1 { return "forward: batch \(n) of \(h)x\(w) frames" }
        if tCount != n { return "forward: \(tCount) time values for batch \(n)" }
        if h % (1 << (levels - 1)) != 0 || w % (1 << (levels - 1)) != 0 {
            return "forward: \(h)x\(w) not divisible by 2^\(levels - 1)"
        }
        if !hasCond && c.condFrames > 0 { return "forward: the model needs conditioning frames (zeros to mask)" }
        if let xCount, xCount != plane * c.outputChannels {
            return "forward: x has \(xCount) values, the model needs \(n) x \(c.outputChannels) x \(h) x \(w)"
        }
        if let condCount, condCount != plane * c.condChannels {
            return "forward: cond has \(condCount) values, the model needs \(n) x \(c.condChannels) x \(h) x \(w)"
        }
        return nil
    }

    /// Array convenience: x (N, C*n, H, W), t (N), cond (N, C*(k+f), H, W) -> (N, C*n, H, W).
    public func forward(x: [Float], t: [Float], cond: [Float]?, n: Int, h: Int, w: Int, profile: Profile? = nil) -> [Float] {
        if let problem = inputProblem(t: t.count, hasCond: cond != nil, n: n, h: h, w: w, xCount: x.count,
                                      condCount: cond?.count) { fatalError(problem) }
        var out = [Float](repeating: 0, count: x.count)
        x.withUnsafeBufferPointer { xp in
            out.withUnsafeMutableBufferPointer { op in
                if let cond {
                    cond.withUnsafeBufferPointer { cp in
                        forward(x: xp.baseAddress!, t: t, cond: cp.baseAddress!, n: n, h: h, w: w, into: op.baseAddress!,
                                profile: profile)
                    }
                } else {
                    forward(x: xp.baseAddress!, t: t, cond: nil, n: n, h: h, w: w, into: op.baseAddress!, profile: profile)
                }
            }
        }
        return out
    }
}

extension UNet {
    /// Step 1 of both forwards (inference and training). x: (N, C*n, H, W), cond: (N, C*(k+f), H, W) ->
    /// the network input (N, inputChannels, H, W): [x, cond] on channels for NCSNpp, x alone for
    /// SPADE_NCSNpp, whose conditioning is resized (nearest) to every level's size as `maps[height]`.
    func prepareInputs(x: UnsafePointer<Float>, cond: UnsafePointer<Float>?, n: Int, h: Int, w: Int,
                       arena a: Arena) -> (input: Tensor, maps: [Int: Tensor]) {
        let c = config, levels = c.chMult.count
        let xc = c.outputChannels, cc = c.condChannels, plane = h * w
        let xin = a.tensor(n, c.inputChannels, h, w)
        var maps: [Int: Tensor] = [:]
        for i in 0..<n {
            (xin.data + i * xin.imageCount).update(from: x + i * xc * plane, count: xc * plane)
            if !c.spade, let cond {
                (xin.data + i * xin.imageCount + xc * plane).update(from: cond + i * cc * plane, count: cc * plane)
            }
        }
        if c.spade, let cond {
            let full = a.tensor(n, cc, h, w)
            full.data.update(from: cond, count: full.count)
            maps[h] = full
            for level in 1..<max(1, levels) {
                let m = a.tensor(n, cc, h >> level, w >> level)
                nearestResize(full, into: m)
                maps[m.h] = m
            }
        }
        return (xin, maps)
    }
}
