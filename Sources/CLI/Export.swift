// `mcvd export`: a model file from a training checkpoint — the network's parameters as the model loads
// them (from `mcvd train`'s "unet.*": the EMA weights when the run kept them), the model config, no
// optimiser state or other tensors — in F32 or F16.
import ArgumentParser
import Foundation
import MCVDKit
import UNet

extension Mcvd {
    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a model file (weights and config only, F32 or F16) from a training checkpoint.")

        @Argument(help: "Training checkpoint written by `mcvd train` (or any mcvd model file).") var checkpoint: String
        @Option(help: "Model file to write.") var out: String
        @Option(help: "Stored type: f32 or f16 (half the size; weights rounded to nearest).")
        var dtype: SafeTensors.StoredType = .f32
        @Flag(help: "Keep the training record (settings, options, step; a few kB of metadata) so that `mcvd train --resume` continues from this file with fresh optimiser moments (docs/training.md).")
        var keepTraining = false

        func run() throws {
            let file = try SafeTensors(path: checkpoint)
            let net = try Model(file: file, source: checkpoint).unet    // checks the config and every parameter's name and shape
            let tensors = net.parameterLayout.map { spec in
                ("unet." + spec.name, spec.shape,
                 Array(UnsafeBufferPointer(start: net.parameterStorage + spec.offset, count: spec.shape.reduce(1, *))))
            }
            let record: Set<String> = ["train.options", "train.rng", TrainSettings.metadataKey]
            var metadata = file.metadata.filter {
                (!$0.key.hasPrefix("train.") && $0.key != TrainSettings.metadataKey) || (keepTraining && record.contains($0.key))
            }
            if keepTraining && file.metadata["train.options"] == nil {
                throw CLIError("\(checkpoint) has no training record to keep (not a `mcvd train` checkpoint)")
            }
            metadata["exported_from"] = (checkpoint as NSString).lastPathComponent
            try SafeTensors.write(path: out, tensors: tensors, metadata: metadata, as: dtype)
            let size = { (p: String) in ((try? FileManager.default.attributesOfItem(atPath: p)[.size]) as? Int) ?? 0 }
            print("exported \(tensors.count) tensors (weights: \(file.metadata["weights"] ?? "as stored"), step \(file.metadata["step"] ?? "-")) "
                  + "as \(dtype.rawValue.uppercased()): \(out), \(size(out)) bytes (checkpoint \(size(checkpoint)))")
        }
    }
}

extension SafeTensors.StoredType: ExpressibleByArgument {}
