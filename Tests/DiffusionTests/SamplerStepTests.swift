// Single sampler steps written out by hand in Double (an independent code path from the samplers),
// on fixed small vectors, plus the warm start, clipping, the reference's final denoise and the plumbing.
import Foundation
import Testing
@testable import Diffusion

/// A network that returns fixed outputs and records every x and time input it sees.
func recordingModel(_ schedule: NoiseSchedule, _ p: Parameterization, outputs: [Float], log: CallLog) -> Denoiser {
    Denoiser(schedule: schedule, parameterization: p, sampleSize: outputs.count) { x, labels, out in
        log.inputs.append(Array(x))
        log.labels.append(labels)
        for j in 0..<out.count { out[j] = outputs[j % outputs.count] }
    }
}

@Suite struct SamplerStepTests {
    let schedule = NoiseSchedule.linear()
    let x: [Float] = [0.3, -1.2, 0.8, 2.0, -0.05]
    let eps: [Float] = [0.5, -0.7, 1.9, -2.2, 0.0]

    /// abar_t from the betas, in Double, without the schedule's own arrays.
    func abar(_ t: Int) -> Double {
        if t < 0 { return 1 }
        var p = 1.0
        for s in 0...t { p *= 1 - (1e-4 + (0.02 - 1e-4) * Double(s) / 999) }
        return p
    }

    /// Song et al. eq. 12 with eq. 16's sigma, clip of x0 to [-1, 1], eps unclipped.
    func ddimStep(x: Double, eps: Double, a: Double, ap: Double, eta: Double, z: Double) -> Double {
        let x0 = min(max((x - (1 - a).squareRoot() * eps) / a.squareRoot(), -1), 1)
        let sigma = eta * ((1 - ap) / (1 - a)).squareRoot() * (1 - a / ap).squareRoot()
        return ap.squareRoot() * x0 + (1 - ap - sigma * sigma).squareRoot() * eps + sigma * z
    }

    /// One DDIM step t = 600 -> 300 on fixed vectors, eta = 0 (the reference's `ddim_sampler` rule) and
    /// eta = 0.7, checked through the x the network sees on its second call; then the last step (to
    /// abar = 1) must return the clipped x0. Tolerance 2e-6: Float rounding of O(1) values.
    @Test(arguments: [0.0, 0.7]) func ddimStepByHand(eta: Double) throws {
        let log = CallLog()
        let model = recordingModel(schedule, .eps, outputs: eps, log: log)
        var out = x
        let knobs = SamplerKnobs(eta: eta, clip: true, noise: NoiseSource(seed: 11))
        try sampleDDIM(model: model, x: &out, timesteps: [600, 300], knobs: knobs)
        #expect(log.labels == [[399], [699]])  // the network gets the reference's labels T-1-t
        let z = NoiseStream(seed: 11, sample: 0, block: 0, step: 0).normals(x.count)
        let (a, ap) = (abar(600), abar(300))
        var mid = [Double]()
        for j in x.indices {
            let expected = ddimStep(x: Double(x[j]), eps: Double(eps[j]), a: a, ap: ap, eta: eta, z: Double(z[j]))
            #expect(abs(Double(log.inputs[1][j]) - expected) < 2e-6, "j=\(j): \(log.inputs[1][j]) vs \(expected)")
            mid.append(expected)
        }
        // Clipping was active on this vector (x0 of the last two values leaves [-1, 1]).
        #expect(abs((Double(x[3]) - (1 - a).squareRoot() * Double(eps[3])) / a.squareRoot()) > 1)
        for j in x.indices {
            let x0 = min(max((mid[j] - (1 - ap).squareRoot() * Double(eps[j])) / ap.squareRoot(), -1), 1)
            #expect(abs(Double(out[j]) - x0) < 2e-6 * (1 + 1 / ap.squareRoot()))
        }
    }

    /// One DDPM step 500 -> 499 (Ho et al. eq. 7 posterior with tilde-beta), clip on.
    @Test func ddpmStepByHand() throws {
        let log = CallLog()
        let model = recordingModel(schedule, .eps, outputs: eps, log: log)
        var out = x
        try sampleDDPM(model: model, x: &out, timesteps: [500, 499, 100], knobs: SamplerKnobs(noise: NoiseSource(seed: 5)))
        let z = NoiseStream(seed: 5, sample: 0, block: 0, step: 0).normals(x.count)
        let (a, ap) = (abar(500), abar(499))
        let beta = 1 - a / ap
        for j in x.indices {
            let x0 = min(max((Double(x[j]) - (1 - a).squareRoot() * Double(eps[j])) / a.squareRoot(), -1), 1)
            let mean = ap.squareRoot() * beta / (1 - a) * x0 + (1 - beta).squareRoot() * (1 - ap) / (1 - a) * Double(x[j])
            let expected = mean + ((1 - ap) / (1 - a) * beta).squareRoot() * Double(z[j])
            #expect(abs(Double(log.inputs[1][j]) - expected) < 2e-6, "j=\(j)")
        }
        #expect(log.inputs.count == 3)
    }

