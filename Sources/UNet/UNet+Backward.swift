// Training pass of the U-Net: a forward that keeps what the backward needs (activations in one arena,
// reset per step), with the reference's dropout in the res blocks, and the backward that turns
// dLoss/dOutput into the gradient of every parameter, laid out as the model's parameter buffer (so a
// name's gradient sits at its parameter's offset). Ops and their backwards live in module Tensor.
import Tensor

/// Fills a dropout keep-mask for res block `layer` (its ordinal in forward order): each value 0 or
/// 1 / (1 - p). Supplied by the trainer, which owns the RNG.
public typealias DropoutFill = (_ layer: Int, _ mask: UnsafeMutableBufferPointer<Float>) -> Void

/// One forward + backward at a time for one model. Not reentrant.
public final class UNetTraining: @unchecked Sendable {
    public let model: UNet
    /// dLoss/dparameter, same layout and length as the model's parameter buffer (`parameterStorage`).
    public let gradients: UnsafeMutablePointer<Float>
    public var storageCount: Int { model.parameterStorageCount }
    let acts = Arena(capacity: 1 << 20)
    let back = Arena(capacity: 1 << 20)

    // What the forward keeps for the backward.
    struct NormCache { var x: Tensor; var y: Tensor; var ss: UnsafeMutablePointer<Float>?
        var spade: (cond: Tensor, a0: Tensor, actv: Tensor, g: Tensor, b: Tensor)? }
    struct ResCache { var x: Tensor; var n0: NormCache; var h0r: Tensor; var xs: Tensor; var c0: Tensor
        var n1: NormCache; var h1d: Tensor; var mask: UnsafeMutablePointer<Float>?; var y: Tensor }
    var n = 0, embAct: UnsafeMutablePointer<Float>? = nil
    var emb: (e0: UnsafeMutablePointer<Float>, e1pre: UnsafeMutablePointer<Float>, e1: UnsafeMutablePointer<Float>,
              e2: UnsafeMutablePointer<Float>)? = nil
    var maps: [Int: Tensor] = [:]
    var xin = Tensor(UnsafeMutablePointer<Float>(bitPattern: 64)!, 0, 0, 0, 0)
    var skips: [Tensor] = []
    var downCaches: [[(res: ResCache, attn: Tensor?, input: Int, output: Int)]] = []
    var downSampleCaches: [(res: ResCache, input: Int, output: Int)?] = []
    var middleCaches: (ResCache, Tensor, ResCache)? = nil
    var upCaches: [[(res: ResCache, skip: Int)]] = []
    var upAttnCaches: [Tensor?] = [], upSampleCaches: [ResCache?] = []
    var finalCache: NormCache? = nil
    var ordinal = 0
    /// When true, the forward's 3x3 convolutions read the model's packed weight copies instead of packing
    /// the parameters per call: only valid while `model.prepare()` has run since the last parameter
    /// change (the trainer keeps it so). Off by default (e.g. gradient checks edit parameters in place).
    public var usePackedWeights = false

    public init(model: UNet) {
        precondition(!model.config.condEmb, "training: cond_emb is not supported")
        precondition(model.config.timeConditional, "training: the network must be time-conditional")
        self.model = model
        gradients = .allocate(capacity: model.parameterStorageCount)
        zeroGradients()
    }
    deinit { gradients.deallocate() }

    public func zeroGradients() { gradients.update(repeating: 0, count: model.parameterStorageCount) }

    /// The gradient of a parameter by its reference name (no prefix).
    public func gradient(_ name: String) -> [Float]? {
        guard let (offset, count) = model.parameterLocation(name) else { return nil }
        return Array(UnsafeBufferPointer(start: gradients + offset, count: count))
    }

    var p: UnsafeMutablePointer<Float> { model.params }

    // MARK: - Layer forwards that keep their inputs

