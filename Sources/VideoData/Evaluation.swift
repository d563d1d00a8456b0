// The harness behind `mcvd eval`: which frames of a validation range are targets, the baselines a model
// is compared with (repeat, blend, ffmpeg minterpolate for 2x interpolation; copy-last and linear
// extrapolation for next-frame prediction) and the centre crop. Metrics are in Metrics.swift; running a
// model and printing tables are the CLI's (Sources/CLI/Eval.swift).
import Foundation
import Motion

public enum Evaluation {
    /// 2x interpolation on `range`: the frames at even offsets from its start are kept, those at odd
    /// offsets are dropped and are the targets. A target needs `before` kept frames before it and `after`
    /// kept frames after it, all inside the range (baselines need 1 and 1; a model needs its k and f).
    public static func interpolationTargets(range: Range<Int>, before: Int = 1, after: Int = 1) -> [Int] {
        precondition(before >= 1 && after >= 1)
        return stride(from: range.lowerBound + 1, to: range.upperBound, by: 2).filter { t in
            // Kept frames before t: t-1, t-3, ... down to the range start; after: t+1, t+3, ...
            let keptBefore = (t - range.lowerBound + 1) / 2
            let keptAfter = t + 1 < range.upperBound ? (range.upperBound - 1 - (t + 1)) / 2 + 1 : 0
            return keptBefore >= before && keptAfter >= after
        }
    }

    /// Next-frame prediction on `range`: every frame with `history` frames before it inside the range.
    public static func predictionTargets(range: Range<Int>, history: Int = 2) -> [Int] {
        precondition(history >= 1)
        return range.count > history ? Array((range.lowerBound + history)..<range.upperBound) : []
    }

    /// The mean of two frames per sample, rounded half up: (a + b + 1) / 2 in integers.
    public static func blend(_ a: [UInt8], _ b: [UInt8]) -> [UInt8] {
        precondition(a.count == b.count)
        return zip(a, b).map { UInt8((UInt16($0) + UInt16($1) + 1) >> 1) }
    }

    /// The frame at time t between a and b (HWC bytes, 1 or 3 channels) by motion-compensated
    /// interpolation (Motion's MotionInterpolator, luma from the gray channel or from RGB); a scene cut
    /// gives the nearer original (a for t <= 0.5). `interpolator` is reused across calls.
    public static func motion(_ a: [UInt8], _ b: [UInt8], width: Int, height: Int, channels: Int, t: Float = 0.5,
                              interpolator: MotionInterpolator) throws -> [UInt8] {
        try motionWithScores(a, b, width: width, height: height, channels: channels, t: t, interpolator: interpolator).frame
    }

    /// `motion` and, from the same estimate, the pair's scores (`pairScores`; the scene score at time t).
    public static func motionWithScores(_ a: [UInt8], _ b: [UInt8], width: Int, height: Int, channels: Int, t: Float = 0.5,
                                        interpolator: MotionInterpolator) throws -> (frame: [UInt8], scene: Float, staticDifference: Float) {
        var out = [UInt8](repeating: 0, count: a.count)
        let scores = try withPlanes(a, b, width: width, height: height, channels: channels) { qa, qb in
            let scores = try estimate(qa, qb, t: t, interpolator: interpolator)
            try out.withUnsafeMutableBytes { po in
                if interpolator.isSceneCut {
                    po.copyBytes(from: t <= 0.5 ? a : b)
                } else {
                    try interpolator.render(t: t, a: qa, b: qb, output: planes(po, width: width, height: height, channels: channels))
                }
            }
            return scores
        }
        return (out, scores.scene, scores.staticDifference)
    }

    /// The scene-cut score (Motion's SceneCut, as the element's scene-threshold reads it: the estimate
    /// method=motion renders from, prepared at halfway) and the static difference (StaticContent, levels
    /// per 16x16 block, the element's static-threshold) of frames a and b (HWC bytes, 1 or 3 channels).
    public static func pairScores(_ a: [UInt8], _ b: [UInt8], width: Int, height: Int, channels: Int,
                                  interpolator: MotionInterpolator) throws -> (scene: Float, staticDifference: Float) {
        try withPlanes(a, b, width: width, height: height, channels: channels) { qa, qb in
            try estimate(qa, qb, t: 0.5, interpolator: interpolator)
        }
    }

    /// The motion estimate of a pair, prepared for time t, and the pair's scene score (at t) and static
    /// difference: what `motionWithScores` renders from and `pairScores` reports.
    static func estimate(_ qa: [MotionPlane], _ qb: [MotionPlane], t: Float,
                         interpolator: MotionInterpolator) throws -> (scene: Float, staticDifference: Float) {
        try interpolator.estimate(a: luma(qa), b: luma(qb))
        interpolator.prepare(t: t)
        return (interpolator.sceneScore, try StaticContent.difference(luma(qa), luma(qb)))
    }

    /// Motion's planes of two HWC byte frames (1 or 3 channels) for `body`.
    static func withPlanes<R>(_ a: [UInt8], _ b: [UInt8], width: Int, height: Int, channels: Int,
                              _ body: ([MotionPlane], [MotionPlane]) throws -> R) throws -> R {
        precondition(channels == 1 || channels == 3)
        precondition(a.count == width * height * channels && b.count == a.count)
        var fa = a, fb = b
        return try fa.withUnsafeMutableBytes { pa in try fb.withUnsafeMutableBytes { pb in
            try body(planes(pa, width: width, height: height, channels: channels), planes(pb, width: width, height: height, channels: channels))
        } }
    }

