// method=diffusion in mode=interpolate: frame counts, timestamps, bit-exact originals, the latency the
// look-ahead adds, fallback counts at the stream's ends, determinism with a seed, 1- and 3-channel models
// on every format, the inserted frames equal to MCVDKit's Generator output for the same model, frames
// and seed, and every error before data flows. Models: the committed tiny-concat parity fixture (3
// channels, k = 2, f = 2, n = 1, stride 1, random weights) and small models written here with random
// weights (Training's checkpoint writer); quality is not the point.
import CGStreamer
import CGstCheck
import Diffusion
import Element
import Foundation
import MCVDKit
import Testing
import Training
import UNet

let tinyConcat = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("UNetTests/Fixtures/tiny-concat/model.safetensors").path

/// A model file with pseudo-random weights: `channels`, k past, f future, n = 1, the given condition stride.
/// `zeroOutput`: the output convolution zeroed, and v-parameterised: its one-step sample from zero (the
/// default start of a one-step v model) adds nothing to its residual base.
func writeModel(channels: Int = 1, past: Int, future: Int, stride: Int? = nil, motionBase: Bool = false, zeroOutput: Bool = false,
                name: String) throws -> String {
    let config = UNetConfig(ngf: 8, chMult: [1, 2], numResBlocks: 1, attnResolutions: [], nHeadChannels: -1,
                            spade: false, spadeDim: 16, imageSize: 16, channels: channels, numFrames: 1,
                            numFramesCond: past, numFramesFuture: future)
    let unet = try UNet(config: config)    // zeroed parameters: give every one a value in [-0.1, 0.1)
    let bytes = noiseBytes(unet.parameterStorageCount, seed: UInt64(past * 10 + future))
    for i in 0..<unet.parameterStorageCount { unet.parameterStorage[i] = (Float(bytes[i]) - 128) / 1280 }
    if zeroOutput {
        for name in ["weight", "bias"] {
            let last = try #require(unet.parameterLayout.last { $0.name.hasSuffix("." + name) })
            unet.parameterStorage.advanced(by: last.offset).update(repeating: 0, count: last.shape.reduce(1, *))
        }
    }
    let trainer = Trainer(model: unet, options: TrainingOptions(seed: 5, parameterization: zeroOutput ? .v : .eps, residual: motionBase, conditionStride: stride,
                                                                emaRate: nil, base: motionBase ? .motion : nil))
    let path = FileManager.default.temporaryDirectory
        .appendingPathComponent("mcvd-element-\(getpid())-\(name).safetensors").path
    try trainer.save(path: path)
    return path
}

/// The samples of a frame given as packed bytes in the caps' default layout.
func samplesOf(_ bytes: [UInt8], _ info: GstVideoInfo) -> [[Int]] {
    let b = gst_buffer_new_allocate(nil, info.size, nil)!
    defer { gst_buffer_unref(b) }
    _ = bytes.withUnsafeBytes { gst_buffer_fill(b, 0, $0.baseAddress, info.size) }
    return componentSamples(b, info)
}

@Suite(.serialized) struct DiffusionTests {
    static let caps = "video/x-raw,format=I420,width=16,height=16,framerate=10/1"
    static let frame = scale(1, second, 10)

    /// The properties of most tests here. Their frames are independent noise, which the scene-cut test
    /// rightly takes for a cut between every pair: scene-threshold=0 turns it off (SceneTests covers it).
    static func diffusion(_ extra: [String: String] = [:], model: String = tinyConcat) -> [String: String] {
        var p = ["method": "diffusion", "model": model, "steps": "2", "seed": "7", "scene-threshold": "0"]
        for (k, v) in extra { p[k] = v }
        return p
    }

