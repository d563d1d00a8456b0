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
    /// How close (ns) an input frame's PTS must be to a slot to *be* that slot's frame (passed through,
    /// snapped onto the slot): the `snap-window` property, or `OutputGrid.autoTolerance`.
    let tolerance: UInt

    init(anchor: UInt, rate: Fraction, tolerance: UInt? = nil) {
        self.anchor = anchor
        self.rate = rate
        self.tolerance = min(tolerance ?? OutputGrid.autoTolerance(rate), OutputGrid.maxTolerance(rate))
    }

    /// Default snap window: 1/3 of an output frame (5.6 ms at 60 fps). It absorbs container timestamp
    /// rounding and live capture jitter (a camera's PTS wander by several ms), so that originals pass
    /// through instead of being replaced by blends weighted ~0 or ~1.
    static func autoTolerance(_ rate: Fraction) -> UInt { rate.frameDuration / 3 }

    /// A window of half an output frame or more would let one input frame claim two slots.
    static func maxTolerance(_ rate: Fraction) -> UInt { max(rate.frameDuration / 2, 1) - 1 }

    func start(_ i: UInt) -> UInt {
        anchor &+ gst_util_uint64_scale(i, nsPerSecond &* UInt(rate.d), UInt(rate.n))
    }

    /// Whether slot i starts before `time` by more than the tolerance (i.e. belongs before it).
    func slot(_ i: UInt, isBefore time: UInt) -> Bool {
        let s = start(i)
        return s < time && time - s > tolerance
    }
}

/// Where an input frame goes on the input timeline, decided before any slot is made from it.
enum InputPlacement: Equatable {
    /// Its own PTS.
    case at(UInt)
    /// Re-placed on the nominal grid: its PTS was missing, duplicated or too close to the previous
    /// frame's (decoders do that, e.g. AVI with packed B-frames). Frames snapped from jitter are `.at`.
    case retimed(UInt)
    /// Dropped: its PTS lies too far before where the nominal grid would put it (counted, warned).
    case dropped
}

/// The input timeline: where each input frame goes before any slot is made from it (README
/// "Timestamps"). With a caps frame rate, frames are expected on its nominal grid, anchored at the frame
/// that (re)started the timeline; the grid position is computed from the frame count, so it never drifts:
/// - within `window` of the next grid position (capture jitter, container rounding; by default a third
///   of an input frame): placed exactly there;
/// - no PTS: placed there too (counted as re-placed);
/// - at least half an input frame after the previous frame but further off the grid: kept at its own
///   PTS; when it is less than half a frame off (a large jitter) the grid goes on, else (a missing frame,
///   irregular spacing) the grid restarts from it;
/// - otherwise (duplicated, going back, or a fraction of a frame after the previous; decoders of AVI files
///   do this): re-placed at the next grid position, as long as that is at most `maxLead` input frames
///   (plus the third of a frame) after its own PTS; beyond that (timestamps running far faster than the caps say, or jumping back
///   without a DISCONT) it is dropped.
/// Variable-rate input (no caps rate) has no grid: frames keep their PTS unless they are not at least
/// half a nominal frame (one output frame) after the previous, then the rules above apply.
struct InputTimeline {
    /// The caps' frame rate; nil for variable-rate input.
    var rate: Fraction?
    /// One input frame at `rate`, or one output frame for variable-rate input.
    var nominal: UInt
    /// How far a PTS may be moved onto the grid (the `snap-window` property when set).
    var window: UInt
    var maxLead: UInt = 2
    private var anchor: UInt = 0
    private var count: UInt = 0
    /// Where the previous frame was placed.
    private var last: UInt = 0
    private(set) var started = false

    init(rate: Fraction?, nominal: UInt, window: UInt? = nil) {
        self.rate = rate
        self.nominal = nominal
        self.window = rate == nil ? 0 : min(window ?? nominal / 3, max(nominal / 2, 1) - 1)
    }

    /// Grid position k frames after the anchor.
    func time(_ k: UInt) -> UInt {
        guard let rate else { return anchor &+ k &* nominal }
        return anchor &+ gst_util_uint64_scale(k, nsPerSecond &* UInt(rate.d), UInt(rate.n))
    }

    /// Forget the previous frame (start, DISCONT, gap, new segment): the next frame anchors the grid.
    mutating func reset() { started = false }

    private mutating func restart(at t: UInt) -> UInt {
        anchor = t
        count = 0
        last = t
        started = true
        return t
    }

    /// Places a frame with PTS `pts` (clockTimeNone if it has none); `start` is used when the very
    /// first frame has no PTS.
    mutating func place(_ pts: UInt, start: UInt) -> InputPlacement {
        guard started else { return pts == clockTimeNone ? .retimed(restart(at: start)) : .at(restart(at: pts)) }
        let next = time(count + 1)
        if pts == clockTimeNone { return .retimed(advance(to: next)) }
        let offGrid = pts > next ? pts - next : next - pts
        if offGrid <= window { return .at(advance(to: next)) }
        if pts > last, pts - last >= nominal / 2 {
            // Less than half a frame off: an outlier of the jitter, kept where it is; the grid goes on.
            // Further: a missing frame or irregular spacing, and the grid restarts from this frame.
            // Variable-rate input has no grid: every kept frame restarts it (so `next` = this + nominal).
            return .at(offGrid < nominal / 2 && rate != nil ? advance(to: pts) : restart(at: pts))
        }
        if next > pts, next - pts > maxLead &* nominal &+ nominal / 3 { return .dropped }
        return .retimed(advance(to: next))
    }

    private mutating func advance(to t: UInt) -> UInt {
        count += 1
        last = t
        return t
    }
}

/// Blend weight of the later frame for an output time t between input PTS p0 < p1, in 1/256 units,
/// rounded to nearest: w = round(256 * (t - p0) / (p1 - p0)), clamped to 0...256.
func blendWeight(t: UInt, p0: UInt, p1: UInt) -> Int {
    guard p1 > p0, t > p0 else { return 0 }
    if t >= p1 { return 256 }
    return Int(gst_util_uint64_scale_round(t - p0, 256, p1 - p0))
}
