// Tasks by masking: the conditioning each task builds, the residual baselines, and sampleBlock's
// residual mode (the sampler runs on r = x0 - b and returns b + r).
import Foundation
import Testing
@testable import Diffusion

@Suite struct TaskTests {
    // 2 samples, frames of 1 x 2 x 3 (F = 6), n = 3 frames, k = 2 past, f = 2 future.
    let shape = BlockShape(channels: 1, height: 2, width: 3, frames: 3, past: 2, future: 2)
    let n = 2

    /// Frame t of sample i holds values 100 i + 10 t + e (e = 0 ..< F): every value tells where it came from.
    func frames(_ count: Int, offset: Int) -> [Float] {
        var out: [Float] = []
        for i in 0..<n { for t in 0..<count { for e in 0..<shape.frameSize { out.append(Float(100 * i + 10 * (t + offset) + e)) } } }
        return out
    }

    @Test(arguments: Task.allCases) func conditioningMasksByTask(task: Task) throws {
        let past = frames(2, offset: 0), future = frames(2, offset: 5)
        let cond = try task.conditioning(shape: shape, samples: n, past: past, future: future)
        #expect(cond.samples == n)
        #expect(cond.pastGiven == [Bool](repeating: task.usesPast, count: n))
        #expect(cond.futureGiven == [Bool](repeating: task.usesFuture, count: n))
        #expect(cond.past == (task.usesPast ? past : [Float](repeating: 0, count: past.count)))
        #expect(cond.future == (task.usesFuture ? future : [Float](repeating: 0, count: future.count)))
        // The stacked (N, (k+f) C, H, W) layout: per sample, its past block then its future block.
        let stacked = cond.stacked(shape: shape)
        let p = 2 * shape.frameSize
        #expect(Array(stacked[2 * p ..< 3 * p]) == Array(cond.past[p ..< 2 * p]))
        #expect(Array(stacked[3 * p ..< 4 * p]) == Array(cond.future[p ..< 2 * p]))
    }

    @Test func conditioningErrors() {
        #expect(throws: TaskError.self) { try Task.predict.conditioning(shape: shape, samples: n) }
        #expect(throws: TaskError.self) { try Task.interpolate.conditioning(shape: shape, samples: n, past: frames(2, offset: 0)) }
        #expect(throws: TaskError.self) { try Task.predictPast.conditioning(shape: shape, samples: n, future: [1, 2]) }
        let noFuture = BlockShape(channels: 1, height: 2, width: 3, frames: 1, past: 2, future: 0)
        #expect(throws: TaskError.self) { try Task.interpolate.conditioning(shape: noFuture, samples: 1, past: [Float](repeating: 0, count: 12)) }
        #expect(throws: Never.self) { try Task.generate.conditioning(shape: shape, samples: n) }
    }

    /// Baselines per task, computed here value by value.
    @Test func baselinesPerTask() throws {
        let past = frames(2, offset: 0), future = frames(2, offset: 5)
        let fs = shape.frameSize
        func value(_ blockValues: [Float], i: Int, frame: Int, count: Int, e: Int) -> Float { blockValues[(i * count + frame) * fs + e] }
        for task in Task.allCases {
            let cond = try task.conditioning(shape: shape, samples: n, past: past, future: future)
            let b = task.baseline(shape: shape, cond: cond)
            #expect(b.count == n * shape.sampleSize)
            for i in 0..<n { for j in 0..<3 { for e in 0..<fs {
                let P = value(past, i: i, frame: 1, count: 2, e: e)    // last past frame
                let Q = value(future, i: i, frame: 0, count: 2, e: e)  // first future frame
                let expected: Float
                switch task {
                case .interpolate: expected = P + Float(j + 1) / 4 * (Q - P)  // w = 1/4, 2/4, 3/4
                case .predict: expected = P
                case .predictPast: expected = Q
                case .generate: expected = 0
                }
                #expect(abs(b[(i * 3 + j) * fs + e] - expected) < 1e-4, "\(task) i=\(i) j=\(j) e=\(e)")
            } } }
        }
        // n = 1: the plain average.
        let one = BlockShape(channels: 1, height: 1, width: 2, frames: 1, past: 1, future: 1)
        let cond = try Task.interpolate.conditioning(shape: one, samples: 1, past: [2, 4], future: [4, -4])
        #expect(Task.interpolate.baseline(shape: one, cond: cond) == [3, 0])
    }

