// Bad input at the public entry points in every build configuration (the CI runs these in release too):
// a wrong-shaped forward input ends the process with a message (exit tests run it in a child process),
// and `inputProblem` names the problem for callers that want to report it instead.
import Foundation
import Testing
import Tensor
@testable import UNet

@Suite struct SafetyTests {
    @Test func forwardWithWrongSizedInputTrapsWithAMessage() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let (model, _) = try Fixtures.load("tiny-concat")
            let c = model.config
            // One value short of a 16x16 batch of 1.
            _ = model.forward(x: [Float](repeating: 0, count: c.outputChannels * 16 * 16 - 1), t: [500],
                              cond: [Float](repeating: 0, count: c.condChannels * 16 * 16), n: 1, h: 16, w: 16)
        }
        let stderr = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
        #expect(stderr.contains("forward: x has"), "stderr: \(stderr)")
    }

    @Test func forwardWithoutConditioningTrapsWithAMessage() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let (model, _) = try Fixtures.load("smmnist-small5")
            let c = model.config
            let x = [Float](repeating: 0, count: c.outputChannels * 16 * 16)
            x.withUnsafeBufferPointer { xp in
                let out = UnsafeMutablePointer<Float>.allocate(capacity: x.count)
                model.forward(x: xp.baseAddress!, t: [500], cond: nil, n: 1, h: 16, w: 16, into: out)
            }
        }
        let stderr = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
        #expect(stderr.contains("needs conditioning frames"), "stderr: \(stderr)")
    }

    @Test func inputProblemNamesEachMistake() throws {
        let (model, _) = try Fixtures.load("tiny-concat")
        let c = model.config, levels = c.chMult.count
        let x = c.outputChannels * 2 * 16 * 16, cond = c.condChannels * 2 * 16 * 16
        #expect(model.inputProblem(t: 2, hasCond: true, n: 2, h: 16, w: 16, xCount: x, condCount: cond) == nil)
        #expect(model.inputProblem(t: 1, hasCond: true, n: 2, h: 16, w: 16)?.contains("time values") == true)
        #expect(model.inputProblem(t: 2, hasCond: true, n: 2, h: 16, w: 16, xCount: x + 1)?.contains("x has") == true)
        #expect(model.inputProblem(t: 2, hasCond: true, n: 2, h: 16, w: 16, condCount: cond - 1)?.contains("cond has") == true)
        #expect(model.inputProblem(t: 0, hasCond: true, n: 0, h: 16, w: 16) != nil)
        if levels > 1 {
            #expect(model.inputProblem(t: 1, hasCond: true, n: 1, h: 16 + 1, w: 16)?.contains("not divisible") == true)
        }
        if c.condFrames > 0 {
            #expect(model.inputProblem(t: 1, hasCond: false, n: 1, h: 16, w: 16)?.contains("conditioning") == true)
        }
    }
}
