// Decoding real files through GStreamer (made by the test with videotestsrc + matroskamux), bad files,
// and the dataset's time split, clip layout, crops, flips and reproducibility on in-memory videos.
import Foundation
import Testing
import VideoData

/// Runs gst-launch-1.0 to write a small test video; returns its path.
func makeVideo(_ name: String, _ pipeline: String) throws -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("mcvd-vd-\(getpid())-\(name)").path
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = ["gst-launch-1.0", "-q"] + pipeline.split(separator: " ").map(String.init) + ["!", "filesink", "location=\(path)"]
    try p.run()
    p.waitUntilExit()
    #expect(p.terminationStatus == 0)
    return path
}

@Suite struct DecodeTests {
    @Test func decodesAndScalesKeepingAspect() throws {
        let path = try makeVideo("gray.mkv", "videotestsrc num-buffers=20 pattern=solid-color foreground-color=0xff808080 ! video/x-raw,format=I420,width=64,height=48,framerate=25/1 ! matroskamux")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let v = try decodeVideo(path: path, height: 24, channels: 1)
        #expect(v.frames.count == 20)
        #expect(v.width == 32 && v.height == 24 && v.channels == 1)
        #expect(v.rateN == 25 && v.rateD == 1)
        #expect(v.frames.allSatisfy { $0.count == 32 * 24 && $0.allSatisfy { abs(Int($0) - 128) <= 3 } })
        let rgb = try decodeVideo(path: path, height: 12, channels: 3, maxFrames: 5)
        #expect(rgb.frames.count == 5 && rgb.frames[0].count == 16 * 12 * 3)
    }

    @Test func badFilesAreReportedAndSkipped() throws {
        let bad = FileManager.default.temporaryDirectory.appendingPathComponent("mcvd-vd-\(getpid())-bad.mp4").path
        try Data("this is not a video".utf8).write(to: URL(fileURLWithPath: bad))
        defer { try? FileManager.default.removeItem(atPath: bad) }
        #expect(throws: VideoDecodeError.self) { _ = try decodeVideo(path: bad, height: 16, channels: 1) }
        #expect(throws: VideoDecodeError.self) { _ = try decodeVideo(path: "/nonexistent/x.mp4", height: 16, channels: 1) }
        let good = try makeVideo("ball.mkv", "videotestsrc num-buffers=10 pattern=ball ! video/x-raw,width=32,height=32,framerate=10/1 ! matroskamux")
        defer { try? FileManager.default.removeItem(atPath: good) }
        var lines: [String] = []
        let ds = VideoDataset(paths: [bad, good, "/nonexistent/x.mp4"], height: 16, channels: 1) { lines.append($0) }
        #expect(ds.videos.count == 1 && ds.skipped.count == 2)
        #expect(lines.filter { $0.hasPrefix("skipped") }.count == 2)
        #expect(ds.skipped[0].description.contains(bad))
    }
}

@Suite struct DatasetTests {
    /// Frame k of video i has pixel (x, y) = (i * 50 + k * 3 + x + 2 * y) % 256 in every channel.
    func synthetic(_ i: Int, frames: Int, w: Int = 12, h: Int = 10, c: Int = 1) -> DecodedVideo {
        DecodedVideo(path: "synthetic\(i)", width: w, height: h, channels: c, rateN: 25, rateD: 1,
                     frames: (0..<frames).map { k in
                         (0..<(w * h * c)).map { j in UInt8((i * 50 + k * 3 + (j / c) % w + 2 * ((j / c) / w)) % 256) }
                     })
    }

