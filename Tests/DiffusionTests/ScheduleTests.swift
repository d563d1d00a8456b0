// Schedules, forward noising and the eps <-> v <-> x0 conversions, each against numbers computed here
// in Double from the papers' formulas (not through the code under test).
import Foundation
import Testing
@testable import Diffusion

@Suite struct ScheduleTests {
    /// abar_t = prod_{s <= t} (1 - beta_s), beta_s = 1e-4 + (0.02 - 1e-4) s / 999 (DDPM sec. 4).
    @Test func linearAlphaBarMatchesDoubleProduct() {
        let schedule = NoiseSchedule.linear(steps: 1000, betaMin: 1e-4, betaMax: 0.02)
        #expect(schedule.count == 1000)
        #expect(abs(schedule.betas[0] - 1e-4) < 1e-15 && abs(schedule.betas[999] - 0.02) < 1e-15)
        for t in [0, 1, 10, 99, 250, 500, 999] {
            var product = 1.0
            for s in 0...t { product *= 1 - (1e-4 + (0.02 - 1e-4) * Double(s) / 999) }
            let got = schedule.alphaBar(t)
            #expect(abs(got - product) <= 1e-12 * max(product, 1e-30), "t=\(t): \(got) vs \(product)")
        }
        // Orders of magnitude worth remembering (and a guard against a reversed schedule).
        #expect(abs(schedule.alphaBar(0) - 0.9999) < 1e-12)
        #expect(schedule.alphaBar(999) > 3e-5 && schedule.alphaBar(999) < 5e-5)
        #expect(schedule.alphaBar(-1) == 1)
    }

    /// Nichol & Dhariwal eq. 17 evaluated directly: abar(t) = f(t)/f(0) away from the beta clip.
    @Test func cosineAlphaBarMatchesEquation17() {
        let T = 1000
        let schedule = NoiseSchedule.cosine(steps: T)
        func f(_ t: Double) -> Double { let c = cos((t / Double(T) + 0.008) / 1.008 * Double.pi / 2); return c * c }
        for paperT in [1, 2, 100, 500, 900, 990] {
            let expected = f(Double(paperT)) / f(0)
            let got = schedule.alphaBar(paperT - 1)
            #expect(abs(got - expected) <= 1e-12, "t=\(paperT): \(got) vs \(expected)")
        }
        // The clip keeps every beta <= 0.999 and abar_T > 0.
        #expect(schedule.betas.max()! <= 0.999)
        #expect(schedule.alphaBar(T - 1) > 0)
    }

    /// The network's time input is the reference's label (0 = noisiest).
    @Test func timeCondIsReferenceLabel() {
        let schedule = NoiseSchedule.linear()
        #expect(schedule.timeCond(999) == 0)
        #expect(schedule.timeCond(0) == 999)
        for t in [0, 17, 500, 999] { #expect(schedule.step(forTimeCond: schedule.timeCond(t)) == t) }
    }

    @Test func skipSpacingMatchesReferenceRule() {
        let schedule = NoiseSchedule.linear()
        let ts = schedule.timesteps(100, spacing: .skip)
        #expect(ts.count == 100 && ts.first == 999 && ts.last == 9)
        #expect(zip(ts, ts.dropFirst()).allSatisfy { $0 - $1 == 10 })
        // skip = 1000 / 3 = 333: reference labels 0, 333, 666, 999 -> 4 steps.
        #expect(schedule.timesteps(3, spacing: .skip) == [999, 666, 333, 0])
        #expect(schedule.timesteps(1000, spacing: .skip) == Array((0..<1000).reversed()))
        #expect(schedule.timesteps(1, spacing: .skip) == [999])
    }

    @Test func linspaceSpacingHasExactCount() {
        let schedule = NoiseSchedule.linear()
        for s in [1, 2, 3, 7, 50, 333, 1000] {
            let ts = schedule.timesteps(s, spacing: .linspace)
            #expect(ts.count == s)
            #expect(ts.first == 999)
            if s > 1 { #expect(ts.last == 0) }
            #expect(zip(ts, ts.dropFirst()).allSatisfy { $0 > $1 })
        }
    }

    @Test func addNoiseIsForwardProcess() {
        let schedule = NoiseSchedule.linear()
        let x0: [Float] = [0.5, -0.25, 1, 0, -1, 0.75]
        let eps: [Float] = [1.5, 0.3, -2, 0.1, 0.7, -0.9]
        let t = [123, 876]  // two samples of 3 values
        let xt = schedule.addNoise(x0: x0, eps: eps, t: t)
        for j in 0..<6 {
            let a = schedule.alphaBar(t[j / 3])
            let expected = a.squareRoot() * Double(x0[j]) + (1 - a).squareRoot() * Double(eps[j])
            #expect(abs(Double(xt[j]) - expected) < 1e-6)
        }
        // The v target: sqrt(abar) eps - sqrt(1 - abar) x0.
        var out = [Float](repeating: 0, count: 6), target = [Float](repeating: 0, count: 6)
        x0.withUnsafeBufferPointer { xp in eps.withUnsafeBufferPointer { ep in
            out.withUnsafeMutableBufferPointer { op in target.withUnsafeMutableBufferPointer { tp in
                schedule.addNoise(x0: xp, eps: ep, t: t, into: op, target: tp, parameterization: .v)
            } }
        } }
        for j in 0..<6 {
            let a = schedule.alphaBar(t[j / 3])
            let v = a.squareRoot() * Double(eps[j]) - (1 - a).squareRoot() * Double(x0[j])
            #expect(abs(Double(target[j]) - v) < 1e-6)
        }
    }

    /// eps -> v -> (x0, eps) and x0 -> eps round trips, over the whole range of noise levels.
    @Test func conversionsRoundTrip() {
        let schedule = NoiseSchedule.linear()
        let x0s: [Float] = [-1, -0.3, 0, 0.42, 1]
        let epss: [Float] = [-2.1, -0.5, 0.01, 0.8, 1.9]
        for t in [0, 10, 200, 500, 800, 999] {
            let c = Conversion(alphaBar: schedule.alphaBar(t))
            for (x0, eps) in zip(x0s, epss) {
                let x = c.sqrtAlphaBar * x0 + c.sqrtOneMinusAlphaBar * eps
                let v = c.v(eps: eps, x0: x0)
                // Tolerances: Float rounding amplified by 1/sqrt(abar) (eps-form x0) or 1/sqrt(1-abar) (eps from x0).
                let a = Float(schedule.alphaBar(t))
                let tolX0 = 4e-7 * (1 + 3 / a.squareRoot()), tolEps = 4e-7 * (1 + 3 / (1 - a).squareRoot())
                #expect(abs(c.x0(x: x, v: v) - x0) < 1e-5)
                #expect(abs(c.eps(x: x, v: v) - eps) < 1e-5)
                let fromV = c.x0AndEps(x: x, output: v, .v)
                #expect(abs(fromV.x0 - x0) < 1e-5 && abs(fromV.eps - eps) < 1e-5)
                let fromEps = c.x0AndEps(x: x, output: eps, .eps)
                #expect(abs(fromEps.x0 - x0) < tolX0, "t=\(t) x0 \(fromEps.x0) vs \(x0)")
                #expect(fromEps.eps == eps)
                #expect(abs(c.eps(x: x, x0: x0) - eps) < tolEps, "t=\(t)")
            }
        }
    }
}
