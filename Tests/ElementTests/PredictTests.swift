// mode=predict: originals out at once (no added latency) and bit-exact, frames missing on the input grid
// (timestamp jumps, GAP events) filled with the model's prediction from the frames before them, equal to
// MCVDKit's Generator.extend on the same frames, model and seed (block-wise autoregression included); late
// frames dropped; the repeat fallback at the stream's start; extend-frames after EOS and prepend-frames
// before the first frame (counts, timestamps, the delay when there is no room, the frames held for the
// model and the latency they cost); DISCONT, long jumps, flush, caps change and EOS in the middle of the
// prepend hold; errors for combinations that cannot work. Models: the tiny-concat fixture (3 channels,
// k = f = 2, n = 1, stride 1) and pseudo-random ones from DiffusionTests' writeModel.
import CGStreamer
import CGStreamerApp
import CGstCheck
import Foundation
import MCVDKit
import Testing

@Suite(.serialized) struct PredictTests {
    static let caps = "video/x-raw,format=I420,width=16,height=16,framerate=10/1"
    static let frame = scale(1, second, 10)

    static func predict(_ extra: [String: String] = [:], model: String = tinyConcat) -> [String: String] {
        var p = ["mode": "predict", "method": "diffusion", "model": model, "steps": "2", "seed": "7", "threads": "1"]
        for (k, v) in extra { p[k] = v }
        return p
    }

    static func bytes(_ h: Harness, _ seed: Int) -> [UInt8] { noiseBytes(Int(h.info.size), seed: UInt64(seed)) }

    /// The library's frames for the same model and seed: Generator.extend on the frames `given` (seeds of
    /// noise frames), from noise block `noiseBlock`, each written over a copy of frame `base` (keepColour).
    static func library(_ h: Harness, model path: String = tinyConcat, seed: UInt64 = 7, given: [Int], count: Int,
                        backward: Bool = false, noiseBlock: UInt32 = 0, base: Int) throws -> [[[Int]]] {
        let model = try Model(path: path)
        let generator = try Generator(model: model, height: 16, width: 16, settings: SamplingSettings(sampler: .ddim, steps: 2, seed: seed))
        let planar = try given.map {
            try FrameBuffer(format: .i420, width: 16, height: 16, bytes: bytes(h, $0)).view.planar(channels: model.channels, range: model.range)
        }
        let made = try generator.extend(planar, count: count, backward: backward, noiseBlock: noiseBlock)
        return try made.map { m in
            let out = try FrameBuffer(format: .i420, width: 16, height: 16, bytes: bytes(h, base))
            try out.view.write(m, channels: model.channels, range: model.range, keepColour: true)
            return samplesOf(out.bytes, h.info)
        }
    }

