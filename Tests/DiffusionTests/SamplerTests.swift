// DDPM and DDIM against the Gaussian oracle (moments), hand-written single steps, determinism,
// inversion, warm start, clipping and the shared plumbing.
import Foundation
import Testing
@testable import Diffusion

@Suite struct SamplerTests {
    let schedule = NoiseSchedule.linear()
    // 4 samples x 4096 values = 16384 independent draws.
    let samples = 4, sampleSize = 4096

    /// Runs `kind` with the oracle from x_T ~ N(0, 1) and checks the output moments.
    /// Tolerance: 5 standard errors of the estimators for P = 16384 Gaussian draws,
    /// SE(mean) = sqrt(var / P), SE(var) = var sqrt(2 / (P - 1)); the output is exactly Gaussian
    /// because every step is affine with Gaussian noise.
    func checkMoments(_ kind: GaussianOracle.Kind, steps: Int, oracle: GaussianOracle,
                      parameterization: Parameterization = .eps) throws -> (mean: Double, variance: Double) {
        let ts = schedule.timesteps(steps)
        let model = oracle.denoiser(schedule, parameterization, sampleSize: sampleSize)
        let noise = NoiseSource(seed: 2024)
        var x = noise.initialNoise(samples: samples, perSample: sampleSize)
        let knobs: SamplerKnobs
        switch kind {
        case .ddpm:
            knobs = SamplerKnobs(clip: false, noise: noise)
            try sampleDDPM(model: model, x: &x, timesteps: ts, knobs: knobs)
        case .ddim(let eta):
            knobs = SamplerKnobs(eta: eta, clip: false, noise: noise)
            try sampleDDIM(model: model, x: &x, timesteps: ts, knobs: knobs)
        }
        let got = moments(x)
        let want = oracle.predictedMoments(schedule, ts, kind)
        let p = Double(x.count)
        let seMean = (want.variance / p).squareRoot(), seVar = want.variance * (2 / (p - 1)).squareRoot()
        #expect(abs(got.mean - want.mean) < 5 * seMean, "\(kind) S=\(steps): mean \(got.mean) vs \(want.mean)")
        #expect(abs(got.variance - want.variance) < 5 * seVar, "\(kind) S=\(steps): var \(got.variance) vs \(want.variance)")
        return want
    }

    /// DDPM over all 1000 levels reproduces the data: the exact output moments (recursion) are matched by
    /// the sample, and those moments are within 2% of s^2 (DDPM with sigma^2 = tilde-beta slightly
    /// under-disperses: it ignores the uncertainty of x0 given x_t; here var = 0.2461 vs 0.25).
    @Test func ddpmMatchesGaussianData() throws {
        let oracle = GaussianOracle(mu: 0.3, s: 0.5)
        let want = try checkMoments(.ddpm, steps: 1000, oracle: oracle)
        #expect(abs(want.mean - 0.3) < 1e-4)
        #expect(abs(want.variance - 0.25) < 0.02 * 0.25)
    }

