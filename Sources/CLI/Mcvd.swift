// The `mcvd` command line: one subcommand per file (Info.swift, Bench.swift).
import ArgumentParser

@main
struct Mcvd: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mcvd",
        abstract: "Masked Conditional Video Diffusion on the CPU: model inspection and engine benchmarks.",
        subcommands: [Info.self, Bench.self])
}