    func conv(_ l: ConvLayer, _ x: Tensor, into y: Tensor, residual: Tensor? = nil, scale: Float = 1) {
        let packed = usePackedWeights ? l.packed.map { UnsafePointer(model.packed + $0) } : nil
        let winograd = usePackedWeights ? l.winograd.map { UnsafePointer(model.packed + $0) } : nil
        conv2d(x, weight: p + l.w, bias: p + l.b, shape: l.shape, into: y, residual: residual, scale: scale,
               packedWeight: packed, winogradWeight: winograd, arena: acts)
    }

    func actNorm(_ l: ActNorm, _ x: Tensor) -> NormCache {
        let y = acts.tensor(x.n, x.c, x.h, x.w)
        var cache = NormCache(x: x, y: y, ss: nil, spade: nil)
        var m = NormModulation()
        if let affine = l.affine { m.gamma = UnsafePointer(p + affine.w); m.beta = UnsafePointer(p + affine.b) }
        if let dense = l.dense, let e = embAct {
            let ss = acts.floats(x.n * 2 * l.channels)
            linear(e, n: x.n, inFeatures: dense.inFeatures, weight: p + dense.w, bias: p + dense.b,
                   outFeatures: dense.outFeatures, into: ss)
            m.scaleShift = UnsafePointer(ss); cache.ss = ss
        }
        if let spade = l.spade {
            guard let cond = maps[x.h] else { preconditionFailure("SPADE: no conditioning at \(x.h)") }
            let sd = spade.shared.shape.outChannels
            let a0 = acts.tensor(x.n, sd, x.h, x.w), actv = acts.tensor(x.n, sd, x.h, x.w)
            let g = acts.tensor(x.n, x.c, x.h, x.w), b = acts.tensor(x.n, x.c, x.h, x.w)
            conv(spade.shared, cond, into: a0)
            silu(a0.data, count: a0.count, into: actv.data)
            conv(spade.gamma, actv, into: g)
            conv(spade.beta, actv, into: b)
            m.spadeGamma = g; m.spadeBeta = b
            cache.spade = (cond, a0, actv, g, b)
        }
        groupNorm(x, groups: l.groups, eps: l.eps, m, activation: .silu, into: y)
        return cache
    }

    func res(_ l: ResBlock, _ x: Tensor, dropout: DropoutFill?) -> ResCache {
        let n0 = actNorm(l.norm0, x)
        var h0r = n0.y, xs = x
        let (oh, ow) = l.outSize(x.h, x.w)
        if l.up || l.down {
            h0r = acts.tensor(x.n, l.inCh, oh, ow); xs = acts.tensor(x.n, l.inCh, oh, ow)
            if l.up { firUpsample2x(n0.y, into: h0r); firUpsample2x(x, into: xs) }
            else { firDownsample2x(n0.y, into: h0r); firDownsample2x(x, into: xs) }
        }
        let c0 = acts.tensor(x.n, l.outCh, oh, ow)
        conv(l.conv0, h0r, into: c0)
        let n1 = actNorm(l.norm1, c0)
        var h1d = n1.y, mask: UnsafeMutablePointer<Float>? = nil
        if let dropout {
            let m = acts.floats(n1.y.count)
            dropout(ordinal, UnsafeMutableBufferPointer(start: m, count: n1.y.count))
            h1d = acts.tensor(x.n, l.outCh, oh, ow)
            Parallel.shared.split(h1d.count) { r in for i in r { h1d.data[i] = n1.y.data[i] * m[i] } }
            mask = m
        }
        ordinal += 1
        let y = acts.tensor(x.n, l.outCh, oh, ow)
        var residual = xs
        if let sc = l.shortcut {
            residual = acts.tensor(x.n, l.outCh, oh, ow)
            conv(sc, xs, into: residual)
        }
        conv(l.conv1, h1d, into: y, residual: residual, scale: Float(0.5).squareRoot())
        return ResCache(x: x, n0: n0, h0r: h0r, xs: xs, c0: c0, n1: n1, h1d: h1d, mask: mask, y: y)
    }

    func attn(_ l: AttnLayer, _ x: Tensor) -> Tensor {
        let y = acts.tensor(x.n, x.c, x.h, x.w)
        attentionBlock(x, weights(l), heads: l.heads, skipRescale: true, into: y, arena: acts)
        return y
    }

