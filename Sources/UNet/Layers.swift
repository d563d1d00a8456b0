// The network's layers as parameter records: each holds offsets of its weights in the model's one
// parameter buffer (names and shapes as the reference state_dict) and a forward that calls Tensor ops.
// Built by `LayerBuilder` in the reference's module order (all_modules.<i>.<name>).
import Tensor

/// Where the parameters go: one spec list (name, shape, offset) and one contiguous float buffer.
final class LayerBuilder {
    private(set) var specs: [(name: String, shape: [Int], offset: Int)] = []
    private(set) var total = 0
    private(set) var moduleIndex = 0
    /// 3x3 convolutions' packed weights (Tensor.packConv3x3Weights) live in a second buffer.
    private(set) var packedTotal = 0
    private(set) var packs: [Pack] = []

    /// 3x3 convolutions over one input with `c` channels, packed side by side (Conv.packConv3x3Weights),
    /// their biases concatenated after the matrix, then the matrix's Winograd weights
    /// (packWinogradWeights): returns (matrix, bias, winograd) offsets in the packed buffer.
    struct Pack { let parts: [(weight: Int, bias: Int, o: Int)]; let c: Int; let matrix: Int; let bias: Int; let winograd: Int }
    func pack3x3(_ parts: [(weight: Int, bias: Int, o: Int)], c: Int) -> (matrix: Int, bias: Int, winograd: Int) {
        let o = parts.reduce(0) { $0 + $1.o }
        let matrix = packedTotal, bias = matrix + 9 * c * packedConv3x3Stride(o), winograd = bias + ((o + 15) & ~15)
        packs.append(Pack(parts: parts, c: c, matrix: matrix, bias: bias, winograd: winograd))
        packedTotal = winograd + ((winogradWeightCount(inChannels: c, outChannels: o) + 15) & ~15)
        return (matrix, bias, winograd)
    }

    /// A parameter of the current module: all_modules.<index>.<suffix>.
    func param(_ suffix: String, _ shape: [Int]) -> Int {
        let offset = total
        specs.append(("all_modules.\(moduleIndex).\(suffix)", shape, offset))
        total += (shape.reduce(1, *) + 15) & ~15
        return offset
    }
    func nextModule() { moduleIndex += 1 }
}

/// What every layer forward needs besides its input.
struct Context {
    let params: UnsafeMutablePointer<Float>
    let packed: UnsafeMutablePointer<Float>
    let arena: Arena
    let profile: Profile?
    /// silu(temb): (N, E), or nil when the network is not time-conditional.
    let embAct: UnsafeMutablePointer<Float>?
    let embDim: Int
    /// cond resized to each level's size for SPADE, keyed by height (N, condC, h, w).
    let spadeMaps: [Int: Tensor]
    func p(_ offset: Int) -> UnsafeMutablePointer<Float> { params + offset }
}

struct ConvLayer {
    let w: Int, b: Int
    /// Offsets of the packed matrix and its Winograd weights (3x3 only).
    let packed: Int?, winograd: Int?
    let shape: ConvShape
    init(_ builder: LayerBuilder, _ prefix: String, _ cin: Int, _ cout: Int, kernel: Int, pack: Bool = true) {
        shape = ConvShape(inChannels: cin, outChannels: cout, kernel: kernel)
        w = builder.param(prefix + "weight", [cout, cin, kernel, kernel])
        b = builder.param(prefix + "bias", [cout])
        let offsets = kernel == 3 && pack ? builder.pack3x3([(w, b, cout)], c: cin) : nil
        packed = offsets?.matrix; winograd = offsets?.winograd
    }
    // x: (N, cin, H, W) -> y: (N, cout, H, W); y = (conv + b + residual) * scale
    func callAsFunction(_ x: Tensor, into y: Tensor, residual: Tensor? = nil, scale: Float = 1, _ ctx: Context) {
        let kind: Profile.Kind = shape.kernel == 3 ? .conv3x3 : .conv1x1
        ctx.profile.measure(kind, flops: shape.flops(n: x.n, oh: y.h, ow: y.w),
                            label: "\(shape.inChannels)->\(shape.outChannels) s\(shape.stride) \(x.h)x\(x.w)") {
            conv2d(x, weight: ctx.p(w), bias: ctx.p(b), shape: shape, into: y, residual: residual, scale: scale,
                   packedWeight: packed.map { UnsafePointer(ctx.packed + $0) },
                   winogradWeight: winograd.map { UnsafePointer(ctx.packed + $0) }, arena: ctx.arena)
        }
    }
}

