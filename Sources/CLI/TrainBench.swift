// `mcvd train-bench`: time of the full training step (masking, noising, forward with dropout, loss,
// backward, clip, Adam, EMA) on the fixture configs, one diffable line per (case, threads), and in the
// same run the reference's PyTorch step (tools/bench_torch_train.py --serve, same cases, size, batch,
// threads, one long-lived process) when python3 imports torch and the reference checkout is given:
// the two sides alternate in rounds and the ratio is the median of the per-round ratios.
import ArgumentParser
import Diffusion
import Foundation
import Tensor
import Training
import UNet

extension Mcvd {
    struct TrainBench: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "train-bench",
            abstract: "Time training steps (Swift, and the reference's PyTorch step when available) on the fixture configs.")

        @Option(help: "Frame size (square).")
        var size: Int = 64

        @Option(help: "Clips per step.")
        var batch: Int = 8

        @Option(help: "Timed steps per line (median and fastest reported).")
        var iters: Int = 6

        @Option(help: "Untimed steps first.")
        var warmup: Int = 2

        @Option(help: "Probability of masking all past and, independently, all future frames.")
        var pMask: Double = 0.5

        @Option(help: "The PyTorch training bench script.")
        var torchScript: String = "tools/bench_torch_train.py"

        @Option(help: "With --reference: alternating rounds of ours then PyTorch per line.")
        var rounds: Int = 5

        @Option(help: "With --reference: timed steps per side per round (the round's figure is their median).")
        var roundIters: Int = 1

        @OptionGroup var fixture: FixtureOptions
        var threadList: [Int] { fixture.threadList }
        var fixtures: String { fixture.fixtures }

        func validate() throws {
            guard iters >= 1, warmup >= 0, batch >= 1, size >= 8, rounds >= 1, roundIters >= 1 else {
                throw ValidationError("--iters, --batch, --rounds and --round-iters must be >= 1, --warmup >= 0, --size >= 8")
            }
            guard (0...1).contains(pMask) else { throw ValidationError("--p-mask must lie in [0, 1]") }
        }

        func run() throws {
            let ref = fixture.referencePath
            let torch = ref.flatMap {
                TorchServer(script: torchScript, reference: $0, fixtures: fixtures,
                            arguments: ["--warmup", "\(warmup)", "--p-mask", "\(pMask)"])
            }
            if ref != nil && torch == nil { print("# torch side disabled: python3 cannot import torch or \(torchScript) is missing") }
            print("# \(Engine.pathDescription)")
            Engine.setThreads(1)
            for name in fixture.caseList {
                let path = "\(fixtures)/\(name)/model.safetensors"
                let file = try SafeTensors(path: path)
                let json = (try? JSONSerialization.jsonObject(with: Data((file.metadata["mcvd.config"] ?? "").utf8))) as? [String: Any]
                let modelSection = json?["model"] as? [String: Any] ?? [:], data = json?["data"] as? [String: Any] ?? [:]
                let dropout = (modelSection["dropout"] as? NSNumber)?.doubleValue ?? 0
                let ema = (modelSection["ema"] as? Bool ?? false) ? ((modelSection["ema_rate"] as? NSNumber)?.doubleValue ?? 0.999) : nil
                // The reference optimiser of tools/bench_torch_train.py (configs/smmnist_DDPM_small5.yml).
                let options = TrainingOptions(seed: 0, parameterization: .eps, residual: false,
                                              masking: MaskingOptions(past: pMask, future: pMask,
                                                                      synchronised: data["prob_mask_sync"] as? Bool ?? false),
                                              dropout: dropout, adam: AdamOptions(lr: 2e-4, warmup: 1000, gradClip: 1),
                                              emaRate: ema)
                for t in threadList {
                    Engine.setThreads(t)
                    let loaded = try UNet(file: file)
                    let model = size == loaded.config.imageSize ? loaded : try UNet(config: loaded.config.resized(size))
                    if model !== loaded { model.randomize(seed: 7) }
                    let trainer = Trainer(model: model, options: options)
                    let r = measure(trainer)
                    let line = "impl=swift-train case=\(name) size=\(size) batch=\(batch) threads=\(t) step_ms=\(f1(r.median)) "
                        + "step_ms_min=\(f1(r.min)) samples_per_s=\(f2(Double(batch) / r.median * 1000)) gflop_per_step=\(f2(r.gflop))"
                    print(line)
                    fflush(nil)
                    if let torch, torch.setup(case: name, size: size, threads: t, batch: batch) {
                        let step = stepper(trainer)
                        var ours: [Double] = [], theirs: [Double] = [], ratios: [Double] = []
                        for _ in 0..<rounds {
                            let a = (0..<roundIters).map { _ in step() }
                            guard let b = torch.run(roundIters) else { break }
                            ours += a; theirs += b
                            ratios.append(median(b) / median(a))
                        }
                        guard !ratios.isEmpty else { print("# torch side failed for \(name)"); continue }
                        print("ratio case=\(name) size=\(size) batch=\(batch) threads=\(t) alt_swift_ms=\(f1(median(ours))) "
                              + "torch_ms=\(f1(median(theirs))) torch_min=\(f1(theirs.min()!))" + ratioFields(ratios)
                              + " rounds=\(ratios.count)x\(roundIters)")
                        fflush(nil)
                    }
                }
            }
            Engine.setThreads(1)
        }

        /// Median and fastest step in ms, and 3 x the forward's GFLOP at this batch (as the torch script).
        func measure(_ trainer: Trainer) -> (median: Double, min: Double, gflop: Double) {
            let c = trainer.model.config
            let counter = Profile(timing: false)
            _ = trainer.model.forward(x: [Float](repeating: 0, count: batch * c.outputChannels * size * size),
                                      t: [Float](repeating: 500, count: batch),
                                      cond: c.condChannels > 0 ? [Float](repeating: 0, count: batch * c.condChannels * size * size) : nil,
                                      n: batch, h: size, w: size, profile: counter)
            let step = stepper(trainer)
            var times: [Double] = []
            for i in 0..<(warmup + iters) {
                let ms = step()
                if i >= warmup { times.append(ms) }
            }
            times.sort()
            let median = times.count % 2 == 1 ? times[times.count / 2] : (times[times.count / 2 - 1] + times[times.count / 2]) / 2
            return (median, times[0], 3 * Double(counter.totalFlops) * 1e-9)
        }

        /// One timed training step (ms) on a new pseudo-random batch (making it is not timed, as in the
        /// torch script).
        func stepper(_ trainer: Trainer) -> () -> Double {
            let c = trainer.model.config, frames = c.numFramesCond + c.numFrames + c.numFramesFuture
            var seed: UInt64 = 0x5eed
            let batch = batch, size = size
            return {
                let clips = (0..<(batch * frames * c.channels * size * size)).map { _ in
                    seed = seed &* 6364136223846793005 &+ 1442695040888963407
                    return Float(seed >> 40) / Float(1 << 24) * 2 - 1
                }
                let t0 = DispatchTime.now().uptimeNanoseconds
                trainer.trainStep(clips: clips, samples: batch, height: size, width: size)
                return Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-6
            }
        }
    }
}