    /// DDIM eta = 0 at several step counts. The probability-flow discretization shrinks the variance
    /// when s != 1 (by Cauchy-Schwarz on each step's coefficient): 0.137 at S = 10, 0.222 at S = 50,
    /// 0.243 at S = 200 against s^2 = 0.25; the sample must match the exact value and, from S = 200,
    /// be within 4% of the data's variance.
    @Test(arguments: [10, 50, 200]) func ddimDeterministicMoments(steps: Int) throws {
        let oracle = GaussianOracle(mu: 0.3, s: 0.5)
        let want = try checkMoments(.ddim(eta: 0), steps: steps, oracle: oracle)
        #expect(abs(want.mean - 0.3) < 2e-3)
        if steps >= 200 { #expect(abs(want.variance - 0.25) < 0.04 * 0.25) }
    }

    /// DDIM eta = 1 (stochastic) at two step counts, and a second data set.
    @Test(arguments: [20, 100]) func ddimStochasticMoments(steps: Int) throws {
        _ = try checkMoments(.ddim(eta: 1), steps: steps, oracle: GaussianOracle(mu: 0.3, s: 0.5))
        _ = try checkMoments(.ddim(eta: 1), steps: steps, oracle: GaussianOracle(mu: -0.4, s: 0.2))
    }

    /// The v-parameterized oracle drives the sampler to the same result as the eps one (same x, same
    /// noise); only Float rounding differs (the x0 of an eps model divides by sqrt(abar) ~ 6e-3 at the
    /// noisiest level, so allow 1e-3 absolute).
    @Test func vAndEpsParameterizationsAgree() throws {
        let oracle = GaussianOracle(mu: 0.1, s: 0.7)
        let ts = schedule.timesteps(25)
        let noise = NoiseSource(seed: 3)
        let x0 = noise.initialNoise(samples: 2, perSample: 512)
        var results: [[Float]] = []
        for p in [Parameterization.eps, .v] {
            var x = x0
            try sampleDDIM(model: oracle.denoiser(schedule, p, sampleSize: 512), x: &x, timesteps: ts,
                           knobs: SamplerKnobs(eta: 0.5, clip: true, noise: noise))
            results.append(x)
        }
        let maxDiff = zip(results[0], results[1]).map { abs($0 - $1) }.max()!
        #expect(maxDiff < 1e-3, "max |eps - v| = \(maxDiff)")
        #expect(results[0] != x0)
    }

    /// eta = 0: the output is a function of the starting noise only. Same start, different seeds ->
    /// identical bits; different starts -> different samples. eta = 1: the seed matters, reproducibly.
    @Test func ddimDeterminism() throws {
        let oracle = GaussianOracle(mu: 0.2, s: 0.4)
        let model = oracle.denoiser(schedule, .eps, sampleSize: 256)
        let ts = schedule.timesteps(20)
        let startA = NoiseSource(seed: 1).initialNoise(samples: 2, perSample: 256)
        let startB = NoiseSource(seed: 2).initialNoise(samples: 2, perSample: 256)
        func run(_ start: [Float], eta: Double, seed: UInt64) throws -> [Float] {
            var x = start
            try sampleDDIM(model: model, x: &x, timesteps: ts, knobs: SamplerKnobs(eta: eta, noise: NoiseSource(seed: seed)))
            return x
        }
        let a1 = try run(startA, eta: 0, seed: 1)
        #expect(try run(startA, eta: 0, seed: 1) == a1)
        #expect(try run(startA, eta: 0, seed: 77) == a1)
        let b = try run(startB, eta: 0, seed: 1)
        #expect(zip(a1, b).map { abs($0 - $1) }.max()! > 0.05)
        let s1 = try run(startA, eta: 1, seed: 1)
        #expect(try run(startA, eta: 1, seed: 1) == s1)
        #expect(zip(s1, try run(startA, eta: 1, seed: 2)).map { abs($0 - $1) }.max()! > 0.05)
    }

    /// A batch gives each sample the bits it gets alone (noise follows sample ids, not batch slots).
    @Test func ddpmBatchSplitInvariance() throws {
        let oracle = GaussianOracle(mu: 0, s: 0.6)
        let ts = schedule.timesteps(50)
        let ids: [UInt32] = [5, 6, 7]
        var batch = NoiseSource(seed: 9, sampleIDs: ids).initialNoise(samples: 3, perSample: 64)
        try sampleDDPM(model: oracle.denoiser(schedule, .eps, sampleSize: 64), x: &batch, timesteps: ts,
                       knobs: SamplerKnobs(noise: NoiseSource(seed: 9, sampleIDs: ids)))
        for (slot, id) in ids.enumerated() {
            let source = NoiseSource(seed: 9, sampleIDs: [id])
            var single = source.initialNoise(samples: 1, perSample: 64)
            try sampleDDPM(model: oracle.denoiser(schedule, .eps, sampleSize: 64), x: &single, timesteps: ts,
                           knobs: SamplerKnobs(noise: source))
            #expect(Array(batch[slot * 64 ..< (slot + 1) * 64]) == single)
        }
    }

    /// DDIM eta = 0 run forwards (inversion) then back recovers the data, with first-order error in
    /// 1/S. Error budget: on this oracle the round trip is linear in y = x0 - mu with gain 0.9733 at
    /// S = 100 and 0.9973 at S = 1000 (each inversion step reads eps one level early; computed from the
    /// step coefficients), so max |error| ~ 2.7% and 0.27% of max |y| ~ 2: tolerances 0.07 and 0.008,
    /// and the error must shrink at least 5x from S = 100 to S = 1000. The encoded x_T must look like
    /// N(0, 1) (var within 5%).
    @Test func ddimInversionRoundTrip() throws {
        let oracle = GaussianOracle(mu: 0.25, s: 0.5)
        let model = oracle.denoiser(schedule, .eps, sampleSize: 2048)
        let data = NoiseStream(seed: 4, sample: 0).normals(2048).map { Float(0.25 + 0.5 * Double($0)) }
        var errors: [Float] = []
        for (steps, tolerance) in [(100, Float(0.07)), (1000, Float(0.008))] {
            let ts = schedule.timesteps(steps)
            var x = data
            try invertDDIM(model: model, x: &x, timesteps: ts)
            let encoded = moments(x)
            #expect(abs(encoded.variance - 1) < 0.05 && abs(encoded.mean) < 0.1, "x_T moments \(encoded)")
            try sampleDDIM(model: model, x: &x, timesteps: ts, knobs: SamplerKnobs(eta: 0, clip: false))
            let err = zip(x, data).map { abs($0 - $1) }.max()!
            #expect(err < tolerance, "S=\(steps): round trip max error \(err)")
            errors.append(err)
        }
        #expect(errors[0] > 5 * errors[1], "errors \(errors)")
    }
}
