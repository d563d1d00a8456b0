// `mcvd info MODEL|default`: the architecture config, parameter count and GFLOP per forward at a size.
import ArgumentParser
import Diffusion
import Foundation
import MCVDKit
import Tensor
import UNet

extension Mcvd {
    struct Info: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a model's config, parameter count and cost.")

        @Argument(help: "Model file (.safetensors with mcvd.config metadata), or `default`: the built-in default model (where it was found).")
        var model: String

        @Option(help: "Frame size (square) at which to count GFLOP per forward (batch 1).")
        var size: Int = 64

        @Option(help: "With `default`: the task whose default model to show (interpolate, predict, predict-past, generate; predict has its own file).")
        var task: Diffusion.Task = .interpolate

        func run() throws {
            var path = model
            if DefaultModel.isDefault(model) {
                let place = try DefaultModel.locate(task: task)
                print("default model: \(place)")
                path = place.path
            }
            let net = try UNet(path: path)
            let c = net.config
            print("model: \(path)")
            print("config: \(c.summary)")
            print("input: x (N, \(c.outputChannels), H, W) cond (N, \(c.condChannels), H, W) -> eps (N, \(c.outputChannels), H, W)")
            print("parameters: \(net.parameterCount) (\(net.parameterSpecs.count) tensors)")
            print(Engine.pathDescription)
            let profile = Profile(timing: false)
            _ = net.forward(x: [Float](repeating: 0, count: c.outputChannels * size * size), t: [0],
                            cond: c.condChannels > 0 ? [Float](repeating: 0, count: c.condChannels * size * size) : nil,
                            n: 1, h: size, w: size, profile: profile)
            let kinds = Profile.Kind.allCases.filter { profile.flops[$0, default: 0] > 0 }
                .map { "\($0.rawValue)=\(String(format: "%.3f", Double(profile.flops[$0]!) * 1e-9))" }
            print(String(format: "gflop_per_forward=%.3f size=%d (%@)", Double(profile.totalFlops) * 1e-9, size,
                         kinds.joined(separator: " ")))
        }
    }
}
