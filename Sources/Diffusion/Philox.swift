// The project's own seeded noise: Philox4x32-10, a counter-based generator, plus Box-Muller normals.
// A value depends only on (seed, sample, block, step, element index), never on how work is split
// across threads or batches, so samples are bit-identical across runs and thread counts.
import Foundation

/// Philox4x32 with 10 rounds (Salmon, Moraes, Dror & Shaw 2011, "Parallel Random Numbers: As Easy as
/// 1, 2, 3", SC'11, sec. 4.2; constants from its Random123 reference implementation). Maps a 128-bit
/// counter and a 64-bit key to 128 random bits; no state.
public enum Philox {
    static let m0: UInt32 = 0xD251_1F53, m1: UInt32 = 0xCD9E_8D57
    static let w0: UInt32 = 0x9E37_79B9, w1: UInt32 = 0xBB67_AE85

    /// The 4 x 32 random bits for `counter` under `key`.
    @inline(__always)
    public static func block(_ counter: (UInt32, UInt32, UInt32, UInt32), key: (UInt32, UInt32))
        -> (UInt32, UInt32, UInt32, UInt32) {
        var (c0, c1, c2, c3) = counter
        var (k0, k1) = key
        for _ in 0..<10 {
            let p0 = UInt64(m0) &* UInt64(c0), p1 = UInt64(m1) &* UInt64(c2)
            let hi0 = UInt32(truncatingIfNeeded: p0 >> 32), lo0 = UInt32(truncatingIfNeeded: p0)
            let hi1 = UInt32(truncatingIfNeeded: p1 >> 32), lo1 = UInt32(truncatingIfNeeded: p1)
            (c0, c1, c2, c3) = (hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0)
            k0 = k0 &+ w0
            k1 = k1 &+ w1
        }
        return (c0, c1, c2, c3)
    }
}

/// One stream of standard normals, named by (seed, sample, block, step). Element j of the stream is
/// computed from Philox block j / 4 alone, so any sub-range can be filled independently.
///
/// Counter layout: (j / 4, step, sample, block); key: the 64-bit seed.
/// - sample: a global sample id chosen by the caller (e.g. the output frame index), not a batch slot.
/// - block: the autoregression block (or any other caller-chosen stream family).
/// - step: the sampler's loop index, or `NoiseStream.initial` for the starting noise.
public struct NoiseStream: Sendable, Equatable {
    public var seed: UInt64
    public var sample: UInt32
    public var block: UInt32
    public var step: UInt32

    /// Step id of the starting noise (pure noise x_T, or the noise of a warm start).
    public static let initial: UInt32 = .max

    public init(seed: UInt64, sample: UInt32, block: UInt32 = 0, step: UInt32 = NoiseStream.initial) {
        self.seed = seed
        self.sample = sample
        self.block = block
        self.step = step
    }

    /// Writes elements `start ..< start + out.count` of the stream into `out`.
    /// Uniforms are (k + 1/2) / 2^32 (never 0 or 1); pairs of them become two normals by Box-Muller
    /// (Box & Muller 1958), computed in Double and rounded to Float.
    public func fill(_ out: UnsafeMutableBufferPointer<Float>, start: Int = 0) {
        guard !out.isEmpty else { return }
        let key = (UInt32(truncatingIfNeeded: seed), UInt32(truncatingIfNeeded: seed >> 32))
        let end = start + out.count
        var j = start
        while j < end {
            let blockIndex = j >> 2
            let r = Philox.block((UInt32(truncatingIfNeeded: blockIndex), step, sample, block), key: key)
            let (z0, z1) = NoiseStream.boxMuller(r.0, r.1)
            let (z2, z3) = NoiseStream.boxMuller(r.2, r.3)
            let lanes = (z0, z1, z2, z3)
            let base = blockIndex << 2
            let hi = min(base + 4, end)
            while j < hi {
                let v: Float
                switch j - base {
                case 0: v = lanes.0
                case 1: v = lanes.1
                case 2: v = lanes.2
                default: v = lanes.3
                }
                out[j - start] = v
                j += 1
            }
        }
    }

