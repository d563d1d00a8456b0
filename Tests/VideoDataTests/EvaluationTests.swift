// The `mcvd eval` harness: target selection, the baselines on a synthetic video whose intensity moves
// linearly in time (where blend is exact), and ffmpeg minterpolate's alignment when ffmpeg is installed.
import Foundation
import Testing
import VideoData

/// A gray gradient brightening by 4 levels per frame: pixel (x, y) of frame t = 2x + y + 4t (<= 255).
private func movingGradient(width: Int, height: Int, frames: Int) -> [[UInt8]] {
    (0..<frames).map { t in
        (0..<(width * height)).map { i in UInt8(2 * (i % width) + i / width + 4 * t) }
    }
}

@Suite struct EvaluationTests {
    @Test func interpolationTargetsAreTheDroppedFramesWithNeighbours() {
        // Kept 10, 12, 14, 16; dropped 11, 13, 15.
        #expect(Evaluation.interpolationTargets(range: 10..<17) == [11, 13, 15])
        // 15 has no kept frame after it in 10..<16.
        #expect(Evaluation.interpolationTargets(range: 10..<16) == [11, 13])
        #expect(Evaluation.interpolationTargets(range: 10..<17, before: 2) == [13, 15])
        #expect(Evaluation.interpolationTargets(range: 10..<17, after: 2) == [11, 13])
        #expect(Evaluation.interpolationTargets(range: 3..<5).isEmpty)
        #expect(Evaluation.predictionTargets(range: 10..<14) == [12, 13])
        #expect(Evaluation.predictionTargets(range: 10..<14, history: 3) == [13])
        #expect(Evaluation.predictionTargets(range: 10..<12).isEmpty)
    }

    @Test func blendIsExactForLinearIntensityAndRepeatIsNot() {
        let (w, h) = (16, 12)
        let v = movingGradient(width: w, height: h, frames: 9)
        for t in Evaluation.interpolationTargets(range: 0..<9) {
            let blend = Evaluation.blend(v[t - 1], v[t + 1])
            #expect(blend == v[t])
            #expect(Metrics.psnr(blend, v[t]) == Metrics.psnrCap)
            #expect(Metrics.ssim(blend, v[t], width: w, height: h, channels: 1) > 1 - 1e-12)
            // Repeat is 4 levels off everywhere.
            #expect(abs(Metrics.psnr(v[t - 1], v[t]) - 10 * log10(65025.0 / 16)) < 1e-9)
        }
        // Linear extrapolation is exact too; copy-last is 4 levels off.
        for t in Evaluation.predictionTargets(range: 0..<9) {
            #expect(Evaluation.extrapolate(last: v[t - 1], secondLast: v[t - 2]) == v[t])
            #expect(v[t - 1] != v[t])
        }
        // Rounding: half up, and extrapolation clips.
        #expect(Evaluation.blend([1, 254, 255], [2, 255, 255]) == [2, 255, 255])
        #expect(Evaluation.extrapolate(last: [250, 5], secondLast: [200, 20]) == [255, 0])
    }

    @Test func centreCropTakesTheMiddle() {
        let frame = (0..<(6 * 4 * 3)).map { UInt8($0) }
        let v = DecodedVideo(path: "x", width: 6, height: 4, channels: 3, rateN: 25, rateD: 1, frames: [frame])
        let c = Evaluation.centreCrop(v, size: 2)
        #expect(c.width == 2 && c.height == 2)
        // Rows 1...2, columns 2...3.
        var expected: [UInt8] = []
        for y in 1...2 { for x in 2...3 { for ch in 0..<3 { expected.append(UInt8((y * 6 + x) * 3 + ch)) } } }
        #expect(c.frames[0] == expected)
    }

    @Test(.enabled(if: Evaluation.findFFmpeg() != nil, "needs ffmpeg on PATH"))
    func minterpolateReturnsKeptFramesInPlace() throws {
        let ffmpeg = try #require(Evaluation.findFFmpeg())
        let (w, h) = (48, 32)
        let v = movingGradient(width: w, height: h, frames: 9)
        let kept = stride(from: 0, to: 9, by: 2).map { v[$0] }
        let out = try Evaluation.minterpolate(kept, width: w, height: h, channels: 1, ffmpeg: ffmpeg)
        #expect(out.count == 2 * kept.count - 1)
        for (i, k) in kept.enumerated() { #expect(out[2 * i] == k, "kept frame \(i) changed") }
        // The in-between frames are estimates of the dropped ones (a global brightness change: close).
        for t in Evaluation.interpolationTargets(range: 0..<9) {
            #expect(Metrics.psnr(out[t], v[t]) > 30, "frame \(t): \(Metrics.psnr(out[t], v[t])) dB")
        }
        // RGB goes through yuv444p: kept frames within one level.
        let rgb = kept.map { f in f.flatMap { [$0, 255 - $0, $0 / 2] } }
        let outRGB = try Evaluation.minterpolate(rgb, width: w, height: h, channels: 3, ffmpeg: ffmpeg)
        #expect(outRGB.count == 2 * rgb.count - 1)
        for (i, k) in rgb.enumerated() {
            let diff = zip(outRGB[2 * i], k).map { abs(Int($0) - Int($1)) }.max() ?? 0
            #expect(diff <= 1, "RGB kept frame \(i) off by \(diff)")
        }
    }
}

@Suite struct MissingDecoderTests {
    /// An AVI whose video fourcc no GStreamer plugin knows (like balle1-vp9.avi in DATA.md): decodebin
    /// posts missing-plugin; decodeVideo fails at once with that reason instead of waiting for a timeout.
    @Test(.enabled(if: Evaluation.findFFmpeg() != nil, "needs ffmpeg to write the file"))
    func unknownFourccFailsFast() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("mcvd-vd-\(getpid())-fourcc.avi").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try #require(Evaluation.findFFmpeg()))
        p.arguments = ["-nostdin", "-v", "quiet", "-y", "-f", "lavfi", "-i", "testsrc=size=32x32:rate=10", "-frames:v", "5",
                       "-c:v", "rawvideo", "-pix_fmt", "yuv420p", "-tag:v", "QQQQ", path]
        try p.run()
        p.waitUntilExit()
        try #require(p.terminationStatus == 0)
        let start = Date()
        do {
            _ = try decodeVideo(path: path, height: 16, channels: 1, timeout: 30)
            Issue.record("decoded a file with an unknown fourcc")
        } catch let e as VideoDecodeError {
            #expect(e.message.contains("no decoder"), "\(e)")
        }
        #expect(Date().timeIntervalSince(start) < 10)
    }
}
