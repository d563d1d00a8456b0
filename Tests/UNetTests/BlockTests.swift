// The DDPM-style residual block (not used by the reference networks, which hard-code BigGAN blocks)
// against a composition of the naive ops, with and without a channel-changing NIN shortcut.
import Foundation
import Testing
import Tensor
@testable import UNet

@Suite struct BlockTests {
    @Test(arguments: [(8, 12), (8, 8)])
    func ddpmBlockMatchesNaiveComposition(inCh: Int, outCh: Int) {
        let n = 2, h = 6, w = 5, embDim = 10, plane = h * w
        let b = LayerBuilder()
        let block = ResBlockDDPM(b, inCh: inCh, outCh: outCh, embDim: embDim)
        var seed: UInt64 = 0x1234_5678 &+ UInt64(inCh * 31 + outCh)
        func rnd() -> Float { seed = seed &* 6364136223846793005 &+ 1442695040888963407; return Float(Int64(bitPattern: seed) >> 40) / Float(1 << 23) }
        let params = UnsafeMutablePointer<Float>.allocate(capacity: b.total)
        defer { params.deallocate() }
        var named: [String: [Float]] = [:]
        for spec in b.specs {
            let count = spec.shape.reduce(1, *)
            let scale: Float = spec.shape.count > 1 ? 1 / Float(spec.shape.dropFirst().reduce(1, *)).squareRoot() : 0.5
            let offset: Float = spec.name.hasSuffix("GroupNorm_0.weight") || spec.name.hasSuffix("GroupNorm_1.weight") ? 1 : 0
            let v: [Float] = (0..<count).map { _ in rnd() * scale + offset }
            (params + spec.offset).update(from: v, count: count)
            named[String(spec.name.split(separator: ".", maxSplits: 2).last!)] = v
        }
        let x = (0..<(n * inCh * plane)).map { _ in rnd() * 2 }
        let temb = (0..<(n * embDim)).map { _ in rnd() * 3 }
        let embAct = temb.map(Naive.silu)

        // Naive: act(GN0(x)) -> Conv_0 + Dense_0(act(temb)) -> act(GN1) -> Conv_1; shortcut; / sqrt 2.
        let h0 = Naive.groupNorm(x, n: n, c: inCh, h: h, w: w, groups: referenceGroups(inCh), eps: 1e-6,
                                 gamma: named["GroupNorm_0.weight"], beta: named["GroupNorm_0.bias"], silu: true)
        var h1 = Naive.conv2d(h0, n: n, c: inCh, h: h, w: w, weight: named["Conv_0.weight"]!, bias: named["Conv_0.bias"],
                              shape: ConvShape(inChannels: inCh, outChannels: outCh, kernel: 3))
        let d = Naive.linear(embAct, n: n, weight: named["Dense_0.weight"]!, bias: named["Dense_0.bias"], inFeatures: embDim,
                             outFeatures: outCh)
        for i in 0..<h1.count { h1[i] += d[(i / plane / outCh) * outCh + (i / plane) % outCh] }
        let h2 = Naive.groupNorm(h1, n: n, c: outCh, h: h, w: w, groups: block.groups1, eps: 1e-6,
                                 gamma: named["GroupNorm_1.weight"], beta: named["GroupNorm_1.bias"], silu: true)
        let h3 = Naive.conv2d(h2, n: n, c: outCh, h: h, w: w, weight: named["Conv_1.weight"]!, bias: named["Conv_1.bias"],
                              shape: ConvShape(inChannels: outCh, outChannels: outCh, kernel: 3))
        var xs = x
        if inCh != outCh {
            let W = named["NIN_0.W"]!, bb = named["NIN_0.b"]!
            xs = (0..<(n * outCh * plane)).map { idx in
                let i = idx / (outCh * plane), o = (idx / plane) % outCh, p = idx % plane
                var acc = Double(bb[o])
                for c in 0..<inCh { acc += Double(x[(i * inCh + c) * plane + p]) * Double(W[c * outCh + o]) }
                return Float(acc)
            }
        }
        let rescale = 1 / Float(2).squareRoot()
        let want: [Float] = zip(xs, h3).map { (a: Float, b: Float) -> Float in (a + b) * rescale }

        let arena = Arena()
        let packed = UnsafeMutablePointer<Float>.allocate(capacity: max(16, b.packedTotal))
        defer { packed.deallocate() }
        for p in b.packs {
            packConv3x3Weights(params + p.parts[0].weight, inChannels: p.c, outChannels: p.parts[0].o, into: packed + p.matrix)
        }
        var out = [Float](repeating: .nan, count: n * outCh * plane)
        var xc = x, ea = embAct
        xc.withUnsafeMutableBufferPointer { xp in ea.withUnsafeMutableBufferPointer { ep in out.withUnsafeMutableBufferPointer { op in
            let ctx = Context(params: params, packed: packed, arena: arena, profile: nil, embAct: ep.baseAddress!, embDim: embDim,
                              spadeMaps: [:])
            block(Tensor(xp.baseAddress!, n, inCh, h, w), into: Tensor(op.baseAddress!, n, outCh, h, w), ctx)
        } } }
        let worst: Float = zip(out, want).map { (a: Float, b: Float) -> Float in abs(a - b) }.max()!
        let top: Float = want.map { abs($0) }.max()!
        #expect(worst <= 1e-5 * max(1, top), "ResnetBlockDDPMpp \(inCh)->\(outCh): max diff \(worst)")
    }
}
