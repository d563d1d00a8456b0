// The cost of the residual base a training step computes: for a batch of 8 interpolation samples
// (k = 2, n = 1, f = 1, every sample with both blocks given) and of 8 prediction samples, the objective's per-sample calls with one
// reused Motion workspace, blend against motion, at the crop sizes training uses.
// swift build -c release --product motionbase-bench && .build/release/motionbase-bench
import Diffusion
import Foundation
import Motion
import MotionBase

func now() -> Double { var t = timespec(); clock_gettime(CLOCK_MONOTONIC, &t); return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9 }
for (size, c) in [(32, 1), (64, 1), (32, 3)] {
    let n = 8
    let shape = BlockShape(channels: c, height: size, width: size, frames: 1, past: 2, future: 1)
    let fs = shape.frameSize
    func frame(_ t: Double) -> [Float] { (0..<fs).map { i in let x = Double(i % size) - 2 * t, y = Double((i / size) % size) - t
        return Float(0.7 * sin(0.37 * x) * cos(0.29 * y) + 0.2 * sin(0.13 * x + 0.21 * y)) } }
    var past: [Float] = [], future: [Float] = []
    for s in 0..<n { past += frame(Double(s)) + frame(Double(s) + 1); future += frame(Double(s) + 3) }
    let cond = try! Task.interpolate.conditioning(shape: shape, samples: n, past: past, future: future)
    let interp = MotionInterpolator()
    for (task, base) in [(Task.interpolate, ResidualBase.blend), (.interpolate, .motion), (.predict, .blend), (.predict, .motion)] {
        var best = 1e9
        var samples: [Double] = []
        for _ in 0..<60 {
            let t0 = now()
            // as the objective: one call per sample, one reused workspace
            for i in 0..<n {
                let one = Conditioning(past: Array(cond.past[i * 2 * fs ..< (i + 1) * 2 * fs]), future: Array(cond.future[i * fs ..< (i + 1) * fs]),
                                       pastGiven: [true], futureGiven: [task == .interpolate])
                _ = try! base.values(task: task, shape: shape, cond: one, symmetric: true, interpolator: interp)
            }
            let dt = now() - t0
            best = min(best, dt); samples.append(dt)
        }
        samples.sort()
        print("size \(size) channels \(c) batch \(n) task=\(task.rawValue) base=\(base.rawValue): min \(String(format: "%.3f", best * 1000)) ms, median \(String(format: "%.3f", samples[30] * 1000)) ms per batch")
    }
}
