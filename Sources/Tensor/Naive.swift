// Naive twins of the fast ops: plain loops over the definitions, written for clarity, not speed.
// Tests compare each fast op with its twin; `mcvd bench` can time them. They allocate freely.
import Foundation

public enum Naive {
    /// x: (N, C, H, W), w: (O, C, k, k), b: (O) -> y: (N, O, OH, OW), accumulated in Double.
    public static func conv2d(_ x: [Float], n: Int, c: Int, h: Int, w: Int, weight: [Float], bias: [Float]?,
                              shape s: ConvShape) -> [Float] {
        let (oh, ow) = s.outSize(h, w), k = s.kernel, o = s.outChannels
        var y = [Float](repeating: 0, count: n * o * oh * ow)
        for img in 0..<n { for oc in 0..<o { for oy in 0..<oh { for ox in 0..<ow {
            var acc = Double(bias?[oc] ?? 0)
            for ci in 0..<c { for ky in 0..<k { for kx in 0..<k {
                let iy = oy * s.stride - s.pad + ky, ix = ox * s.stride - s.pad + kx
                if iy < 0 || iy >= h || ix < 0 || ix >= w { continue }
                acc += Double(x[((img * c + ci) * h + iy) * w + ix]) * Double(weight[((oc * c + ci) * k + ky) * k + kx])
            } } }
            y[((img * o + oc) * oh + oy) * ow + ox] = Float(acc)
        } } } }
        return y
    }

    /// x: (N, I), w: (O, I), b: (O) -> (N, O).
    public static func linear(_ x: [Float], n: Int, weight: [Float], bias: [Float]?, inFeatures: Int,
                              outFeatures: Int) -> [Float] {
        (0..<(n * outFeatures)).map { idx in
            let i = idx / outFeatures, o = idx % outFeatures
            var acc = Double(bias?[o] ?? 0)
            for j in 0..<inFeatures { acc += Double(x[i * inFeatures + j]) * Double(weight[o * inFeatures + j]) }
            return Float(acc)
        }
    }

    public static func silu(_ v: Float) -> Float { Float(Double(v) / (1 + Foundation.exp(-Double(v)))) }

    /// GroupNorm with the modulation of `groupNorm` (Norm.swift): x (N, C, H, W); gamma/beta (C);
    /// spadeGamma/spadeBeta (N, C, H, W); scaleShift (N, 2C).
    public static func groupNorm(_ x: [Float], n: Int, c: Int, h: Int, w: Int, groups: Int, eps: Float,
                                 gamma: [Float]? = nil, beta: [Float]? = nil, spadeGamma: [Float]? = nil,
                                 spadeBeta: [Float]? = nil, scaleShift: [Float]? = nil, silu act: Bool) -> [Float] {
        let plane = h * w, cpg = c / groups
        var y = [Float](repeating: 0, count: x.count)
        for img in 0..<n { for g in 0..<groups {
            let base = (img * c + g * cpg) * plane, cnt = cpg * plane
            var mean = 0.0
            for i in 0..<cnt { mean += Double(x[base + i]) }
            mean /= Double(cnt)
            var v = 0.0
            for i in 0..<cnt { v += (Double(x[base + i]) - mean) * (Double(x[base + i]) - mean) }
            v /= Double(cnt)
            for i in 0..<cnt {
                let idx = base + i, ch = g * cpg + i / plane
                var t = (Double(x[idx]) - mean) / (v + Double(eps)).squareRoot()
                if let gamma { t *= Double(gamma[ch]) }
                if let beta { t += Double(beta[ch]) }
                if let spadeGamma, let spadeBeta { t = t * (1 + Double(spadeGamma[idx])) + Double(spadeBeta[idx]) }
                if let scaleShift {
                    t = t * (1 + Double(scaleShift[img * 2 * c + ch])) + Double(scaleShift[img * 2 * c + c + ch])
                }
                y[idx] = act ? silu(Float(t)) : Float(t)
            }
        } }
        return y
    }

