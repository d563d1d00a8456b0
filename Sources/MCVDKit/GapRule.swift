// How method=diffusion fills one gap between two originals in mode=interpolate (README "Scene cuts, static
// content, fill-gaps"): the rule the element applies to its input frames (DiffusionFilter.emitGap) and
// `mcvd eval` to the kept frames of a video, so that eval's model row is the element's output. The tests
// themselves (scene-cut score, static difference) are the Motion library's; callers pass them in.

public enum GapDecision: Equatable, Sendable {
    /// A scene cut between the gap's two originals: the nearer one repeated (the earlier at halfway).
    case sceneCut
    /// A static pair: their blend, no model.
    case still
    /// The model, conditioned on the originals around the gap.
    case model
    /// The fallback method: the model cannot condition (too few originals at hand, or a cut among them).
    case fallback

    /// Gap g lies between originals g and g + 1; the model conditions on originals g - past + 1 ... g + ahead,
    /// of which those in `available` are at hand. `cutBefore(i)`: a scene cut between originals i - 1 and i;
    /// `isStatic`: originals g and g + 1 are a static pair. In that order: a cut in the gap, a static pair,
    /// then the model unless its originals are not all at hand or a cut lies among them.
    public static func decide(gap g: Int, past: Int, ahead: Int, available: ClosedRange<Int>,
                              cutBefore: (Int) throws -> Bool, isStatic: () throws -> Bool) rethrows -> GapDecision {
        if try cutBefore(g + 1) { return .sceneCut }
        if try isStatic() { return .still }
        let (lo, hi) = (g - past + 1, g + ahead)
        guard available.contains(lo), available.contains(hi) else { return .fallback }
        return try ((lo + 1)...hi).contains(where: cutBefore) ? .fallback : .model
    }
}