    func weights(_ l: AttnLayer) -> AttentionWeights {
        AttentionWeights(normWeight: p + l.normW, normBias: p + l.normB,
                         nin: l.nin.map { (UnsafePointer(p + $0.w), UnsafePointer(p + $0.b)) })
    }

    // MARK: - Forward

    /// x: (N, C*n, H, W), t: (N) the network's time input (`timeCond`), cond: (N, C*(k+f), H, W)
    /// -> out: (N, C*n, H, W). Same computation as `UNet.forward` (plus dropout when `dropout` is given),
    /// keeping activations for `backward`.
    public func forward(x: UnsafePointer<Float>, t: [Float], cond: UnsafePointer<Float>?, n: Int, h: Int, w: Int,
                        into out: UnsafeMutablePointer<Float>, dropout: DropoutFill? = nil) {
        let m = model, c = m.config, nf = c.ngf, levels = c.chMult.count, a = acts
        precondition(t.count == n && h % (1 << (levels - 1)) == 0 && w % (1 << (levels - 1)) == 0, "forward: shapes")
        precondition(cond != nil || c.condFrames == 0, "forward: the model needs conditioning frames")
        a.reset()
        self.n = n
        ordinal = 0

        // 1. Input (concat) or conditioning maps (SPATIN).
        (xin, maps) = m.prepareInputs(x: x, cond: cond, n: n, h: h, w: w, arena: a)

        // 2. Time embedding.
        let (d0, d1) = (m.dense0!, m.dense1!)
        let e0 = a.floats(n * nf), e1pre = a.floats(n * 4 * nf), e1 = a.floats(n * 4 * nf)
        let e2 = a.floats(n * 4 * nf), e = a.floats(n * 4 * nf)
        timestepEmbedding(t, dim: nf, into: e0)
        linear(e0, n: n, inFeatures: nf, weight: p + d0.w, bias: p + d0.b, outFeatures: 4 * nf, into: e1pre)
        silu(e1pre, count: n * 4 * nf, into: e1)
        linear(e1, n: n, inFeatures: 4 * nf, weight: p + d1.w, bias: p + d1.b, outFeatures: 4 * nf, into: e2)
        silu(e2, count: n * 4 * nf, into: e)
        emb = (e0, e1pre, e1, e2)
        embAct = e

        // 3. Down path.
        skips = []
        let s0 = a.tensor(n, nf, h, w)
        conv(m.convIn, xin, into: s0)
        skips.append(s0)
        downCaches = []; downSampleCaches = []
        for level in 0..<levels {
            var list: [(res: ResCache, attn: Tensor?, input: Int, output: Int)] = []
            for (block, attention) in m.down[level] {
                let input = skips.count - 1
                let r = res(block, skips[input], dropout: dropout)
                var out = r.y, at: Tensor? = nil
                if let attention { out = attn(attention, r.y); at = out }
                skips.append(out)
                list.append((r, at, input, skips.count - 1))
            }
            downCaches.append(list)
            if let ds = m.downSample[level] {
                let input = skips.count - 1
                let r = res(ds, skips[input], dropout: dropout)
                skips.append(r.y)
                downSampleCaches.append((r, input, skips.count - 1))
            } else { downSampleCaches.append(nil) }
        }

        // 4. Middle.
        let m0 = res(m.middle.0, skips[skips.count - 1], dropout: dropout)
        let ma = attn(m.middle.1, m0.y)
        let m2 = res(m.middle.2, ma, dropout: dropout)
        middleCaches = (m0, ma, m2)
        var cur = m2.y

        // 5. Up path.
        var next = skips.count - 1
        upCaches = []; upAttnCaches = []; upSampleCaches = []
        for (i, blocks) in m.up.enumerated() {
            var list: [(res: ResCache, skip: Int)] = []
            for block in blocks {
                let skip = skips[next]
                let cat = a.tensor(n, cur.c + skip.c, cur.h, cur.w)
                Parallel.shared.split(n) { images in
                    for j in images {
                        (cat.data + j * cat.imageCount).update(from: cur.data + j * cur.imageCount, count: cur.imageCount)
                        (cat.data + j * cat.imageCount + cur.imageCount).update(from: skip.data + j * skip.imageCount,
                                                                                count: skip.imageCount)
                    }
                }
                let r = res(block, cat, dropout: dropout)
                list.append((r, next))
                next -= 1
                cur = r.y
            }
            upCaches.append(list)
            if let attention = m.upAttn[i] { cur = attn(attention, cur); upAttnCaches.append(cur) } else { upAttnCaches.append(nil) }
            if let us = m.upSample[i] { let r = res(us, cur, dropout: dropout); upSampleCaches.append(r); cur = r.y }
            else { upSampleCaches.append(nil) }
        }
        precondition(next == -1, "forward: skip bookkeeping")

        // 6. Output.
        let fin = actNorm(m.finalNorm, cur)
        finalCache = fin
        conv(m.convOut, fin.y, into: Tensor(out, n, c.outputChannels, h, w))
    }