    /// AttnBlockpp from its definition: x (N, C, H, W); norm (C); nin[i] = (W (C, C) as (in, out), b (C)).
    public static func attention(_ x: [Float], n: Int, c: Int, h: Int, w: Int, normWeight: [Float], normBias: [Float],
                                 nin: [([Float], [Float])], heads: Int, skipRescale: Bool) -> [Float] {
        let L = h * w, ch = c / heads
        let hn = groupNorm(x, n: n, c: c, h: h, w: w, groups: referenceGroups(c), eps: 1e-6, gamma: normWeight,
                           beta: normBias, silu: false)
        func apply(_ t: [Float], _ p: ([Float], [Float])) -> [Float] {
            var y = [Float](repeating: 0, count: t.count)
            for img in 0..<n { for o in 0..<c { for pos in 0..<L {
                var acc = Double(p.1[o])
                for ci in 0..<c { acc += Double(t[(img * c + ci) * L + pos]) * Double(p.0[ci * c + o]) }
                y[(img * c + o) * L + pos] = Float(acc)
            } } }
            return y
        }
        let q = apply(hn, nin[0]), k = apply(hn, nin[1]), v = apply(hn, nin[2])
        var att = [Float](repeating: 0, count: x.count)
        for img in 0..<n { for hd in 0..<heads {
            let off = (img * c + hd * ch) * L
            for i in 0..<L {
                var s = [Double](repeating: 0, count: L)
                for j in 0..<L {
                    var acc = 0.0
                    for cc in 0..<ch { acc += Double(q[off + cc * L + i]) * Double(k[off + cc * L + j]) }
                    s[j] = acc / Double(ch).squareRoot()
                }
                let mx = s.max()!
                let e = s.map { Foundation.exp($0 - mx) }, sum = e.reduce(0, +)
                for cc in 0..<ch {
                    var acc = 0.0
                    for j in 0..<L { acc += e[j] / sum * Double(v[off + cc * L + j]) }
                    att[off + cc * L + i] = Float(acc)
                }
            }
        } }
        let out = apply(att, nin[3])
        let scale = skipRescale ? 1 / 2.0.squareRoot() : 1
        return zip(x, out).map { Float((Double($0) + Double($1)) * scale) }
    }

    /// upfirdn2d of one (H, W) plane with a 2D kernel k (kh, kw): zero-stuff by `up`, pad (p0, p1) on
    /// both axes, correlate with the flipped kernel, keep every `down`-th sample (StyleGAN2's definition).
    public static func upfirdn2d(_ x: [Float], h: Int, w: Int, kernel k: [Float], kSize: Int, up: Int, down: Int,
                                 pad: (Int, Int)) -> (out: [Float], h: Int, w: Int) {
        let uh = h * up + pad.0 + pad.1, uw = w * up + pad.0 + pad.1
        var u = [Float](repeating: 0, count: uh * uw)
        for i in 0..<h { for j in 0..<w { u[(i * up + pad.0) * uw + j * up + pad.0] = x[i * w + j] } }
        let ch = uh - kSize + 1, cw = uw - kSize + 1
        let oh = (ch + down - 1) / down, ow = (cw + down - 1) / down
        var out = [Float](repeating: 0, count: oh * ow)
        for oy in 0..<oh { for ox in 0..<ow {
            var acc = 0.0
            for a in 0..<kSize { for b in 0..<kSize {
                acc += Double(k[(kSize - 1 - a) * kSize + (kSize - 1 - b)]) * Double(u[(oy * down + a) * uw + ox * down + b])
            } }
            out[oy * ow + ox] = Float(acc)
        } }
        return (out, oh, ow)
    }

    /// The reference's FIR kernel for [1, 3, 3, 1]: outer product, normalised to sum 1, times `gain`.
    public static func firKernel(gain: Float) -> [Float] {
        let k: [Float] = [1, 3, 3, 1]
        return (0..<16).map { k[$0 / 4] * k[$0 % 4] / 64 * gain }
    }
}