struct LinearLayer {
    let w: Int, b: Int, inFeatures: Int, outFeatures: Int
    init(_ builder: LayerBuilder, _ prefix: String, _ i: Int, _ o: Int) {
        inFeatures = i; outFeatures = o
        w = builder.param(prefix + "weight", [o, i])
        b = builder.param(prefix + "bias", [o])
    }
    // x: (N, I) -> y: (N, O)
    func callAsFunction(_ x: UnsafePointer<Float>, n: Int, into y: UnsafeMutablePointer<Float>, _ ctx: Context) {
        linear(x, n: n, inFeatures: inFeatures, weight: ctx.p(w), bias: ctx.p(b), outFeatures: outFeatures, into: y)
    }
}

/// MySPADE: param-free GroupNorm (eps 1e-6) modulated by maps from the resized conditioning frames:
/// actv = silu(conv3x3(cond)), gamma = conv3x3(actv), beta = conv3x3(actv).
/// mlp_gamma and mlp_beta read the same actv, so they run as one convolution with 2C outputs.
struct SpadeLayer {
    let shared: ConvLayer, gamma: ConvLayer, beta: ConvLayer
    let both: (matrix: Int, bias: Int, winograd: Int)
    let channels: Int
    init(_ builder: LayerBuilder, _ prefix: String, channels: Int, condChannels: Int, spadeDim: Int) {
        self.channels = channels
        shared = ConvLayer(builder, prefix + "mlp_shared.0.", condChannels, spadeDim, kernel: 3)
        gamma = ConvLayer(builder, prefix + "mlp_gamma.", spadeDim, channels, kernel: 3, pack: false)
        beta = ConvLayer(builder, prefix + "mlp_beta.", spadeDim, channels, kernel: 3, pack: false)
        both = builder.pack3x3([(gamma.w, gamma.b, channels), (beta.w, beta.b, channels)], c: spadeDim)
    }
    // cond at the layer's size (N, condC, H, W) -> gamma and beta, (N, 2C, H, W) carved from the arena:
    // per image C gamma planes then C beta planes.
    func maps(_ cond: Tensor, _ ctx: Context) -> Tensor {
        let n = cond.n, h = cond.h, w = cond.w
        let gb = ctx.arena.tensor(n, 2 * channels, h, w)
        let mark = ctx.arena.mark()
        let actv = ctx.arena.tensor(n, shared.shape.outChannels, h, w)
        // The conditioning branch (conv from the few frame channels, then SiLU) is timed on its own.
        ctx.profile.measure(.spadeShared, flops: shared.shape.flops(n: n, oh: h, ow: w)) {
            conv2d(cond, weight: ctx.p(shared.w), bias: ctx.p(shared.b), shape: shared.shape, into: actv, arena: ctx.arena)
            silu(actv.data, count: actv.count, into: actv.data)
        }
        let s = ConvShape(inChannels: shared.shape.outChannels, outChannels: 2 * channels, kernel: 3)
        ctx.profile.measure(.conv3x3, flops: s.flops(n: n, oh: h, ow: w),
                            label: "spade \(s.inChannels)->\(s.outChannels) \(h)x\(w)") {
            if s.usesPackedWeights {
                // weight is not read when packedWeight is given (it holds both convs).
                conv2d(actv, weight: ctx.p(gamma.w), bias: ctx.packed + both.bias, shape: s, into: gb,
                       packedWeight: ctx.packed + both.matrix, winogradWeight: ctx.packed + both.winograd, arena: ctx.arena)
            } else {
                // Few SPADE channels: conv2d runs im2col on raw weights, one conv each, then interleave
                // per image into (gamma planes, beta planes).
                let one = ConvShape(inChannels: s.inChannels, outChannels: channels, kernel: 3)
                let size = channels * h * w
                for (i, layer) in [gamma, beta].enumerated() {
                    let part = ctx.arena.tensor(n, channels, h, w)
                    conv2d(actv, weight: ctx.p(layer.w), bias: ctx.p(layer.b), shape: one, into: part, arena: ctx.arena)
                    for k in 0..<n { (gb.data + k * 2 * size + i * size).update(from: part.data + k * size, count: size) }
                }
            }
        }
        ctx.arena.release(to: mark)
        return gb
    }
}

