// `mcvd sample` against the element: the same model, frames, seed and settings give the same frames, byte
// for byte, where the data path is the same (PNG frames in RGB or GRAY8 -> the model -> PNG frames). Both
// run as a user runs them: the built `mcvd` executable, and gst-launch-1.0 with the built libgstmcvd.so
// (multifilesrc ! pngdec ! mcvd ! pngenc ! multifilesink). Models: the committed tiny-concat fixture (RGB,
// k = f = 2, eps: DDIM with eta 0.5, so every step draws noise and a different noise layout shows), and
// the default model (gray, residual over the motion base, one step) at a size above its processing size
// (the downscaled path: correction upsampled over the full-size base). Needs libgstmcvd.so next to the
// test bundle (`swift build` before `swift test`); the suite's name keeps it out of .ci/run's release
// "ParityTests" filter, which builds no plugin.
import Foundation
import MCVDKit
import Testing
import VideoData

@Suite(.serialized) struct SampleMatchesElementTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let defaultModel = root.appendingPathComponent("models/default.safetensors").path

    /// `count` frames of a pattern moving right by 3 px a frame, as PNGs in a new folder; (folder, bytes).
    static func frames(_ name: String, width: Int, height: Int, channels: Int, count: Int = 6) throws -> (dir: String, bytes: [[UInt8]]) {
        let dir = "\(Scratch.dir)/\(name)"
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var all: [[UInt8]] = []
        for t in 0..<count {
            var px = [UInt8](repeating: 0, count: width * height * channels)
            for y in 0..<height {
                for x in 0..<width {
                    let u = x - 3 * t, v = y
                    let disc = (u - 20) * (u - 20) + (v - height / 2) * (v - height / 2) < (height / 4) * (height / 4)
                    for c in 0..<channels {
                        let ramp = (u * 2 + v * (c + 1)) & 127
                        px[(y * width + x) * channels + c] = UInt8(disc ? 200 + c * 20 : 40 + ramp)
                    }
                }
            }
            try PNG.write(path: "\(dir)/\(String(format: "%02d", t)).png", width: width, height: height, channels: channels, pixels: px)
            all.append(px)
        }
        return (dir, all)
    }

    /// One PNG's decoded bytes.
    static func read1(_ path: String, height: Int, channels: Int) throws -> [UInt8] {
        try decodeVideo(path: path, height: height, channels: channels).frames[0]
    }

    /// The PNGs of a folder (strip.png left out) in name order, as decoded bytes.
    static func read(_ dir: String, height: Int, channels: Int) throws -> [[UInt8]] {
        let names = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".png") && $0 != "strip.png" }.sorted()
        return try names.map { try decodeVideo(path: "\(dir)/\($0)", height: height, channels: channels).frames[0] }
    }

    /// The element on the folder's PNGs (10 fps): `mcvd <properties>`, downstream caps `caps`, each output
    /// frame a PNG in a new folder; the output frames' bytes.
    static func element(_ input: String, count: Int, format: String, properties: String, caps: String, height: Int,
                        channels: Int, env: [String: String] = [:]) throws -> [[UInt8]] {
        let out = "\(input)-element"
        try? FileManager.default.removeItem(atPath: out)
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let plugin = URL(fileURLWithPath: try Built.path("libgstmcvd.so")).deletingLastPathComponent().path
        let description = "multifilesrc location=\(input)/%02d.png index=0 stop-index=\(count - 1) caps=image/png,framerate=10/1 "
            + "! pngdec ! video/x-raw,format=\(format) ! mcvd \(properties) ! \(caps) ! pngenc ! multifilesink location=\(out)/%04d.png"
        let (status, log) = try Built.run("/usr/bin/env", ["gst-launch-1.0", "-q"] + description.split(separator: " ").map(String.init),
                                          env: env.merging(["GST_PLUGIN_PATH": plugin, "GST_REGISTRY": "\(Scratch.dir)/registry.bin"]) { $1 })
        guard status == 0 else { throw MCVDKitError("gst-launch-1.0 \(description): \(log)") }
        return try read(out, height: height, channels: channels)
    }

    /// The indices where two frame lists differ (a count mismatch: every index of the longer one).
    static func differing(_ a: [[UInt8]], _ b: [[UInt8]]) -> [Int] {
        guard a.count == b.count else { return Array(0..<max(a.count, b.count)) }
        return a.indices.filter { a[$0] != b[$0] }
    }

    /// `mcvd sample` on the folder; its output frames' bytes.
    static func sample(_ model: String, _ input: String, _ args: [String], height: Int, channels: Int,
                       env: [String: String] = [:]) throws -> [[UInt8]] {
        let out = "\(input)-sample"
        try? FileManager.default.removeItem(atPath: out)
        let (status, log) = try Built.run(try Built.path("mcvd"), ["sample", model, input, "--out", out] + args, env: env)
        guard status == 0 else { throw MCVDKitError("mcvd sample \(args): \(log)") }
        return try read(out, height: height, channels: channels)
    }

    /// Interpolation, 2x: the element's output is original 0, fallback, original 1, gap 1, ..., original
    /// 5, tail; gaps 1...3 (two originals before and after each) are the model's, gap m with noise block m
    /// - 1 of the seed, as `mcvd sample --task interpolate` numbers them. Prediction: extend-frames=2 at
    /// EOS against `--task predict --frames 2`. A different seed gives different frames (the check can fail).
    @Test func tinyConcatRGB() throws {
        let (dir, given) = try Self.frames("rgb", width: 64, height: 48, channels: 3)
        let model = Fixture.path()
        let settings = "method=diffusion model=\(model) steps=2 sampler=ddim eta=0.5 seed=7 threads=2 processing-size=0"
        let cli = ["--steps", "2", "--sampler", "ddim", "--eta", "0.5", "--seed", "7", "--threads", "2", "--size", "48"]

        let element = try Self.element(dir, count: 6, format: "RGB", properties: settings, caps: "video/x-raw,framerate=20/1",
                                       height: 48, channels: 3)
        #expect(element.count == 12)
        let sampled = try Self.sample(model, dir, ["--task", "interpolate"] + cli, height: 48, channels: 3)
        #expect(sampled.count == 9)
        guard element.count == 12, sampled.count == 9 else { return }
        // Originals 0...5 and gaps 1...3 in time order, as sample writes them.
        let picked = [0, 2, 3, 4, 5, 6, 7, 8, 10].map { element[$0] }
        #expect(Self.differing(picked, sampled).isEmpty, "frames differ: \(Self.differing(picked, sampled))")
        let originals: [[UInt8]] = [0, 1, 3, 5, 7, 8].map { picked[$0] }
        #expect(Self.differing(originals, given).isEmpty, "originals bit-exact")
        let made = sampled[2] != given[1] && sampled[2] != given[2]
        #expect(made, "gap 1 is made, not copied")
        let otherSeed = try Self.sample(model, dir, ["--task", "interpolate"] + cli + ["--seed", "8"], height: 48, channels: 3)
        let seedMatters = otherSeed.count == 9 && otherSeed[2] != sampled[2]
        #expect(seedMatters, "another seed gives another frame")

        let predicted = try Self.element(dir, count: 6, format: "RGB", properties: "mode=predict extend-frames=2 " + settings,
                                         caps: "video/x-raw", height: 48, channels: 3)
        let extended = try Self.sample(model, dir, ["--task", "predict", "--frames", "2"] + cli, height: 48, channels: 3)
        #expect(predicted.count == 8 && extended.count == 8)
        #expect(Self.differing(predicted, extended).isEmpty, "frames differ: \(Self.differing(predicted, extended))")
        #expect(Self.differing(Array(extended.prefix(6)), given).isEmpty)
    }

    /// The default model (1 channel, motion base, one noise-free step) on 128x96 GRAY8 frames at
    /// processing-size 64: the model runs at 64 rows on both sides, its correction upsampled over the
    /// full-size motion base. Interpolation and prediction, byte for byte.
    @Test func defaultModelGrayAtProcessingSize() throws {
        let (dir, given) = try Self.frames("gray", width: 128, height: 96, channels: 1)
        let env = ["MCVD_MODEL": Self.defaultModel]
        let settings = "method=diffusion seed=3 threads=2 processing-size=64"
        let cli = ["--seed", "3", "--threads", "2", "--size", "96", "--processing-size", "64"]

        let element = try Self.element(dir, count: 6, format: "GRAY8", properties: settings, caps: "video/x-raw,framerate=20/1",
                                       height: 96, channels: 1, env: env)
        let sampled = try Self.sample("default", dir, ["--task", "interpolate"] + cli, height: 96, channels: 1, env: env)
        #expect(element.count == 12 && sampled.count == 9)
        guard element.count == 12, sampled.count == 9 else { return }
        let picked = [0, 2, 3, 4, 5, 6, 7, 8, 10].map { element[$0] }
        #expect(Self.differing(picked, sampled).isEmpty, "frames differ: \(Self.differing(picked, sampled))")
        let made = sampled[2] != given[1] && sampled[2] != given[2]
        #expect(made, "gap 1 is made, not copied")

        let predicted = try Self.element(dir, count: 6, format: "GRAY8", properties: "mode=predict extend-frames=3 " + settings,
                                         caps: "video/x-raw", height: 96, channels: 1, env: env)
        let extended = try Self.sample("default", dir, ["--task", "predict", "--frames", "3"] + cli, height: 96, channels: 1, env: env)
        #expect(predicted.count == 9 && Self.differing(predicted, extended).isEmpty, "frames differ: \(Self.differing(predicted, extended))")
        #expect(Self.differing(Array(extended.prefix(6)), given).isEmpty)
        let predictedMade = extended.count == 9 && extended[6] != given[5]
        #expect(predictedMade, "the first predicted frame is made")
    }
}