    @Test func timeSplitKeepsValidationUnseen() throws {
        let ds = VideoDataset(videos: [synthetic(0, frames: 50), synthetic(1, frames: 21)], channels: 1)
        #expect(ds.frameRange(video: 0, split: .train) == 0..<40)
        #expect(ds.frameRange(video: 0, split: .validation) == 40..<50)
        #expect(ds.frameRange(video: 1, split: .train) == 0..<16)
        let layout = ClipLayout(past: 2, current: 1, future: 2, frameSkip: 2)
        #expect(layout.span == 9)
        #expect(ds.clipCount(split: .train, layout: layout) == (40 - 8) + (16 - 8))
        #expect(ds.clipCount(split: .validation, layout: layout) == 10 - 8)
        for step in 0..<20 {
            let b = try ds.batch(split: .validation, layout: layout, count: 4, crop: 6, seed: 7, step: step)
            for o in b.origins { #expect(o.video == 0 && o.frame >= 40 && o.frame + 8 < 50) }
            let t = try ds.batch(split: .train, layout: layout, count: 4, crop: 6, seed: 7, step: step)
            for o in t.origins { #expect(o.frame + 8 < ds.frameRange(video: o.video, split: .train).upperBound) }
        }
    }

    @Test func conditionStrideSpacesTheConditioningFrames() throws {
        // s = 2, n = 1: past at -3, -1, current 0, future +1, +3 (times frameSkip), as 2x interpolation.
        #expect(ClipLayout(past: 2, current: 1, future: 2, conditionStride: 2).offsets == [0, 2, 3, 4, 6])
        #expect(ClipLayout(past: 2, current: 1, future: 2, frameSkip: 2, conditionStride: 2).offsets == [0, 4, 6, 8, 12])
        #expect(ClipLayout(past: 1, current: 2, future: 1, conditionStride: 3).offsets == [0, 1, 2, 3])
        #expect(ClipLayout(past: 2, current: 2, future: 2, conditionStride: 3).offsets == [0, 3, 4, 5, 6, 9])
        #expect(ClipLayout(past: 2, current: 1, future: 0, conditionStride: 2).offsets == [0, 2, 3])
        #expect(ClipLayout(past: 0, current: 1, future: 2, conditionStride: 2).offsets == [0, 1, 3])
        #expect(ClipLayout(past: 2, current: 1, future: 2).offsets == [0, 1, 2, 3, 4])   // stride 1: consecutive
        let layout = ClipLayout(past: 2, current: 1, future: 2, conditionStride: 2)
        #expect(layout.span == 7)
        let ds = VideoDataset(videos: [synthetic(0, frames: 40)], channels: 1)
        #expect(ds.clipCount(split: .train, layout: layout) == 32 - 6)
        for step in 0..<5 {
            let b = try ds.batch(split: .train, layout: layout, count: 2, crop: 4, seed: 3, step: step, augment: false)
            for (s, o) in b.origins.enumerated() {
                // Pixel (0, 0) of source frame k is (k * 3 + x + 2 y) % 256 scaled to [-1, 1].
                func value(_ k: Int) -> Float { Float((k * 3 + o.x + 2 * o.y) % 256) / 127.5 - 1 }
                #expect(b.past[(s * 2) * 16] == value(o.frame) && b.past[(s * 2 + 1) * 16] == value(o.frame + 2))
                #expect(b.current[s * 16] == value(o.frame + 3))
                #expect(b.future[(s * 2) * 16] == value(o.frame + 4) && b.future[(s * 2 + 1) * 16] == value(o.frame + 6))
            }
        }
    }

    /// baseContexts: each clip's whole past and future frames (flipped as its crop was), with the crop's
    /// corner in them: cropping them there gives the batch's own past and future crops, flipped or not.
    @Test func baseContextsHoldTheCrops() throws {
        let ds = VideoDataset(videos: [synthetic(0, frames: 30, c: 3), synthetic(1, frames: 30, c: 3)], channels: 3)
        let layout = ClipLayout(past: 2, current: 1, future: 2, conditionStride: 2)
        var flips = 0
        for step in 0..<6 {
            let b = try ds.batch(split: .train, layout: layout, count: 3, crop: 5, seed: 2, step: step)
            let contexts = ds.baseContexts(b)
            #expect(contexts.count == 3)
            for (s, c) in contexts.enumerated() {
                guard let c else { Issue.record("a real clip has a context"); continue }
                if b.origins[s].flipped { flips += 1 }
                #expect(c.width == 12 && c.height == 10 && c.past.count == 2 * 3 * 120 && c.future.count == 2 * 3 * 120)
                #expect(c.crop(c.past, channels: 3, size: 5) == Array(b.past[s * 150 ..< (s + 1) * 150]))
                #expect(c.crop(c.future, channels: 3, size: 5) == Array(b.future[s * 150 ..< (s + 1) * 150]))
            }
        }
        #expect(flips > 0 && flips < 18)
    }

    /// Time reversal: with `reverse`, some real clips (not all) are the same draw read backwards: the same
    /// origin and crop, past = the forward clip's future nearest last, future = its past nearest first,
    /// current the same frame; base contexts reversed alike; every other draw unchanged; off by default,
    /// without `augment` and refused for a layout that is not symmetric in time.
    @Test func timeReversal() throws {
        #expect(ClipLayout(past: 2, current: 1, future: 2, conditionStride: 2).reversible)
        #expect(ClipLayout(past: 1, current: 2, future: 1, conditionStride: 3).reversible)
        #expect(!ClipLayout(past: 2, current: 1, future: 1).reversible && !ClipLayout(past: 2, current: 1, future: 0).reversible)
        let ds = VideoDataset(videos: [synthetic(0, frames: 30, c: 3), synthetic(1, frames: 30, c: 3)], channels: 3)
        let layout = ClipLayout(past: 2, current: 1, future: 2, conditionStride: 2)
        let plane = 3 * 25
        var reversed = 0
        for step in 0..<8 {
            let f = try ds.batch(split: .train, layout: layout, count: 3, crop: 5, seed: 4, step: step)
            let r = try ds.batch(split: .train, layout: layout, count: 3, crop: 5, seed: 4, step: step, reverse: true)
            #expect(f.origins.allSatisfy { !$0.reversed })
            let contexts = ds.baseContexts(r)
            for s in 0..<3 {
                let (a, b) = (f.origins[s], r.origins[s])
                #expect(a.video == b.video && a.frame == b.frame && a.x == b.x && a.y == b.y && a.flipped == b.flipped)
                func frame(_ x: [Float], _ i: Int) -> [Float] { Array(x[(s * 2 + i) * plane ..< (s * 2 + i + 1) * plane]) }
                #expect(Array(r.current[s * plane ..< (s + 1) * plane]) == Array(f.current[s * plane ..< (s + 1) * plane]))
                if b.reversed {
                    reversed += 1
                    #expect(frame(r.past, 0) == frame(f.future, 1) && frame(r.past, 1) == frame(f.future, 0), "step \(step) clip \(s)")
                    #expect(frame(r.future, 0) == frame(f.past, 1) && frame(r.future, 1) == frame(f.past, 0), "step \(step) clip \(s)")
                } else {
                    #expect(frame(r.past, 0) == frame(f.past, 0) && frame(r.future, 1) == frame(f.future, 1))
                }
                let c = try #require(contexts[s])
                #expect(c.crop(c.past, channels: 3, size: 5) == Array(r.past[s * 2 * plane ..< (s + 1) * 2 * plane]))
                #expect(c.crop(c.future, channels: 3, size: 5) == Array(r.future[s * 2 * plane ..< (s + 1) * 2 * plane]))
            }
            let plain = try ds.batch(split: .train, layout: layout, count: 3, crop: 5, seed: 4, step: step, augment: false, reverse: true)
            #expect(plain.origins.allSatisfy { !$0.reversed && !$0.flipped })
        }
        #expect(reversed > 0 && reversed < 24)
        #expect(throws: DatasetError.self) {
            try ds.batch(split: .train, layout: ClipLayout(past: 2, current: 1, future: 1), count: 1, crop: 5, seed: 1, step: 0, reverse: true)
        }
    }

    @Test func clipValuesCropsAndFlips() throws {
        let ds = VideoDataset(videos: [synthetic(0, frames: 30, c: 3), synthetic(1, frames: 30, c: 3)], channels: 3)
        let layout = ClipLayout(past: 1, current: 2, future: 1, frameSkip: 3)
        let crop = 5
        var flips = 0
        for step in 0..<10 {
            let b = try ds.batch(split: .train, layout: layout, count: 3, crop: crop, seed: 1, step: step)
            for (s, o) in b.origins.enumerated() {
                if o.flipped { flips += 1 }
                func expected(_ j: Int, _ c: Int, _ yy: Int, _ xx: Int) -> Float {
                    let k = o.frame + j * 3
                    let x = o.x + (o.flipped ? crop - 1 - xx : xx), y = o.y + yy
                    return Float((o.video * 50 + k * 3 + x + 2 * y) % 256) / 127.5 - 1
                }
                for c in 0..<3 { for yy in 0..<crop { for xx in 0..<crop {
                    let i = (c * crop + yy) * crop + xx
                    #expect(b.past[(s * 1 + 0) * 75 + i] == expected(0, c, yy, xx))
                    #expect(b.current[(s * 2 + 0) * 75 + i] == expected(1, c, yy, xx))
                    #expect(b.current[(s * 2 + 1) * 75 + i] == expected(2, c, yy, xx))
                    #expect(b.future[(s * 1 + 0) * 75 + i] == expected(3, c, yy, xx))
                } } }
            }
        }
        #expect(flips > 0 && flips < 30)
        #expect(try ds.batch(split: .train, layout: layout, count: 3, crop: 5, seed: 1, step: 0, augment: false).origins.allSatisfy { !$0.flipped })
    }

    @Test func reproducibleBySeedAndStep() throws {
        let ds = VideoDataset(videos: [synthetic(0, frames: 40)], channels: 1)
        let layout = ClipLayout(past: 2, current: 1, future: 0)
        let a = try ds.batch(split: .train, layout: layout, count: 8, crop: 8, seed: 3, step: 5)
        let b = try ds.batch(split: .train, layout: layout, count: 8, crop: 8, seed: 3, step: 5)
        let c = try ds.batch(split: .train, layout: layout, count: 8, crop: 8, seed: 3, step: 6)
        #expect(a.past == b.past && a.current == b.current)
        #expect(a.current != c.current)
    }

    @Test func impossibleRequestsThrow() {
        let ds = VideoDataset(videos: [synthetic(0, frames: 6)], channels: 1)
        #expect(throws: DatasetError.self) { _ = try ds.batch(split: .train, layout: ClipLayout(past: 5, current: 1, future: 0), count: 1, crop: 4, seed: 0, step: 0) }
        #expect(throws: DatasetError.self) { _ = try ds.batch(split: .train, layout: ClipLayout(past: 1, current: 1, future: 0), count: 1, crop: 11, seed: 0, step: 0) }
    }
}