    /// Frames at grid positions 0...10 with 5, 8 and 9 missing (timestamp jumps, no DISCONT): each original
    /// comes out as soon as it is pushed, untouched; slot 5 is the model's prediction from originals 3, 4
    /// (noise block 0) and slots 8, 9 one autoregressive run from originals 6, 7 (blocks 1, 2: slot 9
    /// conditions on the predicted 8), exactly the library's; no fallback, no latency added.
    @Test func fillsTimestampJumpsWithTheLibrarysPrediction() throws {
        let h = Harness(Self.predict(), caps: Self.caps)
        gst_harness_set_upstream_latency(h.h, 5_000_000)
        var outs: [Out] = []
        let pushed = [0, 1, 2, 3, 4, 6, 7, 10]
        for k in pushed {
            #expect(h.push(seed: UInt64(100 + k), pts: UInt(k) * Self.frame) == GST_FLOW_OK)
            outs += h.pullAll()
            #expect(outs.count == k + 1, "frame \(k) and the missing ones before it are out at once")
        }
        #expect(gst_harness_query_latency(h.h) == 5_000_000)
        #expect(h.event(gst_event_new_eos()))
        outs += h.pullAll()
        #expect(outs.count == 11)
        guard outs.count == 11 else { return }
        #expect(outs.map(\.pts) == (0..<11).map { UInt($0) * Self.frame })
        #expect(outs.map(\.duration) == (0..<11).map { _ in Self.frame })
        #expect(outs.map(\.offset) == (0..<11).map { UInt($0) })
        #expect(outs.map(\.inserted) == (0..<11).map { [5, 8, 9].contains($0) })
        for k in pushed { #expect(outs[k].samples == h.samples(seed: UInt64(100 + k)), "original \(k)") }
        let five = try Self.library(h, given: [100, 101, 102, 103, 104], count: 1, base: 104)
        #expect(outs[5].samples == five[0])
        let eightNine = try Self.library(h, given: [106, 107], count: 2, noiseBlock: 1, base: 107)
        #expect(outs[8].samples == eightNine[0] && outs[9].samples == eightNine[1])
        #expect(outs[9].samples != outs[8].samples && outs[5].samples != outs[4].samples)
        #expect(h.counter("frames-inserted") == 3 && h.counter("frames-fallback") == 0)
        #expect(h.counter("frames-out") == 11)
        #expect(h.warnings().allSatisfy { !$0.contains("condition stride") }, "the interpolation warning is not for predict")
    }

    /// At the stream's start the grid has one frame, the model needs two: the missing slot 1 repeats
    /// original 0 (counted in frames-fallback); slot 4 later has its two frames (originals 2, 3).
    @Test func fallbackRepeatsAtTheStart() throws {
        let h = Harness(Self.predict(), caps: Self.caps)
        for k in [0, 2, 3, 5] { h.push(seed: UInt64(100 + k), pts: UInt(k) * Self.frame) }
        #expect(h.event(gst_event_new_eos()))
        let outs = h.pullAll()
        #expect(outs.count == 6)
        guard outs.count == 6 else { return }
        #expect(outs.map(\.inserted) == [false, true, false, false, true, false])
        #expect(outs[1].samples == h.samples(seed: 100))
        #expect(h.counter("frames-fallback") == 1)
        // The repeat took slot 1 in the model's past: [original 0, its repeat, 2, 3] -> the last two.
        #expect(outs[4].samples == (try Self.library(h, given: [102, 103], count: 1, base: 103))[0])
    }

    /// A model trained at condition stride 2 predicts slot t from t - 3 and t - 1: it needs three frames
    /// of the grid; the element gives it the library's frames.
    @Test func stridedModelTakesItsPastAtTheStride() throws {
        let path = try writeModel(past: 2, future: 2, stride: 2, name: "predict-stride2")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let h = Harness(Self.predict(model: path), caps: Self.caps)
        for k in [0, 1, 3, 4, 5, 7] { h.push(seed: UInt64(100 + k), pts: UInt(k) * Self.frame) }
        #expect(h.event(gst_event_new_eos()))
        let outs = h.pullAll()
        #expect(outs.count == 8)
        guard outs.count == 8 else { return }
        #expect(outs[2].samples == h.samples(seed: 101), "two frames of the grid: the fallback")
        #expect(h.counter("frames-fallback") == 1)
        // Slot 6: the grid holds 0, 1, repeat, 3, 4, 5: the model's past is slots 3 and 5.
        let six = try Self.library(h, model: path, given: [103, 104, 105], count: 1, base: 105)
        #expect(outs[6].samples == six[0])
        // Consecutive frames 4, 5 as the past (what a stride of 1 would take) give another frame.
        let other = try Self.library(h, model: path, given: [104, 103, 105], count: 1, base: 105)
        #expect(other[0] != six[0], "the stride's frames matter")
    }

    /// A GAP event covering slots 4 and 5 fills them at once (the event goes no further: the frames cover
    /// its time); original 5 arriving after that is late and dropped (frames-dropped, a warning).
    @Test func gapEventFillsAndLateFrameIsDropped() throws {
        let h = Harness(Self.predict(), caps: Self.caps)
        for k in 0..<4 { h.push(seed: UInt64(100 + k), pts: UInt(k) * Self.frame) }
        #expect(h.pullAll().count == 4)
        #expect(h.event(gst_event_new_gap(4 * Self.frame, 2 * Self.frame)))
        let filled = h.pullAll()
        #expect(filled.map(\.pts) == [4 * Self.frame, 5 * Self.frame])
        #expect(filled.allSatisfy { $0.inserted })
        #expect(h.push(seed: 105, pts: 5 * Self.frame) == GST_FLOW_OK)
        #expect(h.pullAll().isEmpty, "late: slot 5 already went out")
        h.push(seed: 106, pts: 6 * Self.frame)
        #expect(h.event(gst_event_new_eos()))
        let rest = h.pullAll()
        #expect(rest.map(\.pts) == [6 * Self.frame])
        #expect(rest.first?.samples == h.samples(seed: 106))
        #expect(h.counter("frames-dropped") == 1)
        #expect(h.warnings().contains { $0.contains("arrived after its slot was filled") })
        let lib = try Self.library(h, given: [102, 103], count: 2, base: 103)
        #expect(filled.count == 2 && filled[0].samples == lib[0] && filled[1].samples == lib[1])
        // No GAP event came out of the element.
        var gaps = 0
        while let e = gst_harness_try_pull_event(h.h) {
            if e.pointee.type == GST_EVENT_GAP { gaps += 1 }
            gst_event_unref(e)
        }
        #expect(gaps == 0)
    }

    /// extend-frames=3: after EOS three frames continue the grid, predicted autoregressively from the
    /// last originals: the library's extend of the whole clip.
    @Test func extendFramesAfterEOS() throws {
        let h = Harness(Self.predict(["extend-frames": "3"]), caps: Self.caps)
        for k in 0..<5 { h.push(seed: UInt64(100 + k), pts: UInt(k) * Self.frame) }
        #expect(h.pullAll().count == 5)
        #expect(h.event(gst_event_new_eos()))
        let added = h.pullAll()
        #expect(added.map(\.pts) == (5..<8).map { UInt($0) * Self.frame })
        #expect(added.allSatisfy { $0.inserted })
        let lib = try Self.library(h, given: (100..<105).map { $0 }, count: 3, base: 104)
        #expect(added.map(\.samples) == lib)
        #expect(h.counter("frames-inserted") == 3 && h.counter("frames-fallback") == 0)
    }

    /// prepend-frames=3 with room before the first frame (at 1.0 s): the first two originals are held
    /// (the model's future block; the latency query says one frame), then slots 0.7, 0.8, 0.9 s come out,
    /// predicted backward (the library's extend backward), then the originals; later ones pass at once.
    @Test func prependFramesBeforeTheFirst() throws {
        let h = Harness(Self.predict(["prepend-frames": "3"]), caps: Self.caps)
        gst_harness_set_upstream_latency(h.h, 0)
        h.push(seed: 110, pts: 10 * Self.frame)
        #expect(h.pullAll().isEmpty, "held for the model")
        #expect(gst_harness_query_latency(h.h) == Self.frame)
        h.push(seed: 111, pts: 11 * Self.frame)
        var outs = h.pullAll()
        #expect(outs.count == 5)
        h.push(seed: 112, pts: 12 * Self.frame)
        outs += h.pullAll()
        #expect(outs.count == 6)
        #expect(h.event(gst_event_new_eos()))
        outs += h.pullAll()
        guard outs.count == 6 else { Issue.record("\(outs.count) frames"); return }
        #expect(outs.map(\.pts) == (7..<13).map { UInt($0) * Self.frame })
        #expect(outs.map(\.inserted) == [true, true, true, false, false, false])
        #expect(outs.first?.discont == true)
        for k in 10..<13 { #expect(outs[k - 7].samples == h.samples(seed: UInt64(100 + k))) }
        let lib = try Self.library(h, given: [110, 111], count: 3, backward: true, base: 110)
        #expect(Array(outs[0..<3].map(\.samples)) == lib)
        #expect(h.counter("frames-fallback") == 0)
    }

    /// prepend-frames=2 when the stream starts at 0: no room before it, so every timestamp is delayed by
    /// two frames (the prepended frames at 0 and 0.1 s, original k at (k + 2) / 10 s).
    @Test func prependAtZeroDelaysTheStream() {
        let h = Harness(Self.predict(["prepend-frames": "2", "method": "repeat"]), caps: Self.caps)
        for k in [0, 1, 3] { h.push(seed: UInt64(100 + k), pts: UInt(k) * Self.frame) }
        #expect(h.event(gst_event_new_eos()))
        let outs = h.pullAll()
        #expect(outs.map(\.pts) == (0..<6).map { UInt($0) * Self.frame })
        guard outs.count == 6 else { return }
        #expect(outs.map(\.inserted) == [true, true, false, false, true, false])
        // method=repeat: the prepended frames repeat the first, the missing frame the one before it.
        #expect(outs[0].samples == h.samples(seed: 100) && outs[1].samples == h.samples(seed: 100))
        #expect(outs[4].samples == h.samples(seed: 101) && outs[5].samples == h.samples(seed: 103))
        #expect(h.counter("frames-fallback") == 0, "not a model's fallback")
    }

    /// EOS, a caps change or a flush while the first originals are held: nothing hangs; EOS and caps push
    /// what is held (the prepended frames from the fallback: one original is too few for the model), a
    /// flush drops it and the next frames start the hold again.
    @Test func holdInterruptedByEOSCapsOrFlush() {
        let eos = Harness(Self.predict(["prepend-frames": "2"]), caps: Self.caps)
        eos.push(seed: 100, pts: 5 * Self.frame)
        #expect(eos.event(gst_event_new_eos()))
        let a = eos.pullAll()
        #expect(a.map(\.pts) == [3, 4, 5].map { UInt($0) * Self.frame })
        #expect(a.count == 3 && a[0].samples == eos.samples(seed: 100) && a[2].samples == eos.samples(seed: 100))
        #expect(eos.counter("frames-fallback") == 2)

        let caps = Harness(Self.predict(["prepend-frames": "2"]), caps: Self.caps)
        caps.push(seed: 100, pts: 5 * Self.frame)
        caps.setCaps("video/x-raw,format=I420,width=8,height=8,framerate=10/1")
        caps.push(seed: 101, pts: 6 * Self.frame)
        caps.push(seed: 102, pts: 7 * Self.frame)
        #expect(caps.event(gst_event_new_eos()))
        let b = caps.pullAll()
        #expect(b.map(\.pts) == [3, 4, 5, 6, 7].map { UInt($0) * Self.frame })
        #expect(b.map(\.size) == [384, 384, 384, 96, 96], "the held frame went out under the old caps")
        #expect(caps.error() == nil)

        let flush = Harness(Self.predict(["prepend-frames": "1"]), caps: Self.caps)
        flush.push(seed: 100, pts: 5 * Self.frame)
        #expect(flush.event(gst_event_new_flush_start()))
        #expect(flush.event(gst_event_new_flush_stop(1)))
        flush.segment(start: 0)
        for k in 8..<11 { flush.push(seed: UInt64(100 + k), pts: UInt(k) * Self.frame) }
        #expect(flush.event(gst_event_new_eos()))
        let c = flush.pullAll()
        #expect(c.map(\.pts) == (7..<11).map { UInt($0) * Self.frame })
        #expect(c.allSatisfy { $0.samples != flush.samples(seed: 100) }, "the flushed frame is gone")
        #expect(c.count == 4 && c[0].inserted && c[1].samples == flush.samples(seed: 108))
    }

    /// A DISCONT: nothing predicted across it; the grid restarts at the frame (which comes out at its own
    /// PTS, flagged DISCONT) and so does the model's past. A jump of more than a second without DISCONT is
    /// taken the same way.
    @Test func discontAndLongJumpRestart() throws {
        let h = Harness(Self.predict(), caps: Self.caps)
        for k in 0..<4 { h.push(seed: UInt64(100 + k), pts: UInt(k) * Self.frame) }
        h.push(seed: 106, pts: 6 * Self.frame + 30_000_000, discont: true)
        h.push(seed: 107, pts: 7 * Self.frame + 30_000_000)
        h.push(seed: 109, pts: 9 * Self.frame + 30_000_000)
        h.push(seed: 140, pts: 40 * Self.frame)
        #expect(h.event(gst_event_new_eos()))
        let outs = h.pullAll()
        let restart = 6 * Self.frame + 30_000_000
        let before: [UInt] = (0..<4).map { UInt($0) * Self.frame }
        let after: [UInt] = (0..<4).map { restart + UInt($0) * Self.frame }
        #expect(outs.map(\.pts) == before + after + [40 * Self.frame])
        guard outs.count == 9 else { return }
        #expect(outs[4].discont && outs[8].discont && !outs[5].discont)
        #expect(outs.map(\.inserted) == [false, false, false, false, false, false, true, false, false])
        #expect(outs[6].samples == (try Self.library(h, given: [106, 107], count: 1, base: 107))[0])
        #expect(h.counter("frames-fallback") == 0)
    }

    /// Other methods in mode=predict repeat the last original in a missing slot and at the end.
    @Test func otherMethodsRepeat() {
        let h = Harness(["mode": "predict", "method": "blend", "extend-frames": "2"], caps: Self.caps)
        for k in [0, 1, 3] { h.push(seed: UInt64(100 + k), pts: UInt(k) * Self.frame) }
        #expect(h.event(gst_event_new_eos()))
        let outs = h.pullAll()
        #expect(outs.map(\.pts) == (0..<6).map { UInt($0) * Self.frame })
        guard outs.count == 6 else { return }
        #expect(outs.map(\.samples) == [100, 101, 101, 103, 103, 103].map { h.samples(seed: UInt64($0)) })
        #expect(outs.map(\.inserted) == [false, false, true, false, true, true])
    }

    // MARK: real pipelines

    /// appsrc with frames 3, 4 and 7 left out of 10 -> mcvd mode=predict method=diffusion extend-frames=2 ->
    /// appsink: 12 frames on the 15 fps grid, the originals untouched, 5 inserted.
    @Test func appsrcWithDroppedFrames() throws {
        let caps = "video/x-raw,format=RGB,width=24,height=16,framerate=15/1"
        let info = videoInfo(caps)
        let outs = try runPipeline("appsrc name=src format=time caps=\(caps) ! mcvd mode=predict method=diffusion model=\(tinyConcat) "
                                   + "steps=1 seed=2 extend-frames=2 ! appsink name=sink sync=false", timeout: 60) { src in
            let appsrc = UnsafeMutableRawPointer(src).assumingMemoryBound(to: GstAppSrc.self)
            for k in 0..<10 where ![3, 4, 7].contains(k) {
                _ = gst_app_src_push_buffer(appsrc, makeFrame(info, seed: UInt64(k), pts: scale(UInt(k), second, 15)))
            }
            _ = gst_app_src_end_of_stream(appsrc)
        }
        #expect(outs.map(\.pts) == (0..<12).map { scale(UInt($0), second, 15) })
        #expect(outs.map(\.inserted) == (0..<12).map { [3, 4, 7, 10, 11].contains($0) })
        for k in 0..<10 where ![3, 4, 7].contains(k) && k < outs.count {
            let b = makeFrame(info, seed: UInt64(k))
            defer { gst_buffer_unref(b) }
            #expect(outs[k].samples == componentSamples(b, info), "original \(k)")
        }
    }

    /// videotestsrc -> mcvd mode=predict prepend-frames=2 extend-frames=3 -> appsink: 5 + 5 frames, the
    /// stream delayed by two frames (it starts at 0).
    @Test func videotestsrcPrependAndExtend() throws {
        let outs = try runPipeline("videotestsrc num-buffers=5 pattern=ball ! video/x-raw,format=I420,width=16,height=16,framerate=10/1 "
                                   + "! mcvd mode=predict method=diffusion model=\(tinyConcat) steps=1 prepend-frames=2 extend-frames=3 "
                                   + "! appsink name=sink sync=false", timeout: 60)
        #expect(outs.map(\.pts) == (0..<10).map { UInt($0) * Self.frame })
        #expect(outs.map(\.inserted) == (0..<10).map { $0 < 2 || $0 >= 7 })
    }

    // MARK: errors before data flows

    @Test func extendOrPrependNeedPredictMode() {
        let e = DiffusionTests.refused(["extend-frames": "3"])
        #expect(e?.contains("need mode=predict") == true)
        #expect(DiffusionTests.refused(["prepend-frames": "1", "method": "diffusion", "model": tinyConcat])?.contains("need mode=predict") == true)
    }

    @Test func modelsThatCannotPredict() throws {
        let noPast = try writeModel(past: 0, future: 2, name: "nopast")
        defer { try? FileManager.default.removeItem(atPath: noPast) }
        let e = DiffusionTests.refused(Self.predict(model: noPast))
        #expect(e?.contains("cannot predict") == true && e?.contains("--past") == true)
        let noFuture = try writeModel(past: 2, future: 0, name: "nofuture-prepend")
        defer { try? FileManager.default.removeItem(atPath: noFuture) }
        let ok = Harness(Self.predict(model: noFuture), caps: Self.caps)
        #expect(ok.push(seed: 0, pts: 0) == GST_FLOW_OK, "forward prediction needs no future frames")
        #expect(ok.error() == nil)
        let p = DiffusionTests.refused(Self.predict(["prepend-frames": "2"], model: noFuture))
        #expect(p?.contains("prepend-frames") == true && p?.contains("--future") == true)
    }

    @Test func predictKeepsTheInputRate() {
        let h = Harness(Self.predict(), caps: Self.caps, sinkCaps: "video/x-raw,framerate=20/1")
        #expect(h.push(seed: 0, pts: 0) == GST_FLOW_NOT_NEGOTIATED)
        #expect(h.error()?.contains("keeps the input frame rate") == true)
        let v = Harness(["mode": "predict"], caps: "video/x-raw,format=I420,width=16,height=16,framerate=0/1",
                        sinkCaps: "video/x-raw,framerate=10/1")
        #expect(v.push(seed: 0, pts: 0) == GST_FLOW_NOT_NEGOTIATED)
        #expect(v.error()?.contains("constant input frame rate") == true)
    }
}
