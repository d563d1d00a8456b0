// `mcvd synthetic`: renders synthetic training clips (VideoData's SyntheticClips: still photos moved with
// exact ground truth) to a PNG strip, one clip per row, its consecutive frames left to right, and prints
// the rendering time. With the same --seed, --size, --crop, --channels and --stills as `mcvd train
// --synthetic`, and --frames equal to the training layout's span, row i is the training run's synthetic
// clip --first + i (of which training takes the layout's frames). Also the one place the training run loads its stills (syntheticClips).
import ArgumentParser
import Foundation
import VideoData

extension Mcvd {
    struct Synthetic: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Render synthetic training clips (moving still photos, docs/synthetic.md) to a PNG strip.")

        @Option(help: "PNG file to write.") var out = "synthetic.png"
        @Option(help: "Clips (rows).") var clips = 4
        @Option(help: "Index of the first clip.") var first = 0
        @Option(help: "Consecutive source frames per clip (columns); a training layout's span gives its clips exactly (default 7: 2 past, 1, 2 future at stride 2).")
        var frames = 7
        @Option(help: "The training size (frame height the videos are decoded at; speeds scale with it).") var size = 64
        @Option(help: "Square frames of this side, as the training crop (default: size).") var crop: Int?
        @Option(help: "gray or rgb.") var channels: ChannelsArgument = .gray
        @Option(help: "A still image or folder of images (repeatable; default: the photos tools/install-data.sh installs).")
        var stills: [String] = []
        @Option(help: "The training seed.") var seed: UInt64 = 0
        @Option(help: "Also print repeat and blend PSNR/SSIM at 2x interpolation (each inner frame from its two neighbours) over clips 0..<N: how hard the clips are, to compare with the real footage's.")
        var baselines: Int?

        func validate() throws {
            if let baselines, baselines < 1 || frames < 3 { throw ValidationError("--baselines needs N >= 1 and --frames >= 3") }
            guard clips >= 1, first >= 0, frames >= 1, size >= 8, (8...size).contains(crop ?? size) else {
                throw ValidationError("--clips and --frames must be >= 1, --first >= 0, --size >= 8, --crop in 8...size")
            }
        }

        func run() throws {
            let side = crop ?? size
            let set = try syntheticClips(count: max(first + clips, baselines ?? 0), stills: stills.isEmpty ? nil : stills, channels: channels.count,
                                         size: size, crop: side, seed: seed)
            let layout = ClipLayout(past: 0, current: frames, future: 0)
            let start = Date()
            let rows = (first ..< first + clips).map { set.frames(index: $0, layout: layout, width: side, height: side) }
            let seconds = Date().timeIntervalSince(start)
            // Frames side by side with 2-pixel white gaps.
            let c = channels.count, gap = 2
            let width = frames * side + (frames - 1) * gap, height = clips * side + (clips - 1) * gap
            var pixels = [UInt8](repeating: 255, count: width * height * c)
            for (r, clip) in rows.enumerated() {
                for (j, frame) in clip.enumerated() {
                    for y in 0..<side {
                        let dst = ((r * (side + gap) + y) * width + j * (side + gap)) * c
                        pixels.replaceSubrange(dst ..< dst + side * c, with: frame[y * side * c ..< (y + 1) * side * c])
                    }
                }
            }
            try PNG.write(path: out, width: width, height: height, channels: c, pixels: pixels)
            print("wrote \(out) (\(width)x\(height)): clips \(first)..<\(first + clips), \(frames) frames each")
            print(String(format: "rendered %d clips of %d frames at %dx%d in %.1f ms (%.2f ms per frame)", clips, frames, side, side,
                         seconds * 1000, seconds * 1000 / Double(clips * frames)))
            if let baselines { printBaselines(set, count: baselines, layout: layout, side: side) }
        }

        func printBaselines(_ set: SyntheticClips, count: Int, layout: ClipLayout, side: Int) {
            let c = channels.count
            var sums = [0.0, 0.0, 0.0, 0.0], n = 0   // repeat PSNR, SSIM, blend PSNR, SSIM
            for i in 0..<count {
                let f = set.frames(index: i, layout: layout, width: side, height: side)
                for t in 1 ..< frames - 1 {
                    let blend = Evaluation.blend(f[t - 1], f[t + 1])
                    sums[0] += Metrics.psnr(f[t - 1], f[t])
                    sums[1] += Metrics.ssim(f[t - 1], f[t], width: side, height: side, channels: c)
                    sums[2] += Metrics.psnr(blend, f[t])
                    sums[3] += Metrics.ssim(blend, f[t], width: side, height: side, channels: c)
                    n += 1
                }
            }
            let m = sums.map { $0 / Double(n) }
            print(String(format: "2x interpolation over %d targets of %d clips: repeat %.2f dB / %.3f, blend %.2f dB / %.3f",
                         n, count, m[0], m[1], m[2], m[3]))
        }
    }
}

/// The synthetic clips a training run with these settings draws from: the stills (nil: the default
/// photos) decoded at up to 4x the training height, those smaller than 1.5 crops on a side skipped with
/// a warning; seeded from the training seed.
func syntheticClips(count: Int, stills: [String]?, channels: Int, size: Int, crop: Int, seed: UInt64) throws -> SyntheticClips {
    let paths = stills ?? StillImages.defaultPaths
    let (loaded, skipped) = StillImages.load(paths: paths, channels: channels, maxHeight: 4 * size,
                                             minSide: crop * 3 / 2) { stderrLine("warning: \($0)") }
    guard !loaded.isEmpty else {
        throw CLIError("synthetic clips: no usable still image among \(paths.count) path(s)"
                       + (stills == nil ? " (the default photos: install them with tools/install-data.sh)" : "")
                       + (skipped.first.map { "; e.g. \($0)" } ?? ""))
    }
    let clips = try SyntheticClips(stills: loaded, count: count, rows: size, seed: seed ^ 0x5917_4E71)
    print("synthetic: \(clips.count) clips from \(loaded.count) still(s), \(skipped.count) skipped")
    return clips
}
