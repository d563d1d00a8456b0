// The MCVD denoiser: NCSNpp (conditioning frames concatenated to the input) and SPADE_NCSNpp (SPATIN:
// conditioning frames modulate every norm) of the reference's models/better/ncsnpp_more.py, with its
// module order, parameter names and op order. Weights come from a SafeTensors file or a seeded init.
import Foundation
import Tensor

public final class UNet: @unchecked Sendable {
    public let config: UNetConfig
    /// Parameter names/shapes in reference order (without any "unet." / "module." prefix).
    public let parameterSpecs: [(name: String, shape: [Int])]
    public var parameterCount: Int { parameterSpecs.reduce(0) { $0 + $1.shape.reduce(1, *) } }

    let params: UnsafeMutablePointer<Float>
    let offsets: [Int]
    /// Packed copies of the 3x3 weights (refreshed by `prepare` after every parameter change).
    let packed: UnsafeMutablePointer<Float>
    let packs: [LayerBuilder.Pack]
    let dense0: LinearLayer?, dense1: LinearLayer?
    let condEmbedding: Int?       // offset of the (2, nf/2) table when cond_emb
    let convIn: ConvLayer
    let down: [[(ResBlock, AttnLayer?)]], downSample: [ResBlock?]
    let middle: (ResBlock, AttnLayer, ResBlock)
    let up: [[ResBlock]], upAttn: [AttnLayer?], upSample: [ResBlock?]
    let finalNorm: ActNorm, convOut: ConvLayer
    public let arena = Arena(capacity: 1 << 20)
    var skips: [Tensor] = []

    /// Builds the structure for `config` with zeroed parameters.
    public init(config: UNetConfig) throws {
        try config.validate()
        self.config = config
        let b = LayerBuilder()
        let nf = config.ngf, levels = config.chMult.count
        let resolutions = (0..<levels).map { config.imageSize >> $0 }
        var embDim: Int? = nil
        if config.timeConditional {
            dense0 = LinearLayer(b, "", nf, 4 * nf); b.nextModule()
            dense1 = LinearLayer(b, "", 4 * nf, 4 * nf); b.nextModule()
            embDim = 4 * nf
            if config.condEmb {
                condEmbedding = b.param("weight", [2, nf / 2]); b.nextModule()
                embDim! += nf / 2
            } else { condEmbedding = nil }
        } else { dense0 = nil; dense1 = nil; condEmbedding = nil }
        let spade: (cond: Int, dim: Int)? = config.spade ? (config.condChannels, config.spadeDim) : nil
        func res(_ i: Int, _ o: Int? = nil, up: Bool = false, down: Bool = false) -> ResBlock {
            ResBlock(b, inCh: i, outCh: o, up: up, down: down, embDim: embDim, spade: spade)
        }
        func attn(_ c: Int) -> AttnLayer { AttnLayer(b, channels: c, headChannels: config.nHeadChannels) }

        convIn = ConvLayer(b, "", config.inputChannels, nf, kernel: 3); b.nextModule()
        var skipChannels = [nf], ch = nf
        var downMods: [[(ResBlock, AttnLayer?)]] = [], downS: [ResBlock?] = []
        for level in 0..<levels {
            var mods: [(ResBlock, AttnLayer?)] = []
            for _ in 0..<config.numResBlocks {
                let out = nf * config.chMult[level]
                let r = res(ch, out); ch = out
                mods.append((r, config.attnResolutions.contains(resolutions[level]) ? attn(ch) : nil))
                skipChannels.append(ch)
            }
            downMods.append(mods)
            if level != levels - 1 { downS.append(res(ch, down: true)); skipChannels.append(ch) } else { downS.append(nil) }
        }
        down = downMods; downSample = downS
        middle = (res(ch), attn(ch), res(ch))
        var upMods: [[ResBlock]] = [], upA: [AttnLayer?] = [], upS: [ResBlock?] = []
        for level in (0..<levels).reversed() {
            var mods: [ResBlock] = []
            for _ in 0...config.numResBlocks {
                let out = nf * config.chMult[level]
                mods.append(res(ch + skipChannels.removeLast(), out)); ch = out
            }
            upMods.append(mods)
            upA.append(config.attnResolutions.contains(resolutions[level]) ? attn(ch) : nil)
            upS.append(level != 0 ? res(ch, up: true) : nil)
        }
        up = upMods; upAttn = upA; upSample = upS
        finalNorm = ActNorm(b, "", channels: ch, embDim: nil, spade: spade); b.nextModule()
        convOut = ConvLayer(b, "", ch, config.outputChannels, kernel: 3); b.nextModule()
        precondition(skipChannels.isEmpty)

        parameterSpecs = b.specs.map { ($0.name, $0.shape) }
        offsets = b.specs.map(\.offset)
        params = UnsafeMutablePointer<Float>.allocate(capacity: max(16, b.total))
        params.update(repeating: 0, count: max(16, b.total))
        packs = b.packs
        packed = UnsafeMutablePointer<Float>.allocate(capacity: max(16, b.packedTotal))
        packed.update(repeating: 0, count: max(16, b.packedTotal))   // the matrices' padding columns
        prepare()
    }

