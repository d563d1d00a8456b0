// Block-wise autoregression with a fake block sampler: the conditioning passed at each block and the
// count and time order of the returned frames.
import Foundation
import Testing
@testable import Diffusion

@Suite struct AutoregressionTests {
    let n = 2  // samples
    // Frames of 1 x 1 x 3: every value of a frame equals its tag.

    /// Given frame t of sample i is tagged 100 i + t.
    func given(_ g: Int, fs: Int) -> [Float] {
        var out: [Float] = []
        for i in 0..<n { for t in 0..<g { out += [Float](repeating: Float(100 * i + t), count: fs) } }
        return out
    }

    /// Generated frame j of block b for sample i is tagged 100 i + 1000 (b + 1) + j.
    func tag(_ i: Int, block: Int, frame j: Int) -> Float { Float(100 * i + 1000 * (block + 1) + j) }

    /// A fake block sampler that records (task, cond) and returns tagged frames.
    final class Recorder: @unchecked Sendable {
        var calls: [(task: Task, cond: Conditioning, block: Int)] = []
    }

    func fake(_ shape: BlockShape, _ rec: Recorder) -> BlockSamplerClosure {
        { task, cond, block in
            rec.calls.append((task, cond, block))
            var out: [Float] = []
            for i in 0..<self.n { for j in 0..<shape.frames {
                out += [Float](repeating: self.tag(i, block: block, frame: j), count: shape.frameSize)
            } }
            return out
        }
    }

    /// The per-sample tags of a (N, m, F) buffer.
    func tags(_ x: [Float], frames m: Int, fs: Int) -> [[Float]] {
        (0..<n).map { i in (0..<m).map { j in
            let v = x[(i * m + j) * fs]
            precondition(x[(i * m + j) * fs ..< (i * m + j + 1) * fs].allSatisfy { $0 == v })
            return v
        } }
    }

