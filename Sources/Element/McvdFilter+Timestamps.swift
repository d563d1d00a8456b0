// What the element tells the user about irregular input timestamps (the rules are Timing.swift's
// InputTimeline): re-placed frames are counted in frames-retimed, dropped ones in frames-dropped; the first
// of each kind posts an element WARNING (gst-launch prints it), and EOS posts a summary when any were.
import CGStreamer
import CGstMcvd

extension McvdFilter {
    /// Counts one more frame in `counter`; true for the first one `warned` has seen (its caller posts the
    /// warning once; later ones are only counted).
    func countFirst(_ counter: WritableKeyPath<Stats, UInt>, warned: WritableKeyPath<Stats, Bool>) -> Bool {
        stats.withLock { s in
            s[keyPath: counter] += 1
            defer { s[keyPath: warned] = true }
            return !s[keyPath: warned]
        }
    }

    func noteRetimed(_ pts: UInt, placed: UInt, previous: UInt?) {
        let first = countFirst(\.framesRetimed, warned: \.warnedRetimed)
        let what = pts == clockTimeNone ? "has no PTS" : "has PTS \(timeString(pts)) \(previous.map { "(previous frame at \(timeString($0)))" } ?? "")"
        gstLog(.info, element, "input frame \(what): placed at \(timeString(placed))")
        if first {
            postWarning(element, "Irregular input timestamps: a frame \(what); re-placed one nominal frame after "
                        + "the previous (at \(timeString(placed))). Such frames are counted in frames-retimed.")
        }
    }

    func noteDropped(_ pts: UInt, previous: UInt) {
        let first = countFirst(\.framesDropped, warned: \.warnedDropped)
        gstLog(.warning, element, "dropping input frame: PTS \(timeString(pts)) too far before the previous \(timeString(previous))")
        if first {
            postWarning(element, "Dropped an input frame: its PTS \(timeString(pts)) lies more than two frames "
                        + "before where the nominal grid expects the frame after the previous one (at "
                        + "\(timeString(previous))), without a DISCONT. Dropped "
                        + "frames are counted in frames-dropped.")
        }
    }

    /// At EOS: one warning with the totals when any frame was dropped or re-placed.
    func reportTimestampSummary() {
        let st = stats.withLock { $0 }
        guard st.framesDropped > 0 || st.framesRetimed > 0 else { return }
        postWarning(element, "\(st.framesIn) input frames: \(st.framesRetimed) re-placed because of missing, "
                    + "duplicated or out-of-place timestamps, \(st.framesDropped) dropped")
    }
}

/// A clock time as GStreamer prints it (0:00:01.033333333).
func timeString(_ t: UInt) -> String {
    guard t != clockTimeNone else { return "none" }
    let s = t / nsPerSecond, ns = t % nsPerSecond
    let frac = String(ns), pad = String(repeating: "0", count: 9 - frac.count)
    return "\(s / 3600):\(s / 60 % 60 < 10 ? "0" : "")\(s / 60 % 60):\(s % 60 < 10 ? "0" : "")\(s % 60).\(pad)\(frac)"
}