/// get_act_norm: GroupNorm (or SPADE), then the time embedding's (1 + scale, shift) when there is one,
/// then SiLU. Plain GroupNorm uses eps 1e-5 and is affine only without the embedding.
struct ActNorm {
    let channels: Int, groups: Int, eps: Float
    let dense: LinearLayer?
    let affine: (w: Int, b: Int)?
    let spade: SpadeLayer?

    init(_ builder: LayerBuilder, _ prefix: String, channels: Int, embDim: Int?, spade spadeCfg: (cond: Int, dim: Int)?) {
        self.channels = channels
        groups = referenceGroups(channels)
        dense = embDim.map { LinearLayer(builder, prefix + "Dense_0.", $0, 2 * channels) }
        if let spadeCfg {
            eps = 1e-6
            spade = SpadeLayer(builder, prefix + "Norm_0.", channels: channels, condChannels: spadeCfg.cond,
                               spadeDim: spadeCfg.dim)
            affine = nil
        } else {
            eps = 1e-5
            spade = nil
            affine = embDim == nil
                ? (builder.param(prefix + "Norm_0.weight", [channels]), builder.param(prefix + "Norm_0.bias", [channels]))
                : nil
        }
    }

    // x: (N, C, H, W) -> y: (N, C, H, W); y may alias x.
    func callAsFunction(_ x: Tensor, into y: Tensor, _ ctx: Context) {
        let mark = ctx.arena.mark()
        var m = NormModulation()
        if let affine { m.gamma = UnsafePointer(ctx.p(affine.w)); m.beta = UnsafePointer(ctx.p(affine.b)) }
        if let dense, let e = ctx.embAct {
            let ss = ctx.arena.floats(x.n * 2 * channels)
            dense(e, n: x.n, into: ss, ctx)
            m.scaleShift = UnsafePointer(ss)
        }
        if let spade {
            guard let cond = ctx.spadeMaps[x.h] else { preconditionFailure("SPADE: no conditioning at \(x.h)") }
            let gb = spade.maps(cond, ctx), plane = x.plane
            m.spadeGamma = Tensor(gb.data, x.n, channels, x.h, x.w)
            m.spadeBeta = Tensor(gb.data + channels * plane, x.n, channels, x.h, x.w)
            m.spadeImageStride = 2 * channels * plane
        }
        ctx.profile.measure(.norm) { groupNorm(x, groups: groups, eps: eps, m, activation: .silu, into: y) }
        ctx.arena.release(to: mark)
    }
}

/// ResnetBlockBigGANppGN / ResnetBlockBigGANppSPADE with skip_rescale: (shortcut(x) + h) / sqrt 2.
struct ResBlock {
    let inCh: Int, outCh: Int, up: Bool, down: Bool
    let norm0: ActNorm, conv0: ConvLayer, norm1: ActNorm, conv1: ConvLayer
    let shortcut: ConvLayer?

