// Two tests on a pair of neighbouring frames, shared by every caller that decides how to fill the time
// between them (the element's method=motion and method=diffusion, `mcvd eval`, `mcvd scene-cuts`):
// the scene-cut score, read off a motion estimate (MotionInterpolator), and the static-content
// difference, a plain luma comparison. The thresholds are the callers' (the element's scene-threshold
// and static-threshold properties); the defaults here are the measured ones (README "Scene cuts").

/// A scene cut: even the best motion field between the two frames leaves a large match error.
///
/// score = e / c, where e is the mean absolute bilateral error (0...255 levels) of the motion field at the
/// midpoint (`MotionInterpolator.meanError` after `prepare(t: 0.5)`) and c the frames' luma contrast
/// (mean absolute deviation from the mean, A and B averaged: `MotionInterpolator.contrast`); the score is 0
/// when e is at most `minimumError` (flat, noisy frames are not cuts). The pair is a cut when
/// score > threshold.
///
/// Measured (`mcvd scene-cuts --data-md`, README "Scene cuts, static content, fill-gaps"): on the 1520
/// consecutive pairs of the docs/data.md videos (3 real cuts among them, checked by eye) and 624 pairs
/// spliced from two different videos, 0.5 finds the 3 cuts with 1 false cut (a flickering 1906 film) at
/// 64 rows and none at 128, and 92.0% / 87.8% of the spliced pairs.
public enum SceneCut {
    public static let defaultThreshold: Float = 0.5
    /// Below this mean error (levels) a pair is never a cut.
    public static let minimumError: Float = 8

    /// The score of a pair from its motion field's mean error and the frames' contrast.
    public static func score(meanError: Float, contrast: Float, minimumError: Float = SceneCut.minimumError) -> Float {
        meanError <= minimumError ? 0 : meanError / max(contrast, 1e-3)
    }

    /// True when `score` makes a cut at `threshold`; threshold 0 turns detection off.
    public static func isCut(score: Float, threshold: Float) -> Bool {
        threshold > 0 && score > threshold
    }
}

/// Static content: how different two frames are where they differ most.
///
/// difference = the largest, over 16 x 16 luma blocks (edge blocks smaller), of the block's mean absolute
/// luma difference between A and B, in 0...255 levels (16-bit samples scaled). Sensor noise and coding
/// noise on a still picture stay at a level or two; a small moving object or a slow pan moves some
/// block well above that, where a global mean would hide it.
public enum StaticContent {
    /// Levels. On the docs/data.md footage no pair of frames two apart is this still (README "Scene cuts,
    /// static content, fill-gaps"): only content still up to noise is skipped.
    public static let defaultThreshold: Float = 1.5
    public static let block = 16

    public static func difference(_ a: LumaSource, _ b: LumaSource) throws -> Float {
        guard a.width == b.width, a.height == b.height else {
            throw MotionError("frames differ in size: \(a.width)x\(a.height) and \(b.width)x\(b.height)")
        }
        let w = a.width, h = a.height, n = block
        let bx = (w + n - 1) / n
        var sums = [Float](repeating: 0, count: bx)
        var worst: Float = 0
        var y0 = 0
        while y0 < h {
            let y1 = min(y0 + n, h)
            for i in 0..<bx { sums[i] = 0 }
            for y in y0..<y1 {
                for x in 0..<w { sums[x / n] += abs(a.luma(x, y) - b.luma(x, y)) }
            }
            for i in 0..<bx {
                let cols = min(n, w - i * n)
                worst = max(worst, sums[i] / Float(cols * (y1 - y0)))
            }
            y0 = y1
        }
        return worst
    }

    /// True when `difference` makes the pair static at `threshold`; threshold 0 turns the test off.
    public static func isStatic(difference: Float, threshold: Float) -> Bool {
        threshold > 0 && difference <= threshold
    }
}

extension LumaSource {
    /// Luma at (x, y) on the 0...255 scale (Y = 0.299 R + 0.587 G + 0.114 B for RGB).
    @inline(__always) func luma(_ x: Int, _ y: Int) -> Float {
        switch self {
        case .plane(let p): p.value(x, y)
        case .rgb(let r, let g, let b): 0.299 * r.value(x, y) + 0.587 * g.value(x, y) + 0.114 * b.value(x, y)
        }
    }
}

extension MotionInterpolator {
    /// The scene-cut score (SceneCut) of the current pair at the prepared time.
    public var sceneScore: Float {
        SceneCut.score(meanError: meanError, contrast: contrast, minimumError: settings.sceneCutMinimum)
    }
}