    deinit { params.deallocate(); packed.deallocate() }

    /// Re-derives the packed weights from the parameters; call after changing parameters in place.
    public func prepare() {
        for p in packs {
            let total = p.parts.reduce(0) { $0 + $1.o }
            var column = 0
            for part in p.parts {
                packConv3x3Weights(params + part.weight, inChannels: p.c, outChannels: part.o, into: packed + p.matrix + column,
                                   rowStride: packedConv3x3Stride(total))
                (packed + p.bias + column).update(from: params + part.bias, count: part.o)
                column += part.o
            }
            packWinogradWeights(packed + p.matrix, inChannels: p.c, outChannels: total, into: packed + p.winograd)
        }
    }

    /// Loads every parameter from `file` (names as the reference state_dict, any prefix before
    /// "all_modules." such as "unet." or "module.unet."), checking shapes; the config comes from
    /// its "mcvd.config" metadata unless given.
    public convenience init(file: SafeTensors, config: UNetConfig? = nil) throws {
        guard let cfg = try config ?? file.metadata["mcvd.config"].map({ try UNetConfig(json: $0) }) else {
            throw UNetError("model file has no \"mcvd.config\" metadata")
        }
        try self.init(config: cfg)
        try load(file)
    }

    public convenience init(path: String) throws {
        try self.init(file: try SafeTensors(path: path))
    }

    func load(_ file: SafeTensors) throws {
        guard let first = file.names.first(where: { $0.hasSuffix("all_modules.0.weight") }) else {
            throw UNetError("model file has no all_modules.0.weight: not an NCSNpp state_dict")
        }
        let prefix = String(first.dropLast("all_modules.0.weight".count))
        for (i, spec) in parameterSpecs.enumerated() {
            let name = prefix + spec.name
            guard let shape = file.shape(name) else { throw UNetError("model file lacks \(name) \(spec.shape)") }
            guard shape == spec.shape else {
                throw UNetError("\(name) has shape \(shape), the config needs \(spec.shape)")
            }
            let values = try file.floats(name)
            params.advanced(by: offsets[i]).update(from: values, count: values.count)
        }
        let known = Set(parameterSpecs.map { prefix + $0.name })
        if let extra = file.names.first(where: { $0.hasPrefix(prefix + "all_modules.") && !known.contains($0) }) {
            throw UNetError("model file has \(extra), which the config's architecture does not have")
        }
        prepare()
    }

    /// Seeded uniform init (scale / sqrt(fan-in) for weights, small biases): for benchmarks and tests
    /// that need no reference weights. GroupNorm weights start near 1.
    public func randomize(seed: UInt64, scale: Float = 1) {
        var s = seed &* 0x9E3779B97F4A7C15 | 1
        for (i, spec) in parameterSpecs.enumerated() {
            let count = spec.shape.reduce(1, *), p = params + offsets[i]
            let fanIn = spec.shape.count > 1 ? spec.shape.dropFirst().reduce(1, *) : 1
            let isNormWeight = spec.shape.count == 1 && spec.name.hasSuffix("Norm_0.weight")
            let bound = spec.shape.count > 1 ? scale * (3 / Float(fanIn)).squareRoot() : 0.1
            for j in 0..<count {
                s ^= s << 13; s ^= s >> 7; s ^= s << 17
                let u = Float(s >> 40) / Float(1 << 24) * 2 - 1
                p[j] = isNormWeight ? 1 + 0.1 * u : u * bound
            }
        }
        prepare()
    }

    /// A parameter by its reference name (no prefix), as floats.
    public func parameter(_ name: String) -> [Float]? {
        guard let i = parameterSpecs.firstIndex(where: { $0.name == name }) else { return nil }
        return Array(UnsafeBufferPointer(start: params + offsets[i], count: parameterSpecs[i].shape.reduce(1, *)))
    }
}