    init(_ builder: LayerBuilder, inCh: Int, outCh: Int? = nil, up: Bool = false, down: Bool = false, embDim: Int?,
         spade: (cond: Int, dim: Int)?) {
        let out = outCh ?? inCh
        self.inCh = inCh; self.outCh = out; self.up = up; self.down = down
        norm0 = ActNorm(builder, "actnorm0.", channels: inCh, embDim: embDim, spade: spade)
        conv0 = ConvLayer(builder, "Conv_0.", inCh, out, kernel: 3)
        norm1 = ActNorm(builder, "actnorm1.", channels: out, embDim: embDim, spade: spade)
        conv1 = ConvLayer(builder, "Conv_1.", out, out, kernel: 3)
        shortcut = (inCh != out || up || down) ? ConvLayer(builder, "Conv_2.", inCh, out, kernel: 1) : nil
        builder.nextModule()
    }

    func outSize(_ h: Int, _ w: Int) -> (Int, Int) { up ? (2 * h, 2 * w) : down ? (h / 2, w / 2) : (h, w) }

    // x: (N, inCh, H, W) -> y: (N, outCh, H', W'), H' = 2H (up), H/2 (down) or H. y is carved by the caller.
    func callAsFunction(_ x: Tensor, into y: Tensor, _ ctx: Context) {
        let a = ctx.arena, n = x.n
        let mark = a.mark()
        var h = a.tensor(n, inCh, x.h, x.w)
        norm0(x, into: h, ctx)
        var xs = x
        if up || down {
            let (oh, ow) = outSize(x.h, x.w)
            let h2 = a.tensor(n, inCh, oh, ow), x2 = a.tensor(n, inCh, oh, ow)
            ctx.profile.measure(.resample) {
                if up { firUpsample2x(h, into: h2); firUpsample2x(x, into: x2) }
                else { firDownsample2x(h, into: h2); firDownsample2x(x, into: x2) }
            }
            h = h2; xs = x2
        }
        let h1 = a.tensor(n, outCh, y.h, y.w)
        conv0(h, into: h1, ctx)
        norm1(h1, into: h1, ctx)
        if let shortcut {
            let s = a.tensor(n, outCh, y.h, y.w)
            shortcut(xs, into: s, ctx)
            xs = s
        }
        conv1(h1, into: y, residual: xs, scale: Float(0.5).squareRoot(), ctx)
        a.release(to: mark)
    }
}

/// AttnBlockpp with skip_rescale.
struct AttnLayer {
    let channels: Int, heads: Int
    let normW: Int, normB: Int
    let nin: [(w: Int, b: Int)]
    init(_ builder: LayerBuilder, channels: Int, headChannels: Int) {
        self.channels = channels
        heads = referenceHeads(channels: channels, headChannels: headChannels)
        normW = builder.param("GroupNorm_0.weight", [channels])
        normB = builder.param("GroupNorm_0.bias", [channels])
        nin = (0..<4).map { i in
            (builder.param("NIN_\(i).W", [channels, channels]), builder.param("NIN_\(i).b", [channels]))
        }
        builder.nextModule()
    }
    // x: (N, C, H, W) -> y: (N, C, H, W)
    func callAsFunction(_ x: Tensor, into y: Tensor, _ ctx: Context) {
        let L = x.plane, c = channels
        let flops = x.n * (4 * 2 * c * c * L + 2 * 2 * L * L * c)
        let weights = AttentionWeights(normWeight: ctx.p(normW), normBias: ctx.p(normB),
                                       nin: nin.map { (UnsafePointer(ctx.p($0.w)), UnsafePointer(ctx.p($0.b))) })
        ctx.profile.measure(.attention, flops: flops) {
            attentionBlock(x, weights, heads: heads, skipRescale: true, into: y, arena: ctx.arena)
        }
    }
}

/// ResnetBlockDDPMpp (DDPM-style), for completeness: the reference's NCSNpp hard-codes BigGAN blocks
/// (resblock_type = 'biggan' regardless of the config), so no network here instantiates it.
/// GroupNorm_0 -> SiLU -> Conv_0 (+ Dense_0(silu(temb))) -> GroupNorm_1 -> SiLU -> Conv_1, shortcut
/// NIN_0 (1x1, or Conv_2 3x3 with conv_shortcut) when channels change; (x + h) / sqrt 2 with skip_rescale.
struct ResBlockDDPM {
    let inCh: Int, outCh: Int, skipRescale: Bool
    let groups0: Int, groups1: Int
    let norm0: (w: Int, b: Int), norm1: (w: Int, b: Int)
    let conv0: ConvLayer, conv1: ConvLayer
    let dense: LinearLayer?
    let shortcutNIN: (w: Int, b: Int)?
    let convShortcut: ConvLayer?