    /// `count` elements from the start of the stream.
    public func normals(_ count: Int) -> [Float] {
        var out = [Float](repeating: 0, count: count)
        out.withUnsafeMutableBufferPointer { fill($0) }
        return out
    }

    /// `count` raw 32-bit words from the start of the stream (4 per Philox block), for the trainer's
    /// other draws (coin flips for masking, crop offsets) under the same naming scheme.
    public func bits(_ count: Int) -> [UInt32] {
        let key = (UInt32(truncatingIfNeeded: seed), UInt32(truncatingIfNeeded: seed >> 32))
        var out: [UInt32] = []
        out.reserveCapacity(count + 3)
        var blockIndex = 0
        while out.count < count {
            let r = Philox.block((UInt32(truncatingIfNeeded: blockIndex), step, sample, block), key: key)
            out += [r.0, r.1, r.2, r.3]
            blockIndex += 1
        }
        return Array(out.prefix(count))
    }

    /// `count` integers uniform in 0 ..< bound (e.g. training levels t), by multiply-shift
    /// (Lemire 2019, "Fast Random Integer Generation in an Interval", without the rejection step: the
    /// bias is below bound / 2^32, 2.4e-7 for T = 1000).
    public func uniformInts(_ count: Int, below bound: Int) -> [Int] {
        precondition(bound > 0 && bound <= Int(UInt32.max))
        return bits(count).map { Int((UInt64($0) &* UInt64(bound)) >> 32) }
    }

    @inline(__always)
    static func boxMuller(_ a: UInt32, _ b: UInt32) -> (Float, Float) {
        let scale = 1.0 / 4_294_967_296.0
        let u1 = (Double(a) + 0.5) * scale, u2 = (Double(b) + 0.5) * scale
        let r = (-2 * log(u1)).squareRoot()
        let theta = 2 * Double.pi * u2
        return (Float(r * cos(theta)), Float(r * sin(theta)))
    }
}

/// The noise a sampler draws for a batch: one stream per sample, named by the caller's sample ids.
public struct NoiseSource: Sendable, Equatable {
    public var seed: UInt64
    /// Global sample id per batch slot; nil means 0 ..< N.
    public var sampleIDs: [UInt32]?
    /// Stream family (the autoregression block).
    public var block: UInt32
    /// A block per batch slot instead of `block`: slot i draws what a batch of one (sample 0, or
    /// `sampleIDs[i]`) with block `slotBlocks[i]` draws, so a caller that batches samples gets the noise of
    /// one that runs them one at a time (mcvd eval against the element); nil: `block` for every slot.
    public var slotBlocks: [UInt32]?

    public init(seed: UInt64 = 0, sampleIDs: [UInt32]? = nil, block: UInt32 = 0, slotBlocks: [UInt32]? = nil) {
        self.seed = seed
        self.sampleIDs = sampleIDs
        self.block = block
        self.slotBlocks = slotBlocks
    }

    /// Fills `out` (N samples of `perSample` values) with step `step`'s noise.
    public func fill(_ out: UnsafeMutableBufferPointer<Float>, perSample: Int, step: UInt32) {
        let n = out.count / perSample
        precondition(n * perSample == out.count, "buffer is not a whole number of samples")
        precondition(sampleIDs == nil || sampleIDs!.count == n, "one sample id per batch slot")
        precondition(slotBlocks == nil || slotBlocks!.count == n, "one block per batch slot")
        for i in 0..<n {
            let id = sampleIDs?[i] ?? (slotBlocks == nil ? UInt32(i) : 0)
            let slice = UnsafeMutableBufferPointer(rebasing: out[i * perSample ..< (i + 1) * perSample])
            NoiseStream(seed: seed, sample: id, block: slotBlocks?[i] ?? block, step: step).fill(slice)
        }
    }

    /// Starting noise x_T ~ N(0, I) for N samples of `perSample` values.
    public func initialNoise(samples n: Int, perSample: Int) -> [Float] {
        var out = [Float](repeating: 0, count: n * perSample)
        out.withUnsafeMutableBufferPointer { fill($0, perSample: perSample, step: NoiseStream.initial) }
        return out
    }
}
