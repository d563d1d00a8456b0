// Training clips from decoded videos: a time split (the last fraction of every video is validation and
// never trained on), random clips of past + current + future frames with optional frame skip, random
// square crops and horizontal flips, as Float in [-1, 1] (the reference's rescaled data), NCHW per frame.
// Randomness comes from the project's Philox streams keyed by (seed, sample, step): reproducible.
// Training batches may mix in synthetic clips (Synthetic.swift) with exact ground truth.
import Diffusion

public enum Split: Sendable { case train, validation }

/// Which frames make one clip: `past` conditioning frames, `current` consecutive frames to denoise and
/// `future` conditioning frames, in source frames `frameSkip` apart. With `conditionStride` s > 1 the
/// conditioning frames are s steps apart from each other and the nearest ones one step from the current
/// block: for frame-rate up-conversion by s = current + 1 (past, future: the kept frames; current: the
/// dropped ones). Offsets from the first current frame, in frameSkip units: past i (oldest first) at
/// -1 - (past - 1 - i) * s, current j at j, future j at current + j * s (s = 1: all consecutive).
public struct ClipLayout: Sendable, Equatable {
    public var past: Int, current: Int, future: Int
    public var frameSkip: Int
    public var conditionStride: Int
    public init(past: Int, current: Int, future: Int, frameSkip: Int = 1, conditionStride: Int = 1) {
        precondition(past >= 0 && current >= 1 && future >= 0 && frameSkip >= 1 && conditionStride >= 1)
        self.past = past; self.current = current; self.future = future; self.frameSkip = frameSkip
        self.conditionStride = conditionStride
    }
    public var frames: Int { past + current + future }
    /// Offsets of the clip's frames (past, current, future in order) from its first frame, in source frames.
    public var offsets: [Int] {
        let s = conditionStride
        let relative = (0..<past).map { -1 - (past - 1 - $0) * s } + (0..<current).map { $0 } + (0..<future).map { current + $0 * s }
        let first = relative.first ?? 0
        return relative.map { ($0 - first) * frameSkip }
    }
    /// Source frames one clip covers.
    public var span: Int { (offsets.last ?? 0) + 1 }
    /// Whether the clip read backwards is a clip of the same layout (k = f and the offsets symmetric):
    /// then a time-reversed clip's past is the forward clip's future, nearest last, and so on.
    public var reversible: Bool {
        let o = offsets
        return past == future && o.reversed().map { span - 1 - $0 } == o
    }
    /// The source frames of a clip's frames (past, current, future in order), read forwards or backwards.
    public func offsets(reversed: Bool) -> [Int] { reversed ? offsets.reversed() : offsets }
}

/// A batch: each array is (N, frames, C, S, S) flattened, values in [-1, 1].
public struct ClipBatch: Sendable {
    public let count: Int, channels: Int, size: Int
    public let layout: ClipLayout
    public var past: [Float]
    public var current: [Float]
    public var future: [Float]
    /// Where each sample came from: (video index, first source frame, crop x, crop y, flipped, false,
    /// reversed in time), or for a synthetic clip (-1, its index among the synthetic clips, 0, 0, false,
    /// true, false).
    public var origins: [(video: Int, frame: Int, x: Int, y: Int, flipped: Bool, synthetic: Bool, reversed: Bool)]
}

public struct DatasetError: Error, CustomStringConvertible {
    public let description: String
}

public final class VideoDataset: @unchecked Sendable {
    public let videos: [DecodedVideo]
    /// Files that could not be decoded, with the reason; they are reported and skipped.
    public let skipped: [VideoDecodeError]
    public let validationFraction: Double
    public let channels: Int

    /// Decodes every path (scaled to `height` rows), reporting and skipping files that fail.
    public convenience init(paths: [String], height: Int, channels: Int, validationFraction: Double = 0.2,
                maxFrames: Int? = nil, report: (String) -> Void = { _ in }) {
        var videos: [DecodedVideo] = [], skipped: [VideoDecodeError] = []
        for path in paths {
            do {
                let v = try decodeVideo(path: path, height: height, channels: channels, maxFrames: maxFrames)
                report("decoded \(path): \(v.frames.count) frames \(v.width)x\(v.height)")
                videos.append(v)
            } catch let e as VideoDecodeError {
                report("skipped \(e)")
                skipped.append(e)
            } catch {
                skipped.append(VideoDecodeError(path: path, message: "\(error)"))
            }
        }
        self.init(videos: videos, skipped: skipped, channels: channels, validationFraction: validationFraction)
    }