    /// Residual mode: an oracle for r ~ N(0, 0.2^2) (v-parameterized) sampled by sampleBlock must return
    /// b + r: out - b has the exact DDIM moments of that oracle (5 SE, P = 2 x 3 x 6 x 32 = 1152 values),
    /// and the network sees the task's conditioning. Without residual mode the same model gives r alone.
    @Test func residualModeSamplesAroundBaseline() throws {
        let schedule = NoiseSchedule.linear()
        let wide = BlockShape(channels: 1, height: 8, width: 24, frames: 3, past: 2, future: 2)
        let past = (0..<(n * 2 * wide.frameSize)).map { Float(($0 % 17) - 8) / 20 }
        let future = (0..<(n * 2 * wide.frameSize)).map { Float(($0 % 13) - 6) / 15 }
        let oracle = GaussianOracle(mu: 0, s: 0.2)
        let seen = CallLog()
        var seenCond: [Conditioning] = []
        let network: ConditionalNetwork = { x, labels, cond, out in
            seen.labels.append(labels)
            seenCond.append(cond)
            for j in 0..<x.count {
                out[j] = Float(oracle.optimal(x: Double(x[j]), t: schedule.step(forTimeCond: labels[j / wide.sampleSize]), schedule: schedule).v)
            }
        }
        let task = Task.interpolate
        let cond = try task.conditioning(shape: wide, samples: n, past: past, future: future)
        let options = BlockOptions(sampler: .ddim, steps: 20, eta: 0, clip: false, residual: true, noise: NoiseSource(seed: 3))
        let out = try sampleBlock(network: network, schedule: schedule, parameterization: .v, shape: wide,
                                  task: task, cond: cond, options: options)
        #expect(seenCond.count == 20 && seenCond.allSatisfy { $0 == cond })
        let b = task.baseline(shape: wide, cond: cond)
        let r = zip(out, b).map { $0 - $1 }
        let got = moments(r), want = oracle.predictedMoments(schedule, schedule.timesteps(20), .ddim(eta: 0))
        let p = Double(r.count)
        #expect(abs(got.mean - want.mean) < 5 * (want.variance / p).squareRoot(), "mean \(got.mean) vs \(want.mean)")
        #expect(abs(got.variance - want.variance) < 5 * want.variance * (2 / (p - 1)).squareRoot(),
                "var \(got.variance) vs \(want.variance)")
        // Plain mode, same start: exactly the residual result without b.
        var plain = options
        plain.residual = false
        let rOnly = try sampleBlock(network: network, schedule: schedule, parameterization: .v, shape: wide,
                                    task: task, cond: cond, options: plain)
        #expect(zip(rOnly, r).map { abs($0 - $1) }.max()! < 1e-5)
    }

    /// start = .zero: no noise is drawn; one DDIM step of a v model gives b + clip(-sqrt(1 - abar_T) v(0)),
    /// the network seeing exactly zeros at the top level; in plain mode with a warm start the network
    /// sees sqrt(abar) b. Two seeds give the same bits.
    @Test func zeroStartIsNoiseFree() throws {
        let schedule = NoiseSchedule.linear()
        let past = frames(2, offset: 0).map { $0 / 1000 }, future = frames(2, offset: 5).map { $0 / 1000 }
        let cond = try Task.interpolate.conditioning(shape: shape, samples: n, past: past, future: future)
        let b = Task.interpolate.baseline(shape: shape, cond: cond)
        var inputs: [[Float]] = [], labels: [[Float]] = []
        let network: ConditionalNetwork = { x, l, _, out in
            inputs.append(Array(x)); labels.append(Array(l))
            for j in 0..<x.count { out[j] = Float(j % 7 - 3) / 10 }      // a fixed v
        }
        func run(seed: UInt64, residual: Bool = true, warm: Double? = nil) throws -> [Float] {
            let o = BlockOptions(sampler: .ddim, steps: 1, residual: residual, warmStart: warm, noise: NoiseSource(seed: seed),
                                 start: .zero)
            return try sampleBlock(network: network, schedule: schedule, parameterization: .v, shape: shape,
                                   task: .interpolate, cond: cond, options: o)
        }
        let a = try run(seed: 1), c = try run(seed: 2)
        #expect(a == c)
        #expect(inputs[0].allSatisfy { $0 == 0 } && labels[0].allSatisfy { $0 == schedule.timeCond(schedule.count - 1) })
        let sb = Float((1 - schedule.alphaBar(schedule.count - 1)).squareRoot())
        for j in a.indices {
            let r = min(max(-sb * (Float(j % 7 - 3) / 10), -1 - b[j]), 1 - b[j])
            #expect(abs(a[j] - (b[j] + r)) <= 1e-6, "value \(j)")
        }
        inputs = []
        _ = try run(seed: 1, residual: false, warm: 0.3)
        let t0 = BlockOptions(steps: 1, warmStart: 0.3).timesteps(schedule)[0]
        let scale = Float(schedule.alphaBar(t0).squareRoot())
        #expect(zip(inputs[0], b).allSatisfy { abs($0 - scale * $1) <= 1e-7 })
    }

    /// A network that sees its base gets b after the past and future frames of every sample (and nothing
    /// else changes); without residual mode it is refused.
    @Test func networkSeesTheBase() throws {
        let schedule = NoiseSchedule.linear()
        let past = frames(2, offset: 0).map { $0 / 1000 }, future = frames(2, offset: 5).map { $0 / 1000 }
        let cond = try Task.interpolate.conditioning(shape: shape, samples: n, past: past, future: future)
        let b = Task.interpolate.baseline(shape: shape, cond: cond)
        var seen: [Conditioning] = []
        let network: ConditionalNetwork = { x, _, c, out in
            seen.append(c)
            for j in 0..<x.count { out[j] = Float(j % 5 - 2) / 10 }
        }
        func run(_ sees: Bool, residual: Bool = true) throws -> [Float] {
            let o = BlockOptions(sampler: .ddim, steps: 2, residual: residual, noise: NoiseSource(seed: 3), seesBase: sees)
            return try sampleBlock(network: network, schedule: schedule, parameterization: .v, shape: shape,
                                   task: .interpolate, cond: cond, options: o)
        }
        let plain = try run(false)
        #expect(seen.count == 2 && seen.allSatisfy { $0.base.isEmpty && $0 == cond })
        seen = []
        let sees = try run(true)
        #expect(plain == sees && seen.count == 2 && seen.allSatisfy { $0.base == b && $0.past == cond.past })
        let stacked = seen[0].stacked(shape: shape), per = (shape.past + shape.future) * shape.frameSize
        #expect(stacked.count == n * (per + shape.sampleSize))
        for i in 0..<n {
            #expect(Array(stacked[i * (per + shape.sampleSize) + per ..< (i + 1) * (per + shape.sampleSize)])
                    == Array(b[i * shape.sampleSize ..< (i + 1) * shape.sampleSize]))
        }
        #expect(throws: TaskError.self) { _ = try run(true, residual: false) }
        // A `seenBase` hook: the network sees what it makes from b (here b and its negation: 2n frames).
        seen = []
        let hook: SeenBaseFunction = { _, shape, cond, b in
            (0..<cond.samples).flatMap { i in
                let own = Array(b[i * shape.sampleSize ..< (i + 1) * shape.sampleSize])
                return own + own.map { -$0 }
            }
        }
        let o = BlockOptions(sampler: .ddim, steps: 2, residual: true, noise: NoiseSource(seed: 3), seesBase: true, seenBase: hook)
        let hooked = try sampleBlock(network: network, schedule: schedule, parameterization: .v, shape: shape,
                                     task: .interpolate, cond: cond, options: o)
        #expect(hooked == plain && seen.count == 2 && seen.allSatisfy { $0.base.count == 2 * b.count })
        let wide = seen[0].stacked(shape: shape), size = shape.sampleSize
        #expect(wide.count == n * (per + 2 * size))
        for i in 0..<n {
            let own = Array(b[i * size ..< (i + 1) * size])
            #expect(Array(wide[i * (per + 2 * size) + per ..< (i + 1) * (per + 2 * size)]) == own + own.map { -$0 })
        }
    }

    /// Warm start in residual mode starts from r = 0 (the baseline itself): with a model whose optimal
    /// residual is 0 (s = 0) the block returns b; in plain mode the warm start begins from b too.
    @Test func warmStartFromBaseline() throws {
        let schedule = NoiseSchedule.linear()
        let oracle = GaussianOracle(mu: 0, s: 0)
        let past = frames(2, offset: 0).map { $0 / 1000 }
        let cond = try Task.predict.conditioning(shape: shape, samples: n, past: past)
        let b = Task.predict.baseline(shape: shape, cond: cond)
        var firstInput: [Float] = []
        let network: ConditionalNetwork = { x, labels, _, out in
            if firstInput.isEmpty { firstInput = Array(x) }
            for j in 0..<x.count {
                out[j] = Float(oracle.optimal(x: Double(x[j]), t: schedule.step(forTimeCond: labels[j / self.shape.sampleSize]), schedule: schedule).v)
            }
        }
        let options = BlockOptions(sampler: .ddpm, steps: 50, residual: true, warmStart: 0.5, noise: NoiseSource(seed: 1))
        let out = try sampleBlock(network: network, schedule: schedule, parameterization: .v, shape: shape,
                                  task: .predict, cond: cond, options: options)
        #expect(zip(out, b).map { abs($0 - $1) }.max()! < 1e-5)
        // The first input is pure scaled noise around r = 0 at level <= 0.5 (T - 1).
        let z = NoiseSource(seed: 1).initialNoise(samples: n, perSample: shape.sampleSize)
        let t0 = options.timesteps(schedule)[0]
        let a = Float(schedule.alphaBar(t0))
        #expect(t0 <= 500 && zip(firstInput, z).allSatisfy { abs($0 - (1 - a).squareRoot() * $1) < 1e-5 })
        // Plain mode: the guess is b, noised.
        firstInput = []
        var plain = options
        plain.residual = false
        _ = try sampleBlock(network: network, schedule: schedule, parameterization: .v, shape: shape,
                            task: .predict, cond: cond, options: plain)
        for j in b.indices { #expect(abs(firstInput[j] - (a.squareRoot() * b[j] + (1 - a).squareRoot() * z[j])) < 1e-5) }
    }
}
