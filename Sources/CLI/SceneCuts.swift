// `mcvd scene-cuts [VIDEO...] [--data-md]`: measures the pair tests the element uses (Motion's SceneCut
// and StaticContent) on real footage: the scene-cut score of every pair of frames 1 and 2 apart inside
// each video (no cut there: every detection is a false cut) and of pairs spliced from two different
// videos (all cuts), as rates at a list of thresholds; and the static difference of the pairs inside
// the videos (how many the static test would take, with the blend's PSNR against the frame between).
import ArgumentParser
import Foundation
import Motion
import VideoData

extension Mcvd {
    struct SceneCuts: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "scene-cuts",
            abstract: "Scene-cut and static-content tests of the element measured on videos (false and missed cuts).",
            discussion: """
                Videos are decoded gray at --size rows. Inside a video, pairs (i, i + d) for d = 1 and 2 \
                have no cut: a score above the threshold there is a false cut. Spliced pairs take frames \
                at --spliced evenly spaced positions of video A and of video B, for every ordered pair of \
                different videos (both centre-cropped to the narrower width): every one is a real cut. \
                Score: Motion's SceneCut (mean bilateral error of the motion field at the midpoint / luma \
                contrast, 0 when the error is at most 8 levels), as the element's scene-threshold reads it. \
                Static: Motion's StaticContent difference (largest 16x16 block mean of |luma difference|) \
                of pairs (i - 1, i + 1), and the PSNR of their blend against frame i.
                """)

        @OptionGroup var footage: FootageOptions
        @Option(help: "Frame height the videos are decoded at.")
        var size: Int = 64
        @Option(help: "Scene-cut thresholds to report, comma-separated.")
        var thresholds: String = "0.2,0.3,0.4,0.5,0.6,0.8,1.0"
        @Option(help: "Static thresholds (levels) to report, comma-separated.")
        var staticThresholds: String = "0.5,1,1.5,2,3,5"
        @Option(help: "Frames per video taken for spliced pairs.")
        var spliced: Int = 4
        @Option(help: "At most this many frames per video (the first N).")
        var maxFrames: Int = 400
        @Option(help: "List the N highest-scoring pairs inside the videos (to check by eye whether they are real cuts).")
        var top: Int = 10
        @Option(help: "Write each listed pair as a PNG (the two frames side by side) into this folder.")
        var dump: String?

        func validate() throws {
            guard size >= 16, spliced >= 1, maxFrames >= 3 else { throw ValidationError("--size >= 16, --spliced >= 1, --max-frames >= 3") }
        }

        func list(_ text: String, _ option: String) throws -> [Float] {
            try text.split(separator: ",").map {
                guard let v = Float($0.trimmingCharacters(in: .whitespaces)) else { throw ValidationError("\(option): bad number \($0)") }
                return v
            }
        }

        func run() throws {
            let paths = try footage.paths(summaryPrefix: "# ")
            let cuts = try list(thresholds, "--thresholds"), stills = try list(staticThresholds, "--static-thresholds")
            var decoded: [(name: String, video: DecodedVideo)] = []
            for path in paths {
                do { decoded.append(((path as NSString).lastPathComponent, try decodeVideo(path: path, height: size, channels: 1, maxFrames: maxFrames))) } catch {
                    print("video=\((path as NSString).lastPathComponent) skipped=\"\(error)\"")
                }
            }
            let interpolator = MotionInterpolator()
            func score(_ a: [UInt8], _ b: [UInt8], width: Int, height: Int) throws -> (scene: Float, staticDifference: Float) {
                try Evaluation.pairScores(a, b, width: width, height: height, channels: 1, interpolator: interpolator)
            }

            // Inside the videos: scores of pairs 1 and 2 apart; static differences of (i - 1, i + 1), the
            // pairs 2 apart.
            var inside: [Int: [(video: String, score: Float)]] = [1: [], 2: []]
            var ranked: [(video: String, i: Int, d: Int, score: Float)] = []   // every inside pair, for the top list
            var statics: [(difference: Float, psnr: Double)] = []
            for (name, v) in decoded {
                let f = v.frames
                for d in [1, 2] where f.count > d {
                    for i in 0..<(f.count - d) {
                        let s = try score(f[i], f[i + d], width: v.width, height: v.height)
                        inside[d]!.append((name, s.scene))
                        ranked.append((name, i, d, s.scene))
                        if d == 2 { statics.append((s.staticDifference, Metrics.psnr(f[i + 1], Evaluation.blend(f[i], f[i + 2])))) }
                    }
                }
                let worst = inside[1]!.filter { $0.video == name }.map(\.score).max() ?? 0
                print("video=\(name) frames=\(f.count) size=\(v.width)x\(v.height) max_score_d1=\(fmt(worst))")
            }
            for r in ranked.sorted(by: { $0.score > $1.score }).prefix(top) {
                print("top video=\(r.video) frames=\(r.i),\(r.i + r.d) score=\(fmt(r.score))")
                if let dump, let v = decoded.first(where: { $0.name == r.video })?.video {
                    try FileManager.default.createDirectory(atPath: dump, withIntermediateDirectories: true)
                    var pixels = [UInt8](repeating: 0, count: 2 * v.width * v.height)
                    for y in 0..<v.height {
                        for x in 0..<v.width {
                            pixels[y * 2 * v.width + x] = v.frames[r.i][y * v.width + x]
                            pixels[y * 2 * v.width + v.width + x] = v.frames[r.i + r.d][y * v.width + x]
                        }
                    }
                    try PNG.write(path: "\(dump)/\(r.video)-\(r.i)-\(r.i + r.d).png", width: 2 * v.width, height: v.height, channels: 1, pixels: pixels)
                }
            }
            // Spliced: frames at evenly spaced positions of A against those of B, centre-cropped to one width.
            var splicedScores: [Float] = []
            for (na, a) in decoded {
                for (nb, b) in decoded where nb != na {
                    let w = min(a.width, b.width)
                    for m in 0..<spliced {
                        let fa = crop(a, frame: (a.frames.count * (2 * m + 1)) / (2 * spliced), width: w)
                        let fb = crop(b, frame: (b.frames.count * (2 * m + 1)) / (2 * spliced), width: w)
                        splicedScores.append(try score(fa, fb, width: w, height: a.height).scene)
                    }
                }
            }
            print("# scene-cut score: \(decoded.count) videos at \(size) rows; inside pairs d=1: \(inside[1]!.count), "
                  + "d=2: \(inside[2]!.count); spliced pairs: \(splicedScores.count)")
            for (label, values) in [("inside d=1", inside[1]!.map(\.score)), ("inside d=2", inside[2]!.map(\.score)), ("spliced", splicedScores)] {
                print("scores set=\"\(label)\" " + [0.5, 0.9, 0.99, 1.0].map { "q\(Int($0 * 100))=\(fmt(quantile(values, $0)))" }.joined(separator: " ")
                      + " min=\(fmt(values.min() ?? 0)) below_minimum_error=\(values.filter { $0 == 0 }.count)")
            }
            print("| scene-threshold | false cuts, pairs 1 apart | false cuts, pairs 2 apart | videos with a false cut (1 apart) | spliced pairs detected |")
            print("| --- | --- | --- | --- | --- |")
            for t in cuts {
                let f1 = inside[1]!.filter { SceneCut.isCut(score: $0.score, threshold: t) }
                let f2 = inside[2]!.filter { SceneCut.isCut(score: $0.score, threshold: t) }
                let hit = splicedScores.filter { SceneCut.isCut(score: $0, threshold: t) }.count
                print("| \(t) | \(f1.count) / \(inside[1]!.count) | \(f2.count) / \(inside[2]!.count) | \(Set(f1.map(\.video)).count) | "
                      + "\(hit) / \(splicedScores.count) (\(fmt(100 * Float(hit) / Float(max(1, splicedScores.count))))%) |")
            }
            print("| static-threshold | pairs (i-1, i+1) static | blend PSNR on them (dB, mean) | lowest |")
            print("| --- | --- | --- | --- |")
            for t in stills {
                let s = statics.filter { StaticContent.isStatic(difference: $0.difference, threshold: t) }
                let mean = s.isEmpty ? 0 : s.map(\.psnr).reduce(0, +) / Double(s.count)
                print("| \(t) | \(s.count) / \(statics.count) | \(s.isEmpty ? "-" : String(format: "%.2f", mean)) | "
                      + "\(s.isEmpty ? "-" : String(format: "%.2f", s.map(\.psnr).min()!)) |")
            }
        }

        func crop(_ v: DecodedVideo, frame i: Int, width w: Int) -> [UInt8] {
            let x0 = (v.width - w) / 2
            var out = [UInt8](repeating: 0, count: w * v.height)
            let f = v.frames[min(i, v.frames.count - 1)]
            for y in 0..<v.height { for x in 0..<w { out[y * w + x] = f[y * v.width + x0 + x] } }
            return out
        }

        func quantile(_ values: [Float], _ q: Double) -> Float {
            guard !values.isEmpty else { return 0 }
            let s = values.sorted()
            return s[min(s.count - 1, Int((Double(s.count - 1) * q).rounded()))]
        }

        func fmt(_ v: Float) -> String { String(format: "%.3f", v) }
    }
}