    public init(videos: [DecodedVideo], skipped: [VideoDecodeError] = [], channels: Int, validationFraction: Double = 0.2) {
        precondition(videos.allSatisfy { $0.channels == channels })
        precondition(validationFraction >= 0 && validationFraction < 1)
        self.videos = videos
        self.skipped = skipped
        self.channels = channels
        self.validationFraction = validationFraction
    }

    /// Frames of video `i` in a split: train = [0, cut), validation = [cut, N) with
    /// cut = floor(N * (1 - validationFraction)).
    public func frameRange(video i: Int, split: Split) -> Range<Int> {
        let n = videos[i].frames.count
        let cut = Int((Double(n) * (1 - validationFraction)).rounded(.down))
        return split == .train ? 0..<cut : cut..<n
    }

    /// Clip start positions per video within a split (a clip never crosses the split boundary).
    func starts(video i: Int, split: Split, layout: ClipLayout) -> Range<Int> {
        let r = frameRange(video: i, split: split)
        return r.count >= layout.span ? r.lowerBound..<(r.upperBound - layout.span + 1) : r.lowerBound..<r.lowerBound
    }

    public func clipCount(split: Split, layout: ClipLayout) -> Int {
        videos.indices.reduce(0) { $0 + starts(video: $1, split: split, layout: layout).count }
    }

    /// A batch of `count` random clips with random `crop` x `crop` windows (and random horizontal flips
    /// when `augment`), drawn from Philox streams (seed, sample b, step): the same arguments give the same
    /// batch. The clip is uniform over all clip positions of the split across videos and, when `synthetic`
    /// is given, its `count` clips too (clip i of it rendered at crop x crop, neither cropped nor flipped).
    /// `reverse` (with `augment`, on a reversible layout): half of the real clips, by the flip draw's second
    /// bit, are read backwards in time (the past becomes the future: a valid clip of the same layout;
    /// interpolation and prediction of the past learn from every forward clip); no other draw changes.
    public func batch(split: Split, layout: ClipLayout, count: Int, crop: Int, seed: UInt64, step: Int,
                      augment: Bool = true, reverse: Bool = false, synthetic: SyntheticClips? = nil) throws -> ClipBatch {
        let real = clipCount(split: split, layout: layout)
        let total = real + (synthetic?.count ?? 0)
        guard total > 0 else {
            throw DatasetError(description: "no clip of \(layout.span) frames fits in the \(split) split of any video")
        }
        guard let small = videos.map({ min($0.width, $0.height) }).min(), crop >= 1, crop <= small else {
            throw DatasetError(description: "crop \(crop) does not fit in the smallest video side")
        }
        if let synthetic, synthetic.channels != channels {
            throw DatasetError(description: "synthetic clips have \(synthetic.channels) channel(s), the videos \(channels)")
        }
        let plane = crop * crop * channels
        var out = ClipBatch(count: count, channels: channels, size: crop, layout: layout,
                            past: [Float](repeating: 0, count: count * layout.past * plane),
                            current: [Float](repeating: 0, count: count * layout.current * plane),
                            future: [Float](repeating: 0, count: count * layout.future * plane), origins: [])
        let offsets = layout.offsets
        if reverse && augment && !layout.reversible {
            throw DatasetError(description: "time reversal needs as many past as future frames at symmetric offsets (layout \(offsets))")
        }
        for b in 0..<count {
            // Four draws: clip index, crop x, crop y, flip (bit 0) and time reversal (bit 1); modulo bias
            // < bound / 2^32, negligible here.
            let r = NoiseStream(seed: seed, sample: UInt32(b), block: 0xDA7A, step: UInt32(truncatingIfNeeded: step)).bits(4)
            var k = Int(r[0]) % total
            let frames: [[UInt8]], width: Int, x: Int, y: Int, flip: Bool
            if k >= real, let synthetic {
                frames = synthetic.cachedFrames(index: k - real, layout: layout, width: crop, height: crop)
                (width, x, y, flip) = (crop, 0, 0, false)
                out.origins.append((-1, k - real, 0, 0, false, true, false))
            } else {
                var vi = 0
                while k >= starts(video: vi, split: split, layout: layout).count {
                    k -= starts(video: vi, split: split, layout: layout).count
                    vi += 1
                }
                let v = videos[vi]
                let first = starts(video: vi, split: split, layout: layout).lowerBound + k
                x = Int(r[1]) % (v.width - crop + 1); y = Int(r[2]) % (v.height - crop + 1)
                flip = augment && r[3] & 1 == 1
                let reversed = reverse && augment && r[3] & 2 == 2
                width = v.width
                frames = layout.offsets(reversed: reversed).map { v.frames[first + $0] }
                out.origins.append((vi, first, x, y, flip, false, reversed))
            }
            for (j, src) in frames.enumerated() {
                let (index, offset): (Int, Int)
                if j < layout.past { (index, offset) = (0, (b * layout.past + j) * plane) }
                else if j < layout.past + layout.current { (index, offset) = (1, (b * layout.current + j - layout.past) * plane) }
                else { (index, offset) = (2, (b * layout.future + j - layout.past - layout.current) * plane) }
                let window = (x: x, y: y, width: crop, height: crop)
                switch index {
                case 0: planar(src, width: width, window: window, flip: flip, into: &out.past, at: offset)
                case 1: planar(src, width: width, window: window, flip: flip, into: &out.current, at: offset)
                default: planar(src, width: width, window: window, flip: flip, into: &out.future, at: offset)
                }
            }
        }
        return out
    }

