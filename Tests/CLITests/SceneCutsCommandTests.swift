// `mcvd scene-cuts` end to end on two videos it cannot mistake: a still circular test pattern (every pair inside is
// static, none a cut) and a zone plate moving every frame; the pairs spliced from the two are all cuts.
import Foundation
import Testing

@Suite struct SceneCutsCommandTests {
    static func video(_ name: String, pattern: [String]) throws -> String {
        let path = "\(CLI.dir)/\(name)"
        if FileManager.default.fileExists(atPath: path) { return path }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["gst-launch-1.0", "-q", "videotestsrc", "num-buffers=12"] + pattern
            + ["!", "video/x-raw,width=64,height=48,framerate=10/1", "!", "matroskamux", "!", "filesink", "location=\(path)"]
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw CLIFailure(message: "gst-launch-1.0 failed making \(name)") }
        return path
    }

    @Test func stillAndSplicedPairs() throws {
        let still = try Self.video("card.mkv", pattern: ["pattern=circular"])
        let moving = try Self.video("zone.mkv", pattern: ["pattern=checkers-8", "horizontal-speed=1"])
        let r = try CLI.run(["scene-cuts", still, moving, "--size", "48", "--thresholds", "0.5", "--static-thresholds", "0.5", "--spliced", "3"])
        #expect(r.status == 0, "\(r.output)")
        // 12 frames each: 11 + 11 pairs 1 apart, 10 + 10 two apart; 2 ordered video pairs x 3 positions spliced.
        #expect(r.output.contains("| 0.5 | 0 / 22 | 0 / 20 | 0 | 6 / 6 (100.000%) |"), "\(r.output)")
        // The still pattern's 10 (i - 1, i + 1) pairs are static; the moving pattern's are not.
        #expect(r.output.contains("| 0.5 | 10 / 20 |"), "\(r.output)")
    }
}