    init(_ builder: LayerBuilder, inCh: Int, outCh: Int? = nil, embDim: Int?, convShortcut useConv: Bool = false,
         skipRescale: Bool = true) {
        let out = outCh ?? inCh
        self.inCh = inCh; self.outCh = out; self.skipRescale = skipRescale
        groups0 = referenceGroups(inCh)
        // The reference starts from min(out/4, 32) but lowers it until it divides *in* channels.
        var g = max(1, min(out / 4, 32))
        while inCh % g != 0 { g -= 1 }
        precondition(out % g == 0, "ResnetBlockDDPMpp: \(g) groups do not divide \(out) channels (as in torch)")
        groups1 = g
        norm0 = (builder.param("GroupNorm_0.weight", [inCh]), builder.param("GroupNorm_0.bias", [inCh]))
        conv0 = ConvLayer(builder, "Conv_0.", inCh, out, kernel: 3)
        dense = embDim.map { LinearLayer(builder, "Dense_0.", $0, out) }
        norm1 = (builder.param("GroupNorm_1.weight", [out]), builder.param("GroupNorm_1.bias", [out]))
        conv1 = ConvLayer(builder, "Conv_1.", out, out, kernel: 3)
        if inCh != out && useConv {
            convShortcut = ConvLayer(builder, "Conv_2.", inCh, out, kernel: 3); shortcutNIN = nil
        } else if inCh != out {
            shortcutNIN = (builder.param("NIN_0.W", [inCh, out]), builder.param("NIN_0.b", [out])); convShortcut = nil
        } else { shortcutNIN = nil; convShortcut = nil }
        builder.nextModule()
    }

    // x: (N, inCh, H, W) -> y: (N, outCh, H, W)
    func callAsFunction(_ x: Tensor, into y: Tensor, _ ctx: Context) {
        let a = ctx.arena, n = x.n
        let mark = a.mark()
        let h0 = a.tensor(n, inCh, x.h, x.w)
        ctx.profile.measure(.norm) {
            groupNorm(x, groups: groups0, eps: 1e-6, NormModulation(gamma: ctx.p(norm0.w), beta: ctx.p(norm0.b)),
                      activation: .silu, into: h0)
        }
        let h1 = a.tensor(n, outCh, x.h, x.w)
        conv0(h0, into: h1, ctx)
        if let dense, let e = ctx.embAct {
            let d = a.floats(n * outCh)
            dense(e, n: n, into: d, ctx)
            for i in 0..<n { for c in 0..<outCh {
                let p = h1.data + (i * outCh + c) * h1.plane, v = d[i * outCh + c]
                for j in 0..<h1.plane { p[j] += v }
            } }
        }
        ctx.profile.measure(.norm) {
            groupNorm(h1, groups: groups1, eps: 1e-6, NormModulation(gamma: ctx.p(norm1.w), beta: ctx.p(norm1.b)),
                      activation: .silu, into: h1)
        }
        var xs = x
        if let convShortcut {
            let s = a.tensor(n, outCh, x.h, x.w); convShortcut(x, into: s, ctx); xs = s
        } else if let w = shortcutNIN {
            let s = a.tensor(n, outCh, x.h, x.w)
            ctx.profile.measure(.conv1x1, flops: 2 * n * inCh * outCh * x.plane, label: "nin \(inCh)->\(outCh) \(x.h)x\(x.w)") {
                nin(x, weight: ctx.p(w.w), bias: ctx.p(w.b), outChannels: outCh, into: s)
            }
            xs = s
        }
        conv1(h1, into: y, residual: xs, scale: skipRescale ? Float(0.5).squareRoot() : 1, ctx)
        a.release(to: mark)
    }
}