    /// The `window` of an HWC byte frame `width` wide (mirrored within the window when `flip`), as planar
    /// floats code / 127.5 - 1 (C x window height x window width) written into `dst` from `offset`.
    func planar(_ src: [UInt8], width: Int, window: (x: Int, y: Int, width: Int, height: Int), flip: Bool,
                into dst: inout [Float], at offset: Int) {
        let (w, h) = (window.width, window.height)
        dst.withUnsafeMutableBufferPointer { d in
            src.withUnsafeBufferPointer { s in
                for c in 0..<channels {
                    for yy in 0..<h {
                        let row = (window.y + yy) * width
                        let o = offset + (c * h + yy) * w
                        for xx in 0..<w {
                            let sx = window.x + (flip ? w - 1 - xx : xx)
                            d[o + xx] = Float(s[(row + sx) * channels + c]) / 127.5 - 1
                        }
                    }
                }
            }
        }
    }

    /// For each clip of `batch` (made by `batch(...)` on this dataset): the whole decoded frames of its past
    /// and future (flipped and time-reversed as its crop was) and where its crop lies in them, for the
    /// trainer to compute the motion base on (Diffusion's BaseContext); nil for synthetic clips (rendered at
    /// the crop size).
    public func baseContexts(_ batch: ClipBatch) -> [BaseContext?] {
        let layout = batch.layout, crop = batch.size
        return batch.origins.map { o -> BaseContext? in
            guard !o.synthetic else { return nil }
            let v = videos[o.video], offsets = layout.offsets(reversed: o.reversed)
            let whole = (x: 0, y: 0, width: v.width, height: v.height), size = channels * v.width * v.height
            func frames(_ indices: [Int]) -> [Float] {
                var out = [Float](repeating: 0, count: indices.count * size)
                for (j, index) in indices.enumerated() {
                    planar(v.frames[o.frame + offsets[index]], width: v.width, window: whole, flip: o.flipped, into: &out, at: j * size)
                }
                return out
            }
            let past = frames(Array(0..<layout.past))
            let future = frames((0..<layout.future).map { layout.past + layout.current + $0 })
            return BaseContext(past: past, future: future, width: v.width, height: v.height,
                               x: o.flipped ? v.width - crop - o.x : o.x, y: o.y)
        }
    }
}
