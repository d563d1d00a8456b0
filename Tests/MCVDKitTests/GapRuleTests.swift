// GapDecision, the rule the element and `mcvd eval` share for one gap of mode=interpolate: a cut in the gap
// first, then a static pair, then the model only when its originals are at hand and no cut lies among them.
import MCVDKit
import Testing

@Suite struct GapRuleTests {
    /// Gap g between originals g and g + 1 of 0...9, a model of 2 past (g - 1, g) and 2 ahead (g + 1, g + 2).
    func decide(_ g: Int, cuts: Set<Int> = [], still: Bool = false) -> GapDecision {
        GapDecision.decide(gap: g, past: 2, ahead: 2, available: 0...9, cutBefore: { cuts.contains($0) }, isStatic: { still })
    }

    @Test func orderAndWindow() {
        #expect(decide(4) == .model)
        #expect(decide(4, cuts: [5]) == .sceneCut)
        #expect(decide(4, cuts: [5], still: true) == .sceneCut, "a cut wins over a static pair")
        #expect(decide(4, still: true) == .still)
        #expect(decide(4, cuts: [4]) == .fallback, "a cut between the two past originals")
        #expect(decide(4, cuts: [6]) == .fallback, "a cut between the two future originals")
        #expect(decide(4, cuts: [3, 7]) == .model, "cuts outside the conditioning originals 3...6")
        #expect(decide(0) == .fallback && decide(8) == .fallback, "originals -1 and 10 are not at hand")
        #expect(decide(1) == .model && decide(7) == .model)
    }
}
