// A model file with diffusion.base = motion samples over the motion-compensated base: the generator
// equals Diffusion's sampleBlock given MotionBase's function (the one the trainer uses), differs from
// the same weights over the blend, and `mcvd sample` gives the library's frames.
import Diffusion
import Foundation
import MCVDKit
import MotionBase
import Testing
import UNet
import VideoData

/// n frames of a texture moving 2 px right and 1 down per frame, HWC bytes.
func movingBytes(_ n: Int, size: Int, channels c: Int) -> [[UInt8]] {
    (0..<n).map { t in
        (0..<(size * size * c)).map { i in
            let x = Double((i / c) % size) - 2 * Double(t), y = Double(i / (c * size)) - Double(t), ch = Double(i % c)
            return UInt8(min(max(128 + 70 * sin(0.37 * x + 0.5 * ch) * cos(0.29 * y) + 40 * sin(0.09 * x + 0.21 * y + ch), 0), 255).rounded())
        }
    }
}

@Suite(.serialized) struct MotionBaseSamplingTests {
    @Test(arguments: [1, 3])
    func generatorSamplesOverTheMotionBase(_ c: Int) throws {
        let model = try tinyModel("motion-base-\(c)", tinyConfig(channels: c, past: 2, future: 1, residual: true, parameterization: "v", base: "motion"))
        let blendModel = try tinyModel("blend-base-\(c)", tinyConfig(channels: c, past: 2, future: 1, residual: true, parameterization: "v"))
        #expect(model.base == .motion && blendModel.base == .blend && model.summary.contains("base=motion"))
        let settings = SamplingSettings(steps: 2, seed: 5)
        let frames = try movingBytes(5, size: 16, channels: c).map {
            try FrameBuffer(format: c == 1 ? .gray8 : .rgb, width: 16, height: 16, bytes: $0).view.planar(channels: c)
        }
        let made = try Generator(model: model, height: 16, width: 16, settings: settings).interpolate(frames).filter(\.generated).map(\.pixels)
        let blended = try Generator(model: blendModel, height: 16, width: 16, settings: settings).interpolate(frames).filter(\.generated).map(\.pixels)
        #expect(made.count == 3 && made != blended)
        // By hand: gaps after frames 1, 2, 3 in one batch, noise block 0, MotionBase's function.
        let shape = model.shape(height: 16, width: 16)
        let gaps = [1, 2, 3]
        let cond = try Task.interpolate.conditioning(shape: shape, samples: 3, past: gaps.flatMap { frames[$0 - 1] + frames[$0] },
                                                     future: gaps.flatMap { frames[$0 + 1] })
        let options = BlockOptions(sampler: .ddim, steps: 2, residual: true, noise: NoiseSource(seed: 5, block: 0),
                                   baseline: ResidualBase.motion.function(symmetric: true))
        let x = try sampleBlock(network: model.network(height: 16, width: 16), schedule: model.schedule, parameterization: .v,
                                shape: shape, task: .interpolate, cond: cond, options: options)
        #expect(made.flatMap { $0 } == x)
        // Prediction: one block after frames 3, 4 over the extrapolated base, noise block 0.
        let next = try Generator(model: model, height: 16, width: 16, settings: settings).extend(frames, count: 1)
        let pcond = try Task.predict.conditioning(shape: shape, samples: 1, past: frames[3] + frames[4])
        let p = try sampleBlock(network: model.network(height: 16, width: 16), schedule: model.schedule, parameterization: .v,
                                shape: shape, task: .predict, cond: pcond, options: options)
        #expect(next.flatMap { $0 } == p)
        let blendNext = try Generator(model: blendModel, height: 16, width: 16, settings: settings).extend(frames, count: 1)
        #expect(next != blendNext)
    }

    @Test func sampleCommandUsesTheModelsBase() throws {
        let dir = "\(Scratch.dir)/motion-pngs"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let bytes = movingBytes(5, size: 16, channels: 3)
        for (t, px) in bytes.enumerated() {
            try PNG.write(path: "\(dir)/\(String(format: "%02d", t)).png", width: 16, height: 16, channels: 3, pixels: px)
        }
        let json = jsonText(tinyConfig(channels: 3, past: 2, future: 1, residual: true, parameterization: "v", base: "motion"))
        let path = try writeModel("motion-cli", json: json, weightsOf: try UNetConfig(json: json))
        let model = try Model(path: path)
        let out = "\(Scratch.dir)/motion-sample"
        let (status, log) = try Built.run(try Built.path("mcvd"), ["sample", path, dir, "--task", "interpolate", "--steps", "2",
                                                                    "--seed", "3", "--out", out])
        #expect(status == 0, "\(log)")
        let given = try bytes.map { try FrameBuffer(format: .rgb, width: 16, height: 16, bytes: $0).view.planar(channels: 3) }
        let library = try Generator(model: model, height: 16, width: 16, settings: SamplingSettings(steps: 2, seed: 3)).interpolate(given, batch: 1)
        let names = try FileManager.default.contentsOfDirectory(atPath: out).filter { $0.hasSuffix(".png") && $0 != "strip.png" }.sorted()
        let files = try names.map { try decodeVideo(path: "\(out)/\($0)", height: 16, channels: 3).frames[0] }
        let want = try library.map { f -> [UInt8] in
            let b = try FrameBuffer(format: .rgb, width: 16, height: 16)
            try b.view.write(f.pixels, channels: 3, range: model.range)
            return b.bytes
        }
        #expect(files.count == 8 && files == want)
    }
}