    @Test func predictFeedsGeneratedFramesBack() throws {
        let shape = BlockShape(channels: 1, height: 1, width: 3, frames: 3, past: 2, future: 1)
        let rec = Recorder()
        let out = try autoregress(task: .predict, shape: shape, samples: n, given: given(4, fs: 3), givenFrames: 4,
                                  count: 7, sampleBlock: fake(shape, rec))
        #expect(rec.calls.map(\.block) == [0, 1, 2])
        #expect(rec.calls.allSatisfy { $0.task == .predict && $0.cond.pastGiven == [true, true] && $0.cond.futureGiven == [false, false] })
        #expect(rec.calls.allSatisfy { $0.cond.future.allSatisfy { $0 == 0 } })
        // Past blocks: given frames 2, 3; then the last two frames of each generated block.
        let pasts = rec.calls.map { tags($0.cond.past, frames: 2, fs: 3) }
        for i in 0..<n {
            #expect(pasts[0][i] == [Float(100 * i + 2), Float(100 * i + 3)])
            #expect(pasts[1][i] == [tag(i, block: 0, frame: 1), tag(i, block: 0, frame: 2)])
            #expect(pasts[2][i] == [tag(i, block: 1, frame: 1), tag(i, block: 1, frame: 2)])
        }
        // 7 frames, time order, the last block trimmed.
        let got = tags(out, frames: 7, fs: 3)
        for i in 0..<n {
            #expect(got[i] == [tag(i, block: 0, frame: 0), tag(i, block: 0, frame: 1), tag(i, block: 0, frame: 2),
                               tag(i, block: 1, frame: 0), tag(i, block: 1, frame: 1), tag(i, block: 1, frame: 2),
                               tag(i, block: 2, frame: 0)])
        }
    }

    /// k > n: the past window straddles given and generated frames.
    @Test func predictWithLongPast() throws {
        let shape = BlockShape(channels: 1, height: 1, width: 3, frames: 2, past: 3, future: 0)
        let rec = Recorder()
        let out = try autoregress(task: .predict, shape: shape, samples: n, given: given(3, fs: 3), givenFrames: 3,
                                  count: 4, sampleBlock: fake(shape, rec))
        #expect(rec.calls.count == 2)
        let second = tags(rec.calls[1].cond.past, frames: 3, fs: 3)
        for i in 0..<n { #expect(second[i] == [Float(100 * i + 2), tag(i, block: 0, frame: 0), tag(i, block: 0, frame: 1)]) }
        #expect(tags(out, frames: 4, fs: 3)[1] == [tag(1, block: 0, frame: 0), tag(1, block: 0, frame: 1),
                                                  tag(1, block: 1, frame: 0), tag(1, block: 1, frame: 1)])
    }

    /// Past prediction: blocks are prepended; each block's future is the first f frames after it.
    @Test func predictPastGoesBackwards() throws {
        let shape = BlockShape(channels: 1, height: 1, width: 3, frames: 3, past: 1, future: 2)
        let rec = Recorder()
        let out = try autoregress(task: .predictPast, shape: shape, samples: n, given: given(4, fs: 3), givenFrames: 4,
                                  count: 5, sampleBlock: fake(shape, rec))
        #expect(rec.calls.count == 2)
        #expect(rec.calls.allSatisfy { $0.task == .predictPast && $0.cond.pastGiven == [false, false] && $0.cond.futureGiven == [true, true] })
        #expect(rec.calls.allSatisfy { $0.cond.past.allSatisfy { $0 == 0 } })
        let futures = rec.calls.map { tags($0.cond.future, frames: 2, fs: 3) }
        for i in 0..<n {
            #expect(futures[0][i] == [Float(100 * i), Float(100 * i + 1)])
            #expect(futures[1][i] == [tag(i, block: 0, frame: 0), tag(i, block: 0, frame: 1)])
        }
        // The 5 frames nearest the given ones, earliest first: block 1 frames 1, 2, then block 0.
        let got = tags(out, frames: 5, fs: 3)
        for i in 0..<n {
            #expect(got[i] == [tag(i, block: 1, frame: 1), tag(i, block: 1, frame: 2),
                               tag(i, block: 0, frame: 0), tag(i, block: 0, frame: 1), tag(i, block: 0, frame: 2)])
        }
    }

    /// Generation: unconditional until k frames exist, then prediction from the last k.
    @Test func generateThenPredict() throws {
        let shape = BlockShape(channels: 1, height: 1, width: 3, frames: 1, past: 2, future: 1)
        let rec = Recorder()
        let out = try autoregress(task: .generate, shape: shape, samples: n, given: [], givenFrames: 0,
                                  count: 4, sampleBlock: fake(shape, rec))
        #expect(rec.calls.map(\.task) == [.generate, .generate, .predict, .predict])
        #expect(rec.calls[0].cond.pastGiven == [false, false] && rec.calls[0].cond.futureGiven == [false, false])
        #expect(rec.calls[0].cond.past.allSatisfy { $0 == 0 })
        let third = tags(rec.calls[2].cond.past, frames: 2, fs: 3)
        for i in 0..<n { #expect(third[i] == [tag(i, block: 0, frame: 0), tag(i, block: 1, frame: 0)]) }
        #expect(tags(out, frames: 4, fs: 3)[0] == (0..<4).map { tag(0, block: $0, frame: 0) })
    }

    @Test func rejectsWhatItCannotDo() throws {
        let shape = BlockShape(channels: 1, height: 1, width: 3, frames: 2, past: 2, future: 2)
        let rec = Recorder()
        #expect(throws: TaskError.self) {
            try autoregress(task: .interpolate, shape: shape, samples: n, given: given(4, fs: 3), givenFrames: 4, count: 2, sampleBlock: fake(shape, rec))
        }
        #expect(throws: TaskError.self) {  // fewer than k given frames
            try autoregress(task: .predict, shape: shape, samples: n, given: given(1, fs: 3), givenFrames: 1, count: 2, sampleBlock: fake(shape, rec))
        }
        #expect(throws: TaskError.self) {  // a block of the wrong size
            try autoregress(task: .predict, shape: shape, samples: n, given: given(2, fs: 3), givenFrames: 2, count: 2) { _, _, _ in [1, 2, 3] }
        }
        #expect(rec.calls.isEmpty)
        #expect(try autoregress(task: .predict, shape: shape, samples: n, given: given(2, fs: 3), givenFrames: 2,
                                count: 0, sampleBlock: fake(shape, rec)).isEmpty)
    }

    /// End to end with sampleBlock: a prediction chain through a real sampler is reproducible and each
    /// block draws its own noise (blocks differ even though conditioning repeats).
    @Test func chainWithSampleBlockIsReproducible() throws {
        let shape = BlockShape(channels: 1, height: 4, width: 4, frames: 1, past: 1, future: 0)
        let schedule = NoiseSchedule.linear()
        let oracle = GaussianOracle(mu: 0, s: 0.3)
        let network: ConditionalNetwork = { x, labels, _, out in
            for j in 0..<x.count {
                out[j] = Float(oracle.optimal(x: Double(x[j]), t: schedule.step(forTimeCond: labels[j / shape.sampleSize]), schedule: schedule).eps)
            }
        }
        func run() throws -> [Float] {
            try autoregress(task: .predict, shape: shape, samples: 1, given: [Float](repeating: 0.1, count: 16), givenFrames: 1, count: 3) { task, cond, block in
                let options = BlockOptions(sampler: .ddim, steps: 10, eta: 1, residual: true,
                                           noise: NoiseSource(seed: 7, block: UInt32(block)))
                return try sampleBlock(network: network, schedule: schedule, parameterization: .eps, shape: shape,
                                       task: task, cond: cond, options: options)
            }
        }
        let a = try run()
        #expect(try run() == a)
        // Residual around the previous frame: frame k = frame k-1 + r_k with fresh r_k per block.
        let r1 = (0..<16).map { a[$0] - 0.1 }, r2 = (0..<16).map { a[16 + $0] - a[$0] }
        #expect(zip(r1, r2).map { abs($0 - $1) }.max()! > 0.01)
    }
}
