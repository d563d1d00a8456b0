// What the trainer writes into a checkpoint's "mcvd.config" reads back through the one strict reader
// (UNet's ModelConfig) with every value it wrote, and the checkpoint loads as an MCVDKit model.
import Diffusion
import Foundation
import MCVDKit
import Testing
import Training
import UNet

@Suite struct ModelConfigWriterTests {
    @Test(arguments: [false, true])
    func trainerConfigReadsBack(_ variant: Bool) throws {
        let config = Tiny.config(size: 8, spade: variant, past: 2, future: variant ? 0 : 1)
        let options = TrainingOptions(seed: 3, parameterization: variant ? .v : .eps, residual: variant,
                                      conditionStride: variant ? 3 : nil,
                                      masking: MaskingOptions(past: 0.25, future: 0.5, synchronised: variant),
                                      dropout: 0.1, emaRate: variant ? nil : 0.99, cosineSchedule: variant, steps: 500,
                                      betaMin: 2e-4, betaMax: 0.03)
        let trainer = Trainer(model: try UNet(config: config), options: options)
        let read = try ModelConfig(json: trainer.configJSON)
        #expect(read.unet == config)
        #expect(read.data.conditionStride == (variant ? 3 : 1) && read.data.rescaled)
        #expect(read.data.probMaskCond == 0.25 && read.data.probMaskFuture == 0.5 && read.data.probMaskSync == variant)
        #expect(read.diffusion.schedule == (variant ? "cosine" : "linear") && read.diffusion.numSteps == 500)
        #expect(read.diffusion.betaMin == 2e-4 && read.diffusion.betaMax == 0.03)
        #expect(read.diffusion.parameterization == (variant ? "v" : "eps") && read.diffusion.residual == variant)

        let path = FileManager.default.temporaryDirectory.appendingPathComponent("config-writer-\(getpid())-\(variant).safetensors").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try trainer.save(path: path)
        let model = try Model(path: path)
        #expect(model.parameterization == options.parameterization && model.residual == variant && model.conditionStride == (variant ? 3 : 1))
        #expect(model.schedule.count == 500)
    }
}