    // MARK: - Layer backwards (dx always accumulates)

    var g: UnsafeMutablePointer<Float> { gradients }

    func convBack(_ l: ConvLayer, _ x: Tensor, dy: Tensor, dx: Tensor?) {
        conv2dBackward(x, weight: p + l.w, shape: l.shape, dy: dy, dx: dx, accumulate: true, dWeight: g + l.w,
                       dBias: g + l.b, arena: back)
    }

    func zeros(_ like: Tensor) -> Tensor {
        let t = back.tensor(like.n, like.c, like.h, like.w)
        Parallel.shared.split(t.count) { r in (t.data + r.lowerBound).update(repeating: 0, count: r.count) }
        return t
    }

    func actNormBack(_ l: ActNorm, _ cache: NormCache, dy: Tensor, dx: Tensor, dEmb: UnsafeMutablePointer<Float>) {
        var grads = NormGradients()
        var m = NormModulation()
        if let affine = l.affine {
            m.gamma = UnsafePointer(p + affine.w); m.beta = UnsafePointer(p + affine.b)
            grads.gamma = g + affine.w; grads.beta = g + affine.b
        }
        var dss: UnsafeMutablePointer<Float>? = nil
        if let ss = cache.ss { m.scaleShift = UnsafePointer(ss); dss = back.floats(cache.x.n * 2 * l.channels); grads.scaleShift = dss }
        var dMaps: (Tensor, Tensor)? = nil
        if let s = cache.spade {
            m.spadeGamma = s.g; m.spadeBeta = s.b
            dMaps = (back.tensor(s.g.n, s.g.c, s.g.h, s.g.w), back.tensor(s.b.n, s.b.c, s.b.h, s.b.w))
            grads.spadeGamma = dMaps!.0; grads.spadeBeta = dMaps!.1
        }
        groupNormBackward(cache.x, groups: l.groups, eps: l.eps, m, activation: .silu, dy: dy, dx: dx, accumulate: true, grads)
        if let dense = l.dense, let dss, let e = embAct {
            linearBackward(e, n: cache.x.n, inFeatures: dense.inFeatures, weight: p + dense.w,
                           outFeatures: dense.outFeatures, dy: dss, dx: dEmb, accumulate: true, dWeight: g + dense.w,
                           dBias: g + dense.b)
        }
        if let spade = l.spade, let s = cache.spade, let (dg, db) = dMaps {
            let dActv = zeros(s.actv)
            convBack(spade.gamma, s.actv, dy: dg, dx: dActv)
            convBack(spade.beta, s.actv, dy: db, dx: dActv)
            siluBackward(s.a0.data, dy: dActv.data, count: dActv.count, into: dActv.data)
            convBack(spade.shared, s.cond, dy: dActv, dx: nil)
        }
    }