    /// Warm start: the first network input is sqrt(abar) x_init + sqrt(1 - abar) z with the initial stream.
    @Test func warmStartNoisesTheGuess() throws {
        let log = CallLog()
        let model = recordingModel(schedule, .eps, outputs: eps, log: log)
        var out = x
        try sampleDDIM(model: model, x: &out, timesteps: [299, 199, 99],
                       knobs: SamplerKnobs(start: .guess, noise: NoiseSource(seed: 8, sampleIDs: [42])))
        let z = NoiseStream(seed: 8, sample: 42, block: 0, step: NoiseStream.initial).normals(x.count)
        let a = abar(299)
        for j in x.indices {
            let expected = a.squareRoot() * Double(x[j]) + (1 - a).squareRoot() * Double(z[j])
            #expect(abs(Double(log.inputs[0][j]) - expected) < 2e-6)
        }
        // Warm-start levels: strength 0.3 keeps the skip-100 levels at or below round(0.3 * 999) = 300.
        let options = BlockOptions(steps: 100, warmStart: 0.3)
        #expect(options.timesteps(schedule) == Array(stride(from: 299, through: 9, by: -10)))
    }

    /// Clipping bounds the result to [-1, 1], or to [-1 - b, 1 - b] with a residual offset b; off = free.
    @Test func clipRespectsRangeAndOffset() throws {
        let oracle = GaussianOracle(mu: 3, s: 0.1)  // data far outside the range
        let model = oracle.denoiser(schedule, .eps, sampleSize: 64)
        let ts = schedule.timesteps(10)
        let start = NoiseSource(seed: 1).initialNoise(samples: 1, perSample: 64)
        var free = start, clipped = start, shifted = start
        try sampleDDIM(model: model, x: &free, timesteps: ts, knobs: SamplerKnobs(clip: false))
        try sampleDDIM(model: model, x: &clipped, timesteps: ts, knobs: SamplerKnobs(clip: true))
        let b = (0..<64).map { Float($0) / 64 }
        try sampleDDIM(model: model, x: &shifted, timesteps: ts, knobs: SamplerKnobs(clip: true, clipOffset: b))
        #expect(free.min()! > 2)
        #expect(clipped.allSatisfy { $0 <= 1 && $0 >= -1 } && clipped.max()! == 1)
        #expect(zip(shifted, b).allSatisfy { $0 + $1 <= 1 + 1e-6 && $0 + $1 >= -1 - 1e-6 })
    }

    /// The reference's extra denoise step: label L - 1, x -= sqrt(1 - abar_last) eps.
    @Test func referenceFinalDenoise() throws {
        let log = CallLog()
        let model = recordingModel(schedule, .eps, outputs: eps, log: log)
        var plain = x, extra = x
        try sampleDDIM(model: model, x: &plain, timesteps: [999, 500, 9])
        let calls = log.labels.count
        try sampleDDIM(model: model, x: &extra, timesteps: [999, 500, 9], knobs: SamplerKnobs(referenceFinalDenoise: true))
        #expect(log.labels.count == 2 * calls + 1 && log.labels.last! == [2])
        for j in x.indices {
            let expected = Double(plain[j]) - (1 - abar(9)).squareRoot() * Double(eps[j])
            #expect(abs(Double(extra[j]) - expected) < 1e-6)
        }
    }

    @Test func progressAndValidation() throws {
        let log = CallLog()
        let model = recordingModel(schedule, .eps, outputs: eps, log: log)
        var seen: [Int] = []
        var out = x
        try SamplerKind.ddpm.function(model, &out, [30, 20, 10], SamplerKnobs()) { done, total in
            #expect(total == 3)
            seen.append(done)
        }
        #expect(seen == [1, 2, 3])
        #expect(throws: SamplerError.self) { try sampleDDIM(model: model, x: &out, timesteps: [10, 20]) }
        #expect(throws: SamplerError.self) { try sampleDDIM(model: model, x: &out, timesteps: [1000]) }
        #expect(throws: SamplerError.self) { try sampleDDIM(model: model, x: &out, timesteps: []) }
        var wrong: [Float] = [1, 2, 3]
        #expect(throws: SamplerError.self) { try sampleDDIM(model: model, x: &wrong, timesteps: [5]) }
    }
}
