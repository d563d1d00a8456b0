// The `mcvd` command line: one subcommand per file (Info.swift, Bench.swift, Train.swift, Sample.swift,
// Eval.swift, Export.swift, TrainBench.swift, Synthetic.swift, SceneCuts.swift); shared options and helpers in Options.swift.
import ArgumentParser

@main
struct Mcvd: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mcvd",
        abstract: "Masked Conditional Video Diffusion on the CPU: train, sample, inspect and benchmark models.",
        subcommands: [Info.self, Bench.self, Train.self, Sample.self, Eval.self, Export.self, TrainBench.self, Synthetic.self,
                      SceneCuts.self])
}