    func resBack(_ l: ResBlock, _ r: ResCache, dy: Tensor, dx: Tensor, dEmb: UnsafeMutablePointer<Float>) {
        let mark = back.mark()
        // y = (conv1(h1d) + shortcut(xs)) / sqrt 2
        let dz = back.tensor(dy.n, dy.c, dy.h, dy.w)
        let scale = Float(0.5).squareRoot()
        Parallel.shared.split(dz.count) { r in for i in r { dz.data[i] = dy.data[i] * scale } }
        let dh1 = zeros(r.h1d)
        convBack(l.conv1, r.h1d, dy: dz, dx: dh1)
        if let mask = r.mask { Parallel.shared.split(dh1.count) { r in for i in r { dh1.data[i] *= mask[i] } } }
        let dc0 = zeros(r.c0)
        actNormBack(l.norm1, r.n1, dy: dh1, dx: dc0, dEmb: dEmb)
        let dh0r = zeros(r.h0r)
        convBack(l.conv0, r.h0r, dy: dc0, dx: dh0r)
        var dh0 = dh0r
        var dxs = dz
        if let sc = l.shortcut { dxs = zeros(r.xs); convBack(sc, r.xs, dy: dz, dx: dxs) }
        if l.up || l.down {
            dh0 = back.tensor(r.x.n, r.x.c, r.x.h, r.x.w)
            let dxr = back.tensor(r.x.n, r.x.c, r.x.h, r.x.w)
            if l.up { firUpsample2xBackward(dh0r, into: dh0); firUpsample2xBackward(dxs, into: dxr) }
            else { firDownsample2xBackward(dh0r, into: dh0); firDownsample2xBackward(dxs, into: dxr) }
            dxs = dxr
        }
        Parallel.shared.split(dx.count) { r in for i in r { dx.data[i] += dxs.data[i] } }
        actNormBack(l.norm0, r.n0, dy: dh0, dx: dx, dEmb: dEmb)
        back.release(to: mark)
    }

    func attnBack(_ l: AttnLayer, x: Tensor, dy: Tensor, dx: Tensor) {
        let grads = AttentionGradients(normWeight: g + l.normW, normBias: g + l.normB, nin: l.nin.map { (g + $0.w, g + $0.b) })
        attentionBlockBackward(x, weights(l), heads: l.heads, skipRescale: true, dy: dy, dx: dx, accumulate: true,
                               grads, arena: back)
    }

    // MARK: - Backward

