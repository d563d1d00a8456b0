// Scene cuts, static content and fill-gaps through the real element (README "Scene cuts, static content,
// fill-gaps"): a cut spliced between two moving scenes gives repeats of the nearer original, not model
// frames, and the model never conditions across it; static input skips the model (counters, the exact
// blend) and is not worse for it against ground truth with the default model; fill-gaps keeps the rate
// and fills holes and duplicates (counts, timestamps, bit-exact originals), in a harness and a pipeline.
import CGStreamer
import CGstMcvd
import CGStreamerApp
import CGstCheck
import Foundation
import Motion
import Testing

/// A smooth texture (scene 0) or a blocky one (scene 1) moved `shift` pixels right, plus small noise.
func sceneFrame(_ scene: Int, shift: Int, width: Int = 64, height: Int = 48, noise: UInt64? = nil) -> [UInt8] {
    let n = noise.map { noiseBytes(width * height, seed: $0) }
    var out = [UInt8](repeating: 0, count: width * height)
    for y in 0..<height {
        for x in 0..<width {
            let u = Double(x - shift), v = Double(y)
            let value = scene == 0
                ? 128 + 70 * sin(0.35 * u) * cos(0.23 * v) + 30 * sin(0.11 * u + 0.4 * v)
                : 60 + 140 * Double((Int((u + 64) / 8) + Int(v / 8)) % 2) + 25 * cos(0.3 * v + 0.2 * u)
            let jitter = n.map { Double(Int($0[y * width + x]) % 3 - 1) } ?? 0
            out[y * width + x] = UInt8(max(0, min(255, (value + jitter).rounded())))
        }
    }
    return out
}

extension Harness {
    /// Pushes a frame of the caps' default layout given as bytes.
    @discardableResult
    func push(bytes: [UInt8], pts: UInt) -> GstFlowReturn {
        let b = gst_buffer_new_allocate(nil, info.size, nil)!
        _ = bytes.withUnsafeBytes { gst_buffer_fill(b, 0, $0.baseAddress, info.size) }
        b.pointee.pts = pts
        return gst_harness_push(h, b)
    }

    func doubleProperty(_ name: String) -> Double {
        var v = GValue()
        g_value_init(&v, GType(15 << 2))  // G_TYPE_DOUBLE
        defer { g_value_unset(&v) }
        g_object_get_property(UnsafeMutableRawPointer(h.pointee.element).assumingMemoryBound(to: GObject.self), name, &v)
        return g_value_get_double(&v)
    }
}

/// PSNR (peak 255) of two sample arrays.
func psnr(_ a: [[Int]], _ b: [[Int]]) -> Double {
    var se = 0.0, n = 0
    for (pa, pb) in zip(a, b) { for (x, y) in zip(pa, pb) { se += Double((x - y) * (x - y)); n += 1 } }
    return se == 0 ? 100 : 10 * log10(255 * 255 * Double(n) / se)
}

@Suite(.serialized) struct SceneTests {
    static let caps = "video/x-raw,format=GRAY8,width=64,height=48,framerate=10/1"
    static let frame = scale(1, second, 10)
    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Frames 0-4 of scene 0 and 5-9 of scene 1, each moving 1 pixel a frame.
    static let spliced = (0..<10).map { i in sceneFrame(i < 5 ? 0 : 1, shift: i) }

