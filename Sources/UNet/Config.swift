// The architecture config of a model file: the reference config's `model:` and `data:` fields (their
// reference names) with the reference's defaults; read from a model file's "mcvd.config" by
// ModelConfig.swift. What is fixed in the reference code (BigGAN blocks, FIR [1,3,3,1], skip rescale,
// positional embedding) is not here: the reader checks that a file says so.
import Foundation

public struct UNetError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { "unet: \(message)" }
}

public struct UNetConfig: Sendable, Equatable {
    // model:
    public var ngf: Int
    public var chMult: [Int]
    public var numResBlocks: Int
    public var attnResolutions: [Int]
    /// Channels per attention head; -1 = one head.
    public var nHeadChannels: Int
    /// time_conditional: the network sees t (through the time embedding).
    public var timeConditional: Bool
    public var condEmb: Bool
    /// SPATIN (SPADE_NCSNpp) instead of concatenation (NCSNpp).
    public var spade: Bool
    public var spadeDim: Int
    public var arch: String
    public var version: String
    // data:
    public var imageSize: Int
    public var channels: Int
    public var numFrames: Int
    public var numFramesCond: Int
    public var numFramesFuture: Int
    /// Frames of the residual base the network sees after past and future (data.num_frames_base: 0; num_frames
    /// for a residual model conditioned on its base; 2 num_frames for one conditioned on the motion base's
    /// two sides; not in the reference).
    public var numFramesBase: Int
    /// How the network sees its base (numFramesBase / numFrames): 0 not at all, 1 the base, 2 its two sides.
    public var baseViews: Int { numFramesBase / numFrames }

    /// Conditioning frames (past + future, + the base's), as the reference's num_frames_cond of the network.
    public var condFrames: Int { numFramesCond + numFramesFuture + numFramesBase }
    public var inputChannels: Int { channels * (spade ? numFrames : numFrames + condFrames) }
    public var outputChannels: Int { channels * numFrames }
    public var condChannels: Int { channels * condFrames }

    public init(ngf: Int, chMult: [Int], numResBlocks: Int, attnResolutions: [Int], nHeadChannels: Int = -1,
                timeConditional: Bool = true, condEmb: Bool = false, spade: Bool = false, spadeDim: Int = 128,
                arch: String = "unetmore", version: String = "DDPM", imageSize: Int, channels: Int,
                numFrames: Int, numFramesCond: Int, numFramesFuture: Int = 0, numFramesBase: Int = 0) {
        self.ngf = ngf; self.chMult = chMult; self.numResBlocks = numResBlocks
        self.attnResolutions = attnResolutions; self.nHeadChannels = nHeadChannels
        self.timeConditional = timeConditional; self.condEmb = condEmb; self.spade = spade
        self.spadeDim = spadeDim; self.arch = arch; self.version = version; self.imageSize = imageSize
        self.channels = channels; self.numFrames = numFrames; self.numFramesCond = numFramesCond
        self.numFramesFuture = numFramesFuture; self.numFramesBase = numFramesBase
    }

    /// The "model" and "data" sections of a model file's "mcvd.config", read by the strict reader
    /// (`ModelConfig`, ModelConfig.swift): unknown or ill-typed fields are errors naming the field.
    public init(json: String) throws {
        self = try ModelConfig(json: json).unet
    }

    public func validate() throws {
        guard arch == "unetmore" || arch == "unet" else {
            throw UNetError("config: arch \(arch) is not supported (only the 2D unetmore network)")
        }
        guard ngf > 0, !chMult.isEmpty, chMult.allSatisfy({ $0 > 0 }), numResBlocks >= 1 else {
            throw UNetError("config: ngf, ch_mult and num_res_blocks must be positive")
        }
        guard channels > 0, numFrames > 0, numFramesCond >= 0, numFramesFuture >= 0, spadeDim > 0 else {
            throw UNetError("config: channels/num_frames must be positive, cond counts >= 0")
        }
        guard [0, numFrames, 2 * numFrames].contains(numFramesBase) else {
            throw UNetError("config: num_frames_base must be 0, num_frames (\(numFrames)) or twice that, got \(numFramesBase)")
        }
        guard imageSize > 0, imageSize % (1 << (chMult.count - 1)) == 0 else {
            throw UNetError("config: image_size \(imageSize) must be divisible by 2^\(chMult.count - 1)")
        }
        if spade && condFrames == 0 { throw UNetError("config: SPATIN (spade) needs conditioning frames") }
        for m in chMult where nHeadChannels > 0 && ngf * m >= nHeadChannels && (ngf * m) % nHeadChannels != 0 {
            throw UNetError("config: \(ngf * m) channels not divisible by n_head_channels \(nHeadChannels)")
        }
    }

    /// The same network for another image size: attention stays at the same levels (the reference
    /// picks levels from data.image_size, so attn_resolutions scale with it), as tools/bench_torch.py does.
    public func resized(_ size: Int) -> UNetConfig {
        var c = self
        c.attnResolutions = attnResolutions.map { $0 * size / imageSize }
        c.imageSize = size
        return c
    }

    public var summary: String {
        "\(spade ? "SPATIN" : "concat") ngf=\(ngf) ch_mult=\(chMult) res_blocks=\(numResBlocks) attn=\(attnResolutions) "
            + "heads_ch=\(nHeadChannels) frames C=\(channels) n=\(numFrames) past=\(numFramesCond) future=\(numFramesFuture) "
            + (numFramesBase > 0 ? "base=\(numFramesBase) " : "") + "image=\(imageSize)" + (spade ? " spade_dim=\(spadeDim)" : "") + (condEmb ? " cond_emb" : "")
            + (timeConditional ? "" : " unconditional-time")
    }
}