    /// Pushes `count` noise frames (seeds 100...) 1/10 s apart, then EOS; returns the outputs.
    static func run(_ h: Harness, count: Int) -> [Out] {
        for i in 0..<count { #expect(h.push(seed: UInt64(100 + i), pts: UInt(i) * frame) == GST_FLOW_OK) }
        #expect(h.event(gst_event_new_eos()))
        return h.pullAll()
    }

    /// 2x, 8 frames, k = f = 2: 16 slots on the output grid; originals bit-exact; gaps 1...5 from the
    /// model, gaps 0 and 6 (no second past / future frame) from the fallback (blend), the tail repeats.
    @Test func interpolateCountsTimestampsOriginalsFallback() {
        let h = Harness(Self.diffusion(), caps: Self.caps)
        let outs = Self.run(h, count: 8)
        #expect(outs.count == 16)
        guard outs.count == 16 else { return }
        #expect(outs.map(\.pts) == (0..<16).map { UInt($0) * Self.frame / 2 })
        #expect(outs.map(\.duration) == (0..<16).map { _ in Self.frame / 2 })
        #expect(outs.map(\.inserted) == (0..<16).map { $0 % 2 == 1 })
        for i in 0..<8 { #expect(outs[2 * i].samples == h.samples(seed: UInt64(100 + i)), "original \(i)") }
        #expect(h.counter("frames-inserted") == 8)
        #expect(h.counter("frames-fallback") == 2)
        // Fallback gaps are the documented blend; model gaps are not.
        for g in [0, 6] {
            #expect(outs[2 * g + 1].samples == expectedBlend(h.samples(seed: UInt64(100 + g)), h.samples(seed: UInt64(101 + g)), weight: 128))
        }
        for g in 1...5 {
            #expect(outs[2 * g + 1].samples != expectedBlend(h.samples(seed: UInt64(100 + g)), h.samples(seed: UInt64(101 + g)), weight: 128))
        }
        #expect(outs[15].samples == outs[14].samples, "tail repeats the last original")
        #expect(h.warnings().contains { $0.contains("condition stride 1") })
    }

    @Test func fallbackRepeat() {
        let h = Harness(Self.diffusion(["fallback": "repeat"]), caps: Self.caps)
        let outs = Self.run(h, count: 5)
        #expect(outs.count == 10)
        guard outs.count == 10 else { return }
        #expect(outs[1].samples == h.samples(seed: 100) && outs[7].samples == h.samples(seed: 103))
        #expect(h.counter("frames-fallback") == 2)
    }

    /// The latency query adds the look-ahead and one input frame for the model's own time: f = 2 input
    /// frames + 1 for the fixture; (f - 1) q + 1 = 3, + 1, for a model trained at condition stride 4 with
    /// n = 1 (q = 2 input frames between conditioning frames).
    @Test func latencyIsTheLookAhead() throws {
        let h = Harness(Self.diffusion(), caps: Self.caps)
        gst_harness_set_upstream_latency(h.h, 5_000_000)
        h.push(seed: 0, pts: 0)
        #expect(gst_harness_query_latency(h.h) == 5_000_000 + 3 * Self.frame)

        let strided = try writeModel(past: 2, future: 2, stride: 4, name: "stride4")
        defer { try? FileManager.default.removeItem(atPath: strided) }
        let s = Harness(Self.diffusion(model: strided), caps: Self.caps)
        gst_harness_set_upstream_latency(s.h, 0)
        // 10 frames: gaps g need g - 2 >= 0 and g + 3 <= 9, so gaps 2...6 from the model, 0, 1, 7, 8 fall back.
        let outs = Self.run(s, count: 10)
        #expect(gst_harness_query_latency(s.h) == 4 * Self.frame)
        #expect(outs.count == 20)
        #expect(s.counter("frames-fallback") == 4)
        #expect(s.warnings().allSatisfy { !$0.contains("condition stride") })
    }

    @Test func sameSeedSameBytes() {
        let a = Self.run(Harness(Self.diffusion(["seed": "3"]), caps: Self.caps), count: 6)
        let b = Self.run(Harness(Self.diffusion(["seed": "3"]), caps: Self.caps), count: 6)
        let c = Self.run(Harness(Self.diffusion(["seed": "4"]), caps: Self.caps), count: 6)
        #expect(a.count == 12 && b.count == 12 && c.count == 12)
        guard a.count == 12, c.count == 12 else { return }
        #expect(a.map(\.samples) == b.map(\.samples))
        #expect(a[3].samples != c[3].samples, "another seed, another model frame")
        #expect(a[1].samples == c[1].samples, "fallback frames do not depend on the seed")
    }

    /// One, two or three threads per forward, DDIM or DDPM: the same seed gives the same bytes (noise is
    /// named by seed and block, not drawn in thread order; the engine's tiles sum in a fixed order).
    @Test func threadsAndSamplersAreDeterministic() {
        for sampler in ["ddim", "ddpm"] {
            let one = Self.run(Harness(Self.diffusion(["threads": "1", "sampler": sampler]), caps: Self.caps), count: 5)
            let two = Self.run(Harness(Self.diffusion(["threads": "2", "sampler": sampler]), caps: Self.caps), count: 5)
            let three = Self.run(Harness(Self.diffusion(["threads": "3", "sampler": sampler]), caps: Self.caps), count: 5)
            #expect(one.count == 10 && one.map(\.samples) == two.map(\.samples), "\(sampler)")
            #expect(three.map(\.samples) == one.map(\.samples), "\(sampler), 3 threads")
        }
        let ddim = Self.run(Harness(Self.diffusion(), caps: Self.caps), count: 5)
        let ddpm = Self.run(Harness(Self.diffusion(["sampler": "ddpm"]), caps: Self.caps), count: 5)
        #expect(ddim.count == 10 && ddpm.count == 10 && ddim[3].samples != ddpm[3].samples, "the sampler property is used")
    }

    /// A DISCONT restarts the window: nothing is generated across it; each side falls back at its ends.
    @Test func discontRestartsTheWindow() {
        let h = Harness(Self.diffusion(), caps: Self.caps)
        for i in 0..<10 {
            #expect(h.push(seed: UInt64(100 + i), pts: UInt(i) * Self.frame, discont: i == 5) == GST_FLOW_OK)
        }
        #expect(h.event(gst_event_new_eos()))
        let outs = h.pullAll()
        #expect(outs.count == 20)
        guard outs.count == 20 else { return }
        #expect(outs.map(\.pts) == (0..<20).map { UInt($0) * Self.frame / 2 })
        for i in 0..<10 { #expect(outs[2 * i].samples == h.samples(seed: UInt64(100 + i))) }
        #expect(outs[9].samples == outs[8].samples, "frame 4 repeats up to the DISCONT")
        #expect(outs[10].discont)
        // Frames 0...4: gaps 0 and 3 fall back; frames 5...9: gaps 5 and 8; gaps 1, 2, 6, 7 from the model.
        #expect(h.counter("frames-fallback") == 4)
        #expect(h.counter("frames-inserted") == 10)
    }

    /// The element's inserted frames are MCVDKit's: Generator.interpolate (one gap per noise block) on the
    /// same frames, model and seed, written over a copy of the earlier original.
    @Test func insertedFramesEqualTheLibrarys() throws {
        let h = Harness(Self.diffusion(["seed": "11", "sampler": "ddim", "eta": "0.5"]), caps: Self.caps)
        let outs = Self.run(h, count: 6)
        #expect(outs.count == 12)
        guard outs.count == 12 else { return }
        let model = try Model(path: tinyConcat)
        let generator = try Generator(model: model, height: 16, width: 16,
                                      settings: SamplingSettings(sampler: .ddim, steps: 2, eta: 0.5, seed: 11))
        let bytes = (0..<6).map { noiseBytes(Int(h.info.size), seed: UInt64(100 + $0)) }
        let planar = try bytes.map { try FrameBuffer(format: .i420, width: 16, height: 16, bytes: $0).view.planar(channels: 3) }
        let sequence = try generator.interpolate(planar, batch: 1)
        // Gaps 1...3 have two originals before and after them.
        let made = sequence.filter(\.generated).map(\.pixels)
        #expect(made.count == 3)
        for (j, g) in (1...3).enumerated() where j < made.count {
            let expected = try FrameBuffer(format: .i420, width: 16, height: 16, bytes: bytes[g])
            try expected.view.write(made[j], channels: 3, keepColour: true)
            #expect(outs[2 * g + 1].samples == samplesOf(expected.bytes, h.info), "gap \(g)")
        }
    }

    /// A model trained at condition stride 4 with n = 1 conditions on every other original (q = 2): gap g
    /// from originals g - 2, g (past) and g + 1, g + 3 (future), noise block g - 2 (the first model gap is
    /// 2). Checked against MCVDKit's Generator.sample on exactly those frames; other frames give other
    /// output (so the check can tell a wrong choice of frames).
    @Test func stridedModelConditionsOnTheRightOriginals() throws {
        let path = try writeModel(past: 2, future: 2, stride: 4, name: "stride4-parity")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let h = Harness(Self.diffusion(["seed": "5"], model: path), caps: Self.caps)
        let outs = Self.run(h, count: 10)
        #expect(outs.count == 20)
        guard outs.count == 20 else { return }
        let model = try Model(path: path)
        let generator = try Generator(model: model, height: 16, width: 16, settings: SamplingSettings(sampler: .ddim, steps: 2, seed: 5))
        let bytes = (0..<10).map { noiseBytes(Int(h.info.size), seed: UInt64(100 + $0)) }
        let p = try bytes.map { try FrameBuffer(format: .i420, width: 16, height: 16, bytes: $0).view.planar(channels: 1) }
        for g in 2...6 {
            let made = try generator.sample(task: .interpolate, conditions: [BlockCondition(past: [p[g - 2], p[g]], future: [p[g + 1], p[g + 3]])],
                                            noiseBlock: UInt32(g - 2))[0][0]
            let expected = try FrameBuffer(format: .i420, width: 16, height: 16, bytes: bytes[g])
            try expected.view.write(made, channels: 1, keepColour: true)
            #expect(outs[2 * g + 1].samples == samplesOf(expected.bytes, h.info), "gap \(g)")
            let other = try generator.sample(task: .interpolate, conditions: [BlockCondition(past: [p[g - 1], p[g]], future: [p[g + 1], p[g + 2]])],
                                             noiseBlock: UInt32(g - 2))[0][0]
            #expect(other != made, "the conditioning frames matter")
        }
    }

    /// Frame `pts` of the harness's caps (that many frame durations in), its bytes from `fill`.
    static func buffer(_ h: Harness, pts i: Int, fill: (inout [UInt8]) -> Void) -> UnsafeMutablePointer<GstBuffer> {
        var bytes = [UInt8](repeating: 0, count: Int(h.info.size))
        fill(&bytes)
        let b = gst_buffer_new_allocate(nil, h.info.size, nil)!
        _ = bytes.withUnsafeBytes { gst_buffer_fill(b, 0, $0.baseAddress, h.info.size) }
        b.pointee.pts = UInt(i) * frame
        b.pointee.duration = frame
        return b
    }

    /// Pushes frames 0-4 of `make`, then EOS; the buffers that came out.
    static func pushFiveThenEOS(_ h: Harness, _ make: (Harness, Int) -> UnsafeMutablePointer<GstBuffer>) -> [Out] {
        for i in 0..<5 { #expect(gst_harness_push(h.h, make(h, i)) == GST_FLOW_OK) }
        #expect(h.event(gst_event_new_eos()))
        return h.pullAll()
    }

    /// A 1-channel model over the motion base on a colour stream keeps the colour of method=motion's frame:
    /// I420's inserted U and V planes equal method=motion's exactly (the model writes luma only), and they
    /// are not the earlier original's (which a model over another base keeps).
    @Test func grayMotionModelTakesMotionColour() throws {
        let path = try writeModel(channels: 1, past: 1, future: 1, motionBase: true, name: "gray-motion")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let caps = "video/x-raw,format=I420,width=32,height=32,framerate=10/1"
        // A smooth pattern (luma and chroma) moving 2 px right per frame: real motion, no scene cut.
        func moving(_ h: Harness, _ i: Int) -> UnsafeMutablePointer<GstBuffer> {
            Self.buffer(h, pts: i) { bytes in
                func wave(_ x: Int, _ y: Int, _ period: Double) -> UInt8 {
                    UInt8(128 + 60 * sin(Double(x - 2 * i) * 2 * .pi / period) * cos(Double(y) * 2 * .pi / 29))
                }
                for y in 0..<32 { for x in 0..<32 { bytes[y * 32 + x] = wave(x, y, 13) } }
                for y in 0..<16 { for x in 0..<16 {
                    bytes[1024 + y * 16 + x] = wave(2 * x, 2 * y, 17); bytes[1280 + y * 16 + x] = wave(2 * x, 2 * y + 5, 11)
                } }
            }
        }
        func run(_ h: Harness) -> [Out] { Self.pushFiveThenEOS(h, moving) }
        let model = Harness(Self.diffusion(["steps": "1"], model: path), caps: caps)
        let motion = Harness(["method": "motion"], caps: caps)
        let a = run(model), b = run(motion)
        #expect(a.count == 10 && b.count == 10 && model.error() == nil)
        guard a.count == 10, b.count == 10 else { return }
        for g in 0..<4 {
            let earlier = moving(model, g)
            defer { gst_buffer_unref(earlier) }
            #expect(a[2 * g + 1].inserted && b[2 * g + 1].inserted)
            #expect(Array(a[2 * g + 1].samples[1...2]) == Array(b[2 * g + 1].samples[1...2]), "gap \(g) chroma")
            #expect(a[2 * g + 1].samples[0] != b[2 * g + 1].samples[0], "gap \(g): luma is the model's")
            #expect(Array(a[2 * g + 1].samples[1...2]) != Array(componentSamples(earlier, model.info)[1...2]),
                    "gap \(g): not the earlier original's chroma")
        }
    }

    /// The model's correction goes onto motion's frame: on RGB, a model that adds nothing to its base gives
    /// method=motion's frames exactly (writing the gray base's luma over motion's colour moved every
    /// channel by the two lumas' rounding difference: 0.04 dB at 128 rows on the validation range).
    @Test func grayMotionModelAddsItsCorrectionToMotionsFrame() throws {
        let path = try writeModel(channels: 1, past: 1, future: 1, motionBase: true, zeroOutput: true, name: "gray-motion-zero")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let caps = "video/x-raw,format=RGB,width=32,height=32,framerate=10/1"
        // A smooth colour pattern moving 2 px right per frame (each channel its own phase and period).
        func moving(_ h: Harness, _ i: Int) -> UnsafeMutablePointer<GstBuffer> {
            let stride = Int(h.info.stride.0)
            return Self.buffer(h, pts: i) { bytes in
                for y in 0..<32 { for x in 0..<32 { for c in 0..<3 {
                    let v = 128 + 60 * sin(Double(x - 2 * i) * 2 * .pi / Double(11 + 3 * c) + Double(c)) * cos(Double(y + 4 * c) * 2 * .pi / 29)
                    bytes[y * stride + 3 * x + c] = UInt8(v)
                } } }
            }
        }
        func run(_ h: Harness) -> [Out] { Self.pushFiveThenEOS(h, moving) }
        let zero = Harness(Self.diffusion(["steps": "1"], model: path), caps: caps)
        let motion = Harness(["method": "motion"], caps: caps)
        let z = run(zero), m = run(motion)
        #expect(z.count == 10 && m.count == 10 && zero.error() == nil)
        guard z.count == 10, m.count == 10 else { return }
        for g in 0..<4 {
            #expect(z[2 * g + 1].inserted && z[2 * g + 1].samples == m[2 * g + 1].samples, "gap \(g): not motion's frame")
        }
    }

    /// Every format with the 3-channel fixture and a 1-channel model, at a size the models' multiple (4)
    /// does not divide (padded, cropped back): counts, originals bit-exact, fallback counts.
    @Test(arguments: allFormats) func everyFormatBothChannelCounts(format: String) throws {
        let gray = try writeModel(channels: 1, past: 1, future: 1, name: "gray-\(format)")
        defer { try? FileManager.default.removeItem(atPath: gray) }
        for model in [tinyConcat, gray] {
            let caps = "video/x-raw,format=\(format),width=18,height=10,framerate=10/1"
            let h = Harness(Self.diffusion(model: model), caps: caps)
            let outs = Self.run(h, count: 5)
            #expect(outs.count == 10, "\(format) \(model)")
            guard outs.count == 10 else { continue }
            for i in 0..<5 { #expect(outs[2 * i].samples == h.samples(seed: UInt64(100 + i)), "\(format) original \(i)") }
            #expect(outs.map(\.inserted) == (0..<10).map { $0 % 2 == 1 })
            // k = f = 2: gaps 0 and 3 fall back; k = f = 1: every gap has its one past and one future frame.
            #expect(h.counter("frames-fallback") == (model == gray ? 0 : 2), "\(format)")
            #expect(h.error() == nil)
        }
    }

    /// Every format, both channel counts, at 16 x 16 (GStreamer's default layout is then packed planes,
    /// as MCVDKit's FrameBuffer): each model-made frame equals the library's (Generator.interpolate, one
    /// gap per noise block, written over a copy of the earlier original with keepColour), so the colour
    /// rules (a gray model keeps chroma / shifts RGB, alpha stays) are the library's on every format.
    @Test(arguments: allFormats) func everyFormatMatchesTheLibrary(format: String) throws {
        let gray = try writeModel(channels: 1, past: 1, future: 1, name: "gray16-\(format)")
        defer { try? FileManager.default.removeItem(atPath: gray) }
        let pixelFormat = try #require(PixelFormat(name: format))
        for path in [tinyConcat, gray] {
            // One thread, as the library call below (Parallel's process default): another thread count
            // can change the last bit of a float, which 16-bit and 10-bit samples show.
            let h = Harness(Self.diffusion(["seed": "9", "threads": "1"], model: path), caps: "video/x-raw,format=\(format),width=16,height=16,framerate=10/1")
            let outs = Self.run(h, count: 5)
            #expect(outs.count == 10)
            guard outs.count == 10 else { continue }
            let model = try Model(path: path)
            let generator = try Generator(model: model, height: 16, width: 16, settings: SamplingSettings(sampler: .ddim, steps: 2, seed: 9))
            let bytes = (0..<5).map { noiseBytes(Int(h.info.size), seed: UInt64(100 + $0)) }
            let planar = try bytes.map {
                try FrameBuffer(format: pixelFormat, width: 16, height: 16, bytes: $0).view.planar(channels: model.channels, range: model.range)
            }
            let made = try generator.interpolate(planar, batch: 1).filter(\.generated).map(\.pixels)
            let gaps = Array((model.past - 1)..<(5 - model.future))
            #expect(made.count == gaps.count)
            for (g, frame) in zip(gaps, made) {
                let expected = try FrameBuffer(format: pixelFormat, width: 16, height: 16, bytes: bytes[g])
                try expected.view.write(frame, channels: model.channels, range: model.range, keepColour: true)
                #expect(outs[2 * g + 1].samples == samplesOf(expected.bytes, h.info), "\(format) \(model.channels) channel(s), gap \(g)")
                #expect(outs[2 * g + 1].samples != outs[2 * g].samples, "the model changed the frame")
            }
        }
    }

    /// factor=4 with an n = 1 model: its one frame (at 1/2 of the gap) is the nearest for all three slots
    /// of a model gap; the fallback gaps blend at 1/4, 1/2, 3/4.
    @Test func factorFourTakesTheNearestModelFrame() {
        let h = Harness(Self.diffusion(["factor": "4"]), caps: Self.caps)
        let outs = Self.run(h, count: 5)
        #expect(outs.count == 20)
        guard outs.count == 20 else { return }
        #expect(outs.map(\.pts) == (0..<20).map { UInt($0) * Self.frame / 4 })
        for i in 0..<5 { #expect(outs[4 * i].samples == h.samples(seed: UInt64(100 + i))) }
        for g in 1...2 {
            #expect(outs[4 * g + 1].samples == outs[4 * g + 2].samples && outs[4 * g + 2].samples == outs[4 * g + 3].samples)
        }
        for (j, w) in [64, 128, 192].enumerated() {
            #expect(outs[1 + j].samples == expectedBlend(h.samples(seed: 100), h.samples(seed: 101), weight: w))
        }
        #expect(h.counter("frames-fallback") == 6)
    }

    /// blend -> diffusion -> blend while playing: each switch drains like a DISCONT (the held frame repeats
    /// to its end), no slot is lost, originals stay bit-exact; the diffusion stretch (frames 3...8) falls back
    /// at its first and last gap; the latency follows the method.
    @Test func methodSwitchWhilePlaying() {
        let h = Harness(["model": tinyConcat, "steps": "1", "scene-threshold": "0"], caps: Self.caps)
        let obj = UnsafeMutableRawPointer(h.h.pointee.element).assumingMemoryBound(to: GObject.self)
        gst_harness_set_upstream_latency(h.h, 0)
        for i in 0..<12 {
            if i == 3 { gst_util_set_object_arg(obj, "method", "diffusion") }
            if i == 9 { gst_util_set_object_arg(obj, "method", "blend") }
            #expect(h.push(seed: UInt64(100 + i), pts: UInt(i) * Self.frame) == GST_FLOW_OK)
            if i == 5 { #expect(gst_harness_query_latency(h.h) == 3 * Self.frame) }
        }
        #expect(gst_harness_query_latency(h.h) == Self.frame)
        #expect(h.event(gst_event_new_eos()))
        let outs = h.pullAll()
        #expect(outs.count == 24)
        guard outs.count == 24 else { return }
        #expect(outs.map(\.pts) == (0..<24).map { UInt($0) * Self.frame / 2 })
        for i in 0..<12 { #expect(outs[2 * i].samples == h.samples(seed: UInt64(100 + i)), "original \(i)") }
        #expect(outs[5].samples == outs[4].samples && outs[17].samples == outs[16].samples, "drained: repeats")
        #expect(h.counter("frames-fallback") == 2)
        #expect(h.error() == nil)
    }

    /// A real pipeline: videotestsrc -> mcvd method=diffusion -> appsink, 2x.
    @Test func pipeline() throws {
        let outs = try runPipeline("videotestsrc num-buffers=6 pattern=ball ! video/x-raw,format=RGB,width=24,height=16,framerate=15/1 "
                                   + "! mcvd method=diffusion model=\(tinyConcat) steps=1 seed=2 ! appsink name=sink sync=false", timeout: 60)
        #expect(outs.count == 12)
        #expect(outs.map(\.pts) == (0..<12).map { scale(UInt($0), second, 30) })
        #expect(outs.filter(\.inserted).count == 6)
    }

    // MARK: errors before data flows

    static func refused(_ props: [String: String], caps: String = caps) -> String? {
        let h = Harness(props, caps: caps)
        #expect(h.push(seed: 0, pts: 0) == GST_FLOW_NOT_NEGOTIATED)
        #expect(h.pullAll().isEmpty)
        return h.error()
    }

    @Test func badModelFiles() throws {
        #expect(Self.refused(Self.diffusion(model: "/nonexistent/m.safetensors"))?.contains("/nonexistent/m.safetensors") == true)
        let junk = FileManager.default.temporaryDirectory.appendingPathComponent("mcvd-junk-\(getpid()).safetensors").path
        try Data("not a model".utf8).write(to: URL(fileURLWithPath: junk))
        defer { try? FileManager.default.removeItem(atPath: junk) }
        let e = Self.refused(Self.diffusion(model: junk))
        #expect(e?.contains("Cannot use model file \(junk)") == true)
        // The library's own text follows (it names the file and what is wrong).
        var libraryText = ""
        do { _ = try Model(path: junk) } catch { libraryText = "\(error)" }
        #expect(!libraryText.isEmpty && e?.contains(libraryText) == true)
    }

    @Test func modelThatCannotInterpolate() throws {
        let path = try writeModel(past: 2, future: 0, name: "nofuture")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let e = Self.refused(Self.diffusion(model: path))
        #expect(e?.contains("cannot interpolate") == true && e?.contains("--future") == true)
    }

    @Test func impossibleSettings() {
        #expect(Self.refused(Self.diffusion(["steps": "5000"]))?.contains("exceeds the model's 1000") == true)
        // Native size (processing-size=0) above 640x480 is refused; the message names the way out.
        let big = "video/x-raw,format=I420,width=800,height=600,framerate=10/1"
        let e = Self.refused(Self.diffusion(["processing-size": "0"]), caps: big)
        #expect(e?.contains("800x600") == true && e?.contains("processing-size") == true && e?.contains("videoscale") == true)
        #expect(Self.refused(Self.diffusion(["processing-size": "600"]), caps: big)?.contains("processing-size=600") == true)
    }

    /// The default processing-size takes frames of any size: 800x600 runs the model at 64 rows.
    @Test func largeFramesRunAtTheProcessingSize() {
        let h = Harness(Self.diffusion(), caps: "video/x-raw,format=I420,width=800,height=600,framerate=10/1")
        let outs = Self.run(h, count: 5)
        #expect(h.error() == nil)
        #expect(outs.count == 10)
        guard outs.count == 10 else { return }
        for i in 0..<5 { #expect(outs[2 * i].samples == h.samples(seed: UInt64(100 + i)), "original \(i)") }
        #expect(h.counter("frames-fallback") == 2)
        #expect(outs[3].samples != expectedBlend(h.samples(seed: 101), h.samples(seed: 102), weight: 128))
    }

    /// processing-size below the frame height: each model-made frame equals MCVDKit's FrameGenerator at
    /// that processing size (48x30 frames: packed planes in GStreamer's layout, as FrameBuffer; model at 24x16 or 26x16), for a 3- and a 1-channel model, written
    /// over a copy of the earlier original; processing-size is readable back.
    @Test func processingSizeMatchesTheLibrary() throws {
        let gray = try writeModel(channels: 1, past: 1, future: 1, name: "gray-ps")
        defer { try? FileManager.default.removeItem(atPath: gray) }
        for path in [tinyConcat, gray] {
            let h = Harness(Self.diffusion(["seed": "9", "threads": "1", "processing-size": "16"], model: path),
                            caps: "video/x-raw,format=I420,width=48,height=30,framerate=10/1")
            #expect(h.intProperty("processing-size") == 16)
            let outs = Self.run(h, count: 5)
            #expect(outs.count == 10)
            guard outs.count == 10 else { continue }
            let model = try Model(path: path)
            let generator = try FrameGenerator(model: model, height: 30, width: 48, processingSize: 16,
                                               settings: SamplingSettings(sampler: .ddim, steps: 2, seed: 9))
            #expect(generator.scaled && generator.workingHeight == 16 && generator.workingWidth == (model.sizeMultiple == 4 ? 24 : 26))  // 25.6 to the multiple
            let bytes = (0..<5).map { noiseBytes(Int(h.info.size), seed: UInt64(100 + $0)) }
            let planar = try bytes.map {
                try FrameBuffer(format: .i420, width: 48, height: 30, bytes: $0).view.planar(channels: model.channels, range: model.range)
            }
            let made = try generator.interpolate(planar, batch: 1).filter(\.generated).map(\.pixels)
            let gaps = Array((model.past - 1)..<(5 - model.future))
            #expect(made.count == gaps.count)
            for (g, frame) in zip(gaps, made) {
                let expected = try FrameBuffer(format: .i420, width: 48, height: 30, bytes: bytes[g])
                try expected.view.write(frame, channels: model.channels, range: model.range, keepColour: true)
                #expect(outs[2 * g + 1].samples == samplesOf(expected.bytes, h.info), "\(model.channels) channel(s), gap \(g)")
            }
        }
    }

    /// In a pipeline a bad model fails the state change (READY -> PAUSED) with the error: no data, no hang.
    @Test func pipelineFailsBeforeData() {
        do {
            _ = try runPipeline("videotestsrc num-buffers=5 ! video/x-raw,width=16,height=16 ! mcvd method=diffusion "
                                + "model=/nonexistent.safetensors ! appsink name=sink", timeout: 20)
            Issue.record("no error")
        } catch {
            #expect("\(error)".contains("/nonexistent.safetensors"))
        }
    }
}

extension Harness {
    /// An int property of the element (processing-size, threads, ...).
    func intProperty(_ name: String) -> Int {
        var v = GValue()
        g_value_init(&v, GType(6 << 2))  // G_TYPE_INT
        defer { g_value_unset(&v) }
        g_object_get_property(UnsafeMutableRawPointer(h.pointee.element).assumingMemoryBound(to: GObject.self), name, &v)
        return Int(g_value_get_int(&v))
    }
}