    /// The channel planes of an HWC byte frame.
    static func planes(_ p: UnsafeMutableRawBufferPointer, width: Int, height: Int, channels: Int) -> [MotionPlane] {
        (0..<channels).map { c in
            MotionPlane(base: p.baseAddress! + c, width: width, height: height, rowStride: width * channels, pixelStride: channels)
        }
    }

    /// Luma of 1 (gray) or 3 (RGB) channel planes.
    static func luma(_ q: [MotionPlane]) -> LumaSource { q.count == 1 ? .plane(q[0]) : .rgb(q[0], q[1], q[2]) }

    /// Linear extrapolation of the next frame: 2 * last - secondLast per sample, clipped to 0...255.
    public static func extrapolate(last: [UInt8], secondLast: [UInt8]) -> [UInt8] {
        precondition(last.count == secondLast.count)
        return zip(last, secondLast).map { UInt8(min(max(2 * Int($0) - Int($1), 0), 255)) }
    }

    /// The centre `size` x `size` square of every frame (a frame narrower or lower than `size` is an error).
    public static func centreCrop(_ v: DecodedVideo, size: Int) -> DecodedVideo {
        precondition(v.width >= size && v.height >= size, "centreCrop: \(v.width)x\(v.height) is smaller than \(size)")
        if v.width == size && v.height == size { return v }
        let x0 = (v.width - size) / 2, y0 = (v.height - size) / 2, c = v.channels
        let frames = v.frames.map { f -> [UInt8] in
            var out = [UInt8](repeating: 0, count: size * size * c)
            for y in 0..<size {
                let src = ((y0 + y) * v.width + x0) * c
                out.replaceSubrange(y * size * c ..< (y + 1) * size * c, with: f[src ..< src + size * c])
            }
            return out
        }
        return DecodedVideo(path: v.path, width: size, height: size, channels: c, rateN: v.rateN, rateD: v.rateD, frames: frames)
    }

    /// The `ffmpeg` executable on PATH, if any.
    public static func findFFmpeg() -> String? {
        let dirs = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
        return dirs.map { "\($0)/ffmpeg" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Doubles the frame rate of `frames` (HWC bytes) with ffmpeg's motion-compensated interpolation
    /// (`minterpolate=mi_mode=mci`, its other options at their defaults). Returns 2m - 1 frames for m
    /// inputs: input i at 2i, the frame between inputs i and i+1 at 2i + 1.
    ///
    /// The frames go through temp files as raw video at 10 fps and come back at 20 fps. ffmpeg's output
    /// stops at the last input's start time, dropping the last frame and the gap before it, so the last
    /// input is sent twice and the extra output frames are cut. Gray is sent as gray8 (exact: inputs come
    /// back unchanged); minterpolate takes no RGB format, so RGB goes through full-range yuv444p and back
    /// (kept frames come back within 1 level). Frames must be at least 32 x 32 (minterpolate's minimum).
    public static func minterpolate(_ frames: [[UInt8]], width: Int, height: Int, channels: Int,
                                    ffmpeg: String) throws -> [[UInt8]] {
        precondition(channels == 1 || channels == 3)
        let size = width * height * channels
        precondition(frames.count >= 2 && frames.allSatisfy { $0.count == size })
        guard width >= 32 && height >= 32 else {
            throw VideoDecodeError(path: "minterpolate", message: "frames are \(width)x\(height): ffmpeg's minterpolate needs at least 32x32")
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mcvd-mi-\(getpid())-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = dir.appendingPathComponent("in.raw"), output = dir.appendingPathComponent("out.raw")
        var raw = [UInt8]()
        raw.reserveCapacity((frames.count + 1) * size)
        for f in frames + [frames[frames.count - 1]] { raw += f }
        try Data(raw).write(to: input)

        let format = channels == 1 ? "gray" : "rgb24"
        let filter = channels == 1 ? "minterpolate=fps=20:mi_mode=mci"
            : "scale=in_range=full:out_range=full:flags=accurate_rnd+full_chroma_int,format=yuvj444p,"
            + "minterpolate=fps=20:mi_mode=mci,scale=in_range=full:out_range=full:flags=accurate_rnd+full_chroma_int"
        let p = Process()
        p.executableURL = URL(fileURLWithPath: ffmpeg)
        p.arguments = ["-nostdin", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", format, "-s", "\(width)x\(height)",
                       "-r", "10", "-i", input.path, "-vf", filter, "-f", "rawvideo", "-pix_fmt", format, output.path]
        let errPipe = Pipe()
        p.standardError = errPipe
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        let errText = String(decoding: errPipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw VideoDecodeError(path: "minterpolate", message: "ffmpeg exited with \(p.terminationStatus): \(errText)")
        }
        let bytes = [UInt8](try Data(contentsOf: output))
        let want = 2 * frames.count - 1
        guard bytes.count % size == 0, bytes.count / size >= want else {
            throw VideoDecodeError(path: "minterpolate", message: "ffmpeg returned \(Double(bytes.count) / Double(size)) frames, expected at least \(want)")
        }
        return (0..<want).map { Array(bytes[$0 * size ..< ($0 + 1) * size]) }
    }
}
