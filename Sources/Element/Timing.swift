// The output frame-rate grid and the rules that map output slots onto input frames. Pure integer
// maths in nanoseconds (gst_util_uint64_scale), so slot times never drift: slot i is computed from its
// index, not by adding durations. The element (McvdFilter) owns the grid; this file has no state.
import CGStreamer

let nsPerSecond: UInt = 1_000_000_000
let clockTimeNone: UInt = UInt.max

/// A positive frame rate n/d frames per second.
struct Fraction: Equatable, CustomStringConvertible {
    var n: Int32
    var d: Int32
    var description: String { "\(n)/\(d)" }

    /// Duration of one frame in ns, rounded down.
    var frameDuration: UInt { gst_util_uint64_scale(nsPerSecond, UInt(d), UInt(n)) }

    /// self x factor, or nil on overflow.
    func times(_ factor: Int32) -> Fraction? {
        var rn: Int32 = 0, rd: Int32 = 0
        guard gst_util_fraction_multiply(n, d, factor, 1, &rn, &rd) != 0 else { return nil }
        return Fraction(n: rn, d: rd)
    }
}

/// Output slot i covers [start(i), start(i+1)): start(i) = anchor + i * d / n seconds.
struct OutputGrid {
    let anchor: UInt
    let rate: Fraction

    func start(_ i: UInt) -> UInt {
        anchor &+ gst_util_uint64_scale(i, nsPerSecond &* UInt(rate.d), UInt(rate.n))
    }

    /// How close (ns) an output slot must be to an input frame's PTS to count as that frame: 1/8 of an
    /// output frame, at most 1 ms. It absorbs container timestamp rounding (e.g. 1/90000 s ticks) so
    /// that original frames pass through untouched instead of being blended with a weight of ~0.
    var tolerance: UInt { min(rate.frameDuration / 8, nsPerSecond / 1000) }

    /// Whether slot i starts before `time` by more than the tolerance (i.e. belongs before it).
    func slot(_ i: UInt, isBefore time: UInt) -> Bool {
        let s = start(i)
        return s < time && time - s > tolerance
    }
}

/// Blend weight of the later frame for an output time t between input PTS p0 < p1, in 1/256 units,
/// rounded to nearest: w = round(256 * (t - p0) / (p1 - p0)), clamped to 0...256.
func blendWeight(t: UInt, p0: UInt, p1: UInt) -> Int {
    guard p1 > p0, t > p0 else { return 0 }
    if t >= p1 { return 256 }
    return Int(gst_util_uint64_scale_round(t - p0, 256, p1 - p0))
}