    static func run(_ h: Harness, _ frames: [[UInt8]], pts: [UInt]? = nil) -> [Out] {
        for (i, f) in frames.enumerated() { #expect(h.push(bytes: f, pts: pts?[i] ?? UInt(i) * frame) == GST_FLOW_OK) }
        #expect(h.event(gst_event_new_eos()))
        return h.pullAll()
    }

    static func samples(_ h: Harness, _ bytes: [UInt8]) -> [[Int]] { samplesOf(bytes, h.info) }

    /// method=diffusion (tiny-concat, k = f = 2): the gap across the cut repeats original 4 (weight 1/2
    /// takes the earlier one); gaps 3 and 5, whose conditioning frames span the cut, fall back (like the
    /// stream's ends, 0 and 8); 1, 2, 6, 7 come from the model. scene-threshold=0 lets the model fill gap 4.
    /// The properties' defaults are the Motion library's, which `mcvd eval` uses for its model row.
    @Test func thresholdDefaultsAreTheMotionLibrarys() {
        #expect(Float(GST_MCVD_DEFAULT_SCENE_THRESHOLD) == SceneCut.defaultThreshold)
        #expect(Float(GST_MCVD_DEFAULT_STATIC_THRESHOLD) == StaticContent.defaultThreshold)
    }

    @Test func spliceGivesRepeatsNotModelFrames() {
        let props = ["method": "diffusion", "model": tinyConcat, "steps": "1", "seed": "3"]
        let h = Harness(props, caps: Self.caps)
        #expect(h.doubleProperty("scene-threshold") == 0.5 && h.doubleProperty("static-threshold") == 1.5)
        let outs = Self.run(h, Self.spliced)
        #expect(h.error() == nil)
        #expect(outs.count == 20)
        guard outs.count == 20 else { return }
        #expect(outs.map(\.pts) == (0..<20).map { UInt($0) * Self.frame / 2 })
        for i in 0..<10 { #expect(outs[2 * i].samples == Self.samples(h, Self.spliced[i]) && !outs[2 * i].inserted, "original \(i)") }
        #expect(outs[9].inserted && outs[9].samples == Self.samples(h, Self.spliced[4]), "the cut repeats the earlier original")
        #expect(h.counter("frames-scene-cut") == 1)
        #expect(h.counter("frames-fallback") == 4)
        #expect(h.counter("frames-static") == 0)
        #expect(h.counter("frames-inserted") == 10)
        for g in [1, 2, 6, 7] {
            let blend = expectedBlend(Self.samples(h, Self.spliced[g]), Self.samples(h, Self.spliced[g + 1]), weight: 128)
            #expect(outs[2 * g + 1].samples != blend, "gap \(g) from the model")
        }
        for g in [3, 5] {
            #expect(outs[2 * g + 1].samples == expectedBlend(Self.samples(h, Self.spliced[g]), Self.samples(h, Self.spliced[g + 1]), weight: 128), "gap \(g) falls back")
        }

        var off = props
        off["scene-threshold"] = "0"
        let o = Harness(off, caps: Self.caps)
        let outsOff = Self.run(o, Self.spliced)
        #expect(outsOff.count == 20 && o.counter("frames-scene-cut") == 0 && o.counter("frames-fallback") == 2)
        if outsOff.count == 20 {
            #expect(outsOff[9].samples != Self.samples(o, Self.spliced[4]) && outsOff[9].samples != Self.samples(o, Self.spliced[5]))
        }
    }

    /// At factor 4 the three slots of the cut's gap take the nearer original: 1/4 and 1/2 the earlier,
    /// 3/4 the later. method=motion uses the same detector and counter; scene-threshold=0 turns it off.
    @Test func nearerOriginalAndMotion() {
        let h = Harness(["method": "diffusion", "model": tinyConcat, "steps": "1", "factor": "4"], caps: Self.caps)
        let outs = Self.run(h, Self.spliced)
        #expect(outs.count == 40 && h.counter("frames-scene-cut") == 3)
        if outs.count == 40 {
            #expect(outs[17].samples == Self.samples(h, Self.spliced[4]) && outs[18].samples == Self.samples(h, Self.spliced[4]))
            #expect(outs[19].samples == Self.samples(h, Self.spliced[5]))
        }
        let m = Harness(["method": "motion"], caps: Self.caps)
        let mo = Self.run(m, Self.spliced)
        #expect(mo.count == 20 && m.counter("frames-scene-cut") == 1)
        if mo.count == 20 { #expect(mo[9].samples == Self.samples(m, Self.spliced[4])) }
        let m0 = Harness(["method": "motion", "scene-threshold": "0"], caps: Self.caps)
        let mo0 = Self.run(m0, Self.spliced)
        #expect(mo0.count == 20 && m0.counter("frames-scene-cut") == 0)
        if mo0.count == 20 { #expect(mo0[9].samples != Self.samples(m0, Self.spliced[4])) }
    }

    /// A still picture with +-1 level of noise: every pair is static, the model never runs (frames-static
    /// counts every inserted frame but the tail, no fallback), and each inserted frame is the exact blend.
    /// A moving picture is never static.
    @Test func staticInputSkipsTheModel() {
        let still = (0..<8).map { sceneFrame(0, shift: 0, noise: UInt64(50 + $0)) }
        let h = Harness(["method": "diffusion", "model": tinyConcat, "steps": "1"], caps: Self.caps)
        let outs = Self.run(h, still)
        #expect(outs.count == 16 && h.counter("frames-static") == 7 && h.counter("frames-fallback") == 0)
        #expect(h.counter("frames-inserted") == 8 && h.counter("frames-scene-cut") == 0)
        if outs.count == 16 {
            for g in 0..<7 {
                #expect(outs[2 * g + 1].inserted && outs[2 * g + 1].samples == expectedBlend(Self.samples(h, still[g]), Self.samples(h, still[g + 1]), weight: 128))
            }
        }
        let moving = (0..<6).map { sceneFrame(0, shift: $0) }
        let m = Harness(["method": "diffusion", "model": tinyConcat, "steps": "1"], caps: Self.caps)
        #expect(Self.run(m, moving).count == 12 && m.counter("frames-static") == 0 && m.counter("frames-fallback") == 2)
    }

    /// "Not worse for it": with the default model, on a still 64x64 picture with +-1 level of noise,
    /// frames 1, 3, 5, 7 rebuilt from the even ones; the skip's blend scores at least the model's PSNR
    /// against the true odd frames on the gaps the model fills (static-threshold=0).
    @Test func staticSkipIsNotWorseThanTheModel() throws {
        let model = Self.repoRoot.appendingPathComponent("models/default.safetensors").path
        let caps = "video/x-raw,format=GRAY8,width=64,height=64,framerate=10/1"
        let all = (0..<11).map { sceneFrame(0, shift: 0, width: 64, height: 64, noise: UInt64(200 + $0)) }
        let kept = stride(from: 0, to: 11, by: 2).map { all[$0] }
        func outputs(_ threshold: String) -> (Harness, [Out]) {
            let h = Harness(["method": "diffusion", "model": model, "seed": "1", "static-threshold": threshold], caps: caps)
            return (h, Self.run(h, kept))
        }
        let (skip, a) = outputs("1.5"), (full, b) = outputs("0")
        #expect(a.count == 12 && b.count == 12 && skip.counter("frames-static") == 5 && full.counter("frames-static") == 0)
        #expect(full.counter("frames-fallback") == 2, "gaps 1-3 from the model")
        guard a.count == 12, b.count == 12 else { return }
        var skipPSNR = 0.0, modelPSNR = 0.0
        for g in 1...3 {
            let truth = samplesOf(all[2 * g + 1], skip.info)
            skipPSNR += psnr(a[2 * g + 1].samples, truth) / 3
            modelPSNR += psnr(b[2 * g + 1].samples, truth) / 3
        }
        print("static content, default model: skip (blend) \(skipPSNR) dB, model \(modelPSNR) dB")
        #expect(skipPSNR >= modelPSNR, "skip \(skipPSNR) dB vs model \(modelPSNR) dB")
    }

    /// Other formats (packed RGB, 10-bit planar, packed 4:2:2) through a real pipeline: appsrc (the
    /// spliced GRAY8 frames) -> videoconvert -> mcvd method=diffusion -> appsink. The cut's slot is a copy
    /// of the original before it; the gaps around it are not.
    @Test(arguments: ["RGB", "I420_10LE", "YUY2"]) func cutInOtherFormats(format: String) throws {
        let info = videoInfo(Self.caps)
        let outs = try runPipeline("appsrc name=src format=time caps=\(Self.caps) ! videoconvert ! video/x-raw,format=\(format) "
                                   + "! mcvd method=diffusion model=\(tinyConcat) steps=1 ! appsink name=sink sync=false") { src in
            let appsrc = UnsafeMutableRawPointer(src).assumingMemoryBound(to: GstAppSrc.self)
            for (i, f) in Self.spliced.enumerated() {
                let b = gst_buffer_new_allocate(nil, info.size, nil)!
                _ = f.withUnsafeBytes { gst_buffer_fill(b, 0, $0.baseAddress, info.size) }
                b.pointee.pts = UInt(i) * Self.frame
                _ = gst_app_src_push_buffer(appsrc, b)
            }
            _ = gst_app_src_end_of_stream(appsrc)
        }
        #expect(outs.count == 20)
        guard outs.count == 20 else { return }
        #expect(outs[9].inserted && outs[9].samples == outs[8].samples, "\(format): the cut repeats original 4")
        #expect(outs[7].samples != outs[6].samples && outs[11].samples != outs[10].samples, "\(format): no repeat elsewhere")
    }

    // MARK: fill-gaps

    static let noiseCaps = "video/x-raw,format=I420,width=16,height=16,framerate=10/1"

    /// Holes (frames 3 and 6 missing): the output keeps 10/1 with every slot, originals bit-exact and
    /// untouched, the two holes blended (method=blend) and counted in frames-inserted; factor is ignored.
    @Test func fillGapsFillsHoles() {
        let h = Harness(["fill-gaps": "true", "factor": "4"], caps: Self.noiseCaps)
        let present = [0, 1, 2, 4, 5, 7, 8, 9]
        for i in present { #expect(h.push(seed: UInt64(100 + i), pts: UInt(i) * Self.frame) == GST_FLOW_OK) }
        #expect(h.event(gst_event_new_eos()))
        let outs = h.pullAll()
        #expect(h.outRate == (10, 1))
        #expect(outs.count == 10)
        guard outs.count == 10 else { return }
        #expect(outs.map(\.pts) == (0..<10).map { UInt($0) * Self.frame })
        #expect(outs.map(\.duration) == (0..<10).map { _ in Self.frame })
        #expect(outs.map(\.inserted) == (0..<10).map { $0 == 3 || $0 == 6 })
        for i in present { #expect(outs[i].samples == h.samples(seed: UInt64(100 + i)), "original \(i)") }
        #expect(outs[3].samples == expectedBlend(h.samples(seed: 102), h.samples(seed: 104), weight: 128))
        #expect(h.counter("frames-inserted") == 2 && h.counter("frames-duplicate") == 0)
    }

    /// Duplicates (frame 3 a byte copy of 2, frame 9 of 8): counted and replaced; the one inside by the
    /// blend of its distinct neighbours, the one at the end by the held frame's repeat; 10 frames out.
    @Test func fillGapsReplacesDuplicates() {
        let h = Harness(["fill-gaps": "true"], caps: Self.noiseCaps)
        let seeds = [0, 1, 2, 2, 4, 5, 6, 7, 8, 8]
        for (i, s) in seeds.enumerated() { #expect(h.push(seed: UInt64(100 + s), pts: UInt(i) * Self.frame) == GST_FLOW_OK) }
        #expect(h.event(gst_event_new_eos()))
        let outs = h.pullAll()
        #expect(outs.count == 10 && h.counter("frames-duplicate") == 2 && h.counter("frames-inserted") == 2)
        guard outs.count == 10 else { return }
        #expect(outs.map(\.pts) == (0..<10).map { UInt($0) * Self.frame })
        #expect(outs.map(\.inserted) == (0..<10).map { $0 == 3 || $0 == 9 })
        #expect(outs[3].samples == expectedBlend(h.samples(seed: 102), h.samples(seed: 104), weight: 128))
        #expect(outs[9].samples == h.samples(seed: 108))
        // Without fill-gaps the duplicate is an original like any other.
        let plain = Harness(["factor": "1"], caps: Self.noiseCaps)
        for (i, s) in seeds.enumerated() { plain.push(seed: UInt64(100 + s), pts: UInt(i) * Self.frame) }
        #expect(plain.event(gst_event_new_eos()))
        #expect(plain.pullAll().filter(\.inserted).isEmpty && plain.counter("frames-duplicate") == 0)
    }

    /// method=diffusion fills a hole from the model (conditioned on 1, 2 | 4, 5), not the fallback.
    @Test func fillGapsWithTheModel() {
        let h = Harness(["fill-gaps": "true", "method": "diffusion", "model": tinyConcat, "steps": "1", "scene-threshold": "0"],
                        caps: Self.noiseCaps)
        for i in [0, 1, 2, 4, 5, 6] { #expect(h.push(seed: UInt64(100 + i), pts: UInt(i) * Self.frame) == GST_FLOW_OK) }
        #expect(h.event(gst_event_new_eos()))
        let outs = h.pullAll()
        #expect(outs.count == 7 && h.counter("frames-inserted") == 1 && h.counter("frames-fallback") == 0)
        guard outs.count == 7 else { return }
        #expect(outs[3].inserted && outs[3].samples != expectedBlend(h.samples(seed: 102), h.samples(seed: 104), weight: 128))
        for i in [0, 1, 2, 4, 5, 6] { #expect(outs[i].samples == h.samples(seed: UInt64(100 + i))) }
    }

    /// Downstream fixing another rate is refused with a way out; so is variable-rate input.
    @Test func fillGapsKeepsTheRate() {
        let h = Harness(["fill-gaps": "true"], caps: Self.noiseCaps, sinkCaps: "video/x-raw,framerate=20/1")
        #expect(h.push(seed: 0, pts: 0) != GST_FLOW_OK)
        #expect(h.error()?.contains("fill-gaps keeps the input frame rate") == true)
        let v = Harness(["fill-gaps": "true"], caps: "video/x-raw,format=I420,width=16,height=16,framerate=0/1",
                        sinkCaps: "video/x-raw,framerate=10/1")
        #expect(v.push(seed: 0, pts: 0) != GST_FLOW_OK)
        #expect(v.error()?.contains("videorate") == true)
    }

    /// A real pipeline: appsrc with holes -> mcvd fill-gaps=true -> appsink.
    @Test func fillGapsPipeline() throws {
        let info = videoInfo(Self.noiseCaps)
        let present = [0, 1, 3, 4, 5, 8, 9, 10, 11]
        let outs = try runPipeline("appsrc name=src format=time caps=\(Self.noiseCaps) ! mcvd fill-gaps=true method=motion "
                                   + "! appsink name=sink sync=false") { src in
            let appsrc = UnsafeMutableRawPointer(src).assumingMemoryBound(to: GstAppSrc.self)
            for i in present { _ = gst_app_src_push_buffer(appsrc, makeFrame(info, seed: UInt64(i), pts: UInt(i) * Self.frame)) }
            _ = gst_app_src_end_of_stream(appsrc)
        }
        #expect(outs.count == 12)
        #expect(outs.map(\.pts) == (0..<12).map { UInt($0) * Self.frame })
        #expect(outs.map(\.inserted) == (0..<12).map { !present.contains($0) })
        for i in present where outs.count == 12 {
            let b = makeFrame(info, seed: UInt64(i))
            #expect(outs[i].samples == componentSamples(b, info))
            gst_buffer_unref(b)
        }
    }
}