    /// dOut: (N, C*n, H, W) = dLoss/dOutput of the last `forward`. Adds every parameter's gradient into
    /// `gradients` (call `zeroGradients` first for a fresh step).
    public func backward(dOut: UnsafePointer<Float>) {
        let m = model, c = m.config, nf = c.ngf
        guard let fin = finalCache, let mid = middleCaches, let (e0, e1pre, e1, e2) = emb else {
            preconditionFailure("backward before forward")
        }
        back.reset()
        let dEmb = back.floats(n * 4 * nf)
        dEmb.update(repeating: 0, count: n * 4 * nf)
        let dSkip = skips.map { zeros($0) }

        // 6. Output conv and norm.
        let dFin = zeros(fin.y)
        convBack(m.convOut, fin.y, dy: Tensor(UnsafeMutablePointer(mutating: dOut), n, c.outputChannels, fin.y.h, fin.y.w),
                 dx: dFin)
        var dcur = zeros(fin.x)
        actNormBack(m.finalNorm, fin, dy: dFin, dx: dcur, dEmb: dEmb)

        // 5. Up path, last module first.
        for i in m.up.indices.reversed() {
            if let us = m.upSample[i], let r = upSampleCaches[i] {
                let d = zeros(r.x); resBack(us, r, dy: dcur, dx: d, dEmb: dEmb); dcur = d
            }
            if let attention = m.upAttn[i], upAttnCaches[i] != nil {
                let x = upCaches[i].last!.res.y
                let d = zeros(x); attnBack(attention, x: x, dy: dcur, dx: d); dcur = d
            }
            for (block, cache) in zip(m.up[i], upCaches[i]).reversed() {
                let dcat = zeros(cache.res.x)
                resBack(block, cache.res, dy: dcur, dx: dcat, dEmb: dEmb)
                let skip = dSkip[cache.skip]
                let hc = dcat.c - skip.c
                let dh = back.tensor(n, hc, dcat.h, dcat.w)
                Parallel.shared.split(n) { images in
                    for j in images {
                        let src = dcat.data + j * dcat.imageCount
                        (dh.data + j * dh.imageCount).update(from: src, count: dh.imageCount)
                        let ds = skip.data + j * skip.imageCount, from = src + dh.imageCount
                        for k in 0..<skip.imageCount { ds[k] += from[k] }
                    }
                }
                dcur = dh
            }
        }

        // 4. Middle.
        let dma = zeros(mid.1)
        resBack(m.middle.2, mid.2, dy: dcur, dx: dma, dEmb: dEmb)
        let dm0 = zeros(mid.0.y)
        attnBack(m.middle.1, x: mid.0.y, dy: dma, dx: dm0)
        resBack(m.middle.0, mid.0, dy: dm0, dx: dSkip[dSkip.count - 1], dEmb: dEmb)

        // 3. Down path.
        for level in m.down.indices.reversed() {
            if let ds = m.downSample[level], let cache = downSampleCaches[level] {
                resBack(ds, cache.res, dy: dSkip[cache.output], dx: dSkip[cache.input], dEmb: dEmb)
            }
            for ((block, attention), cache) in zip(m.down[level], downCaches[level]).reversed() {
                var d = dSkip[cache.output]
                if let attention {
                    let dr = zeros(cache.res.y); attnBack(attention, x: cache.res.y, dy: d, dx: dr); d = dr
                }
                resBack(block, cache.res, dy: d, dx: dSkip[cache.input], dEmb: dEmb)
            }
        }
        convBack(m.convIn, xin, dy: dSkip[0], dx: nil)

        // 2. Time embedding: e = silu(e2), e2 = Dense_1(e1), e1 = silu(e1pre), e1pre = Dense_0(e0).
        let (d0, d1) = (m.dense0!, m.dense1!)
        let de = back.floats(n * 4 * nf), de1 = back.floats(n * 4 * nf)
        siluBackward(e2, dy: dEmb, count: n * 4 * nf, into: de)
        linearBackward(e1, n: n, inFeatures: 4 * nf, weight: p + d1.w, outFeatures: 4 * nf, dy: de, dx: de1,
                       dWeight: g + d1.w, dBias: g + d1.b)
        siluBackward(e1pre, dy: de1, count: n * 4 * nf, into: de1)
        linearBackward(e0, n: n, inFeatures: nf, weight: p + d0.w, outFeatures: 4 * nf, dy: de1, dx: nil,
                       dWeight: g + d0.w, dBias: g + d0.b)
    }
}

extension UNet {
    /// Floats in the parameter buffer (every parameter padded to a multiple of 16).
    public var parameterStorageCount: Int {
        guard let last = parameterSpecs.indices.last else { return 16 }
        return max(16, offsets[last] + ((parameterSpecs[last].shape.reduce(1, *) + 15) & ~15))
    }

    /// The parameter buffer itself (layout: `parameterLocation`). Padding floats are zero. After changing
    /// it in place, call `prepare()` before `forward` (which reads packed copies of the 3x3 weights);
    /// `UNetTraining` reads the parameters directly.
    public var parameterStorage: UnsafeMutablePointer<Float> { params }

    /// Offset and count of a parameter (reference name, no prefix) in `parameterStorage`.
    public func parameterLocation(_ name: String) -> (offset: Int, count: Int)? {
        guard let i = parameterSpecs.firstIndex(where: { $0.name == name }) else { return nil }
        return (offsets[i], parameterSpecs[i].shape.reduce(1, *))
    }

    /// Every parameter's (name, shape, offset) in reference order.
    public var parameterLayout: [(name: String, shape: [Int], offset: Int)] {
        zip(parameterSpecs, offsets).map { ($0.name, $0.shape, $1) }
    }
}
