// `mcvd sample` and examples/ against the library called in-process: the same model (the committed
// tiny-concat fixture: 64x64 RGB, 2 past + 2 future -> 1), the same frames and seed must give the same
// frames. Inputs are real files: PNGs for the CLI, a .y4m written by GStreamer's y4menc for the examples;
// the examples' output is read back through GStreamer (decodebin -> y4mdec) as well.
import Foundation
import MCVDKit
import Testing
import VideoData

enum Built {
    /// An executable built next to the test bundle (.build/<triple>/debug/) or in .build/debug.
    static func path(_ name: String) throws -> String {
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var candidates = [bundle.deletingLastPathComponent(), bundle.deletingLastPathComponent().deletingLastPathComponent()]
        if let i = CommandLine.arguments.firstIndex(where: { $0.hasSuffix(".xctest") }) {
            candidates.insert(URL(fileURLWithPath: CommandLine.arguments[i]).resolvingSymlinksInPath().deletingLastPathComponent(), at: 0)
        }
        for d in candidates where FileManager.default.isExecutableFile(atPath: d.appendingPathComponent(name).path) {
            return d.appendingPathComponent(name).path
        }
        throw MCVDKitError("\(name) not found next to the test bundle: run `swift build` first")
    }

    /// Runs a program with the test's environment plus `env`; (status, stdout + stderr).
    static func run(_ program: String, _ args: [String], env: [String: String] = [:]) throws -> (Int32, String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: program)
        p.arguments = args
        if !env.isEmpty { p.environment = ProcessInfo.processInfo.environment.merging(env) { $1 } }
        let log = "\(Scratch.dir)/log-\(UUID().uuidString).txt"
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let handle = FileHandle(forWritingAtPath: log)!
        p.standardOutput = handle
        p.standardError = handle
        try p.run()
        p.waitUntilExit()
        try handle.close()
        return (p.terminationStatus, (try? String(contentsOfFile: log, encoding: .utf8)) ?? "")
    }
}

@Suite(.serialized) struct CommandParityTests {
    static let frames = 6

    /// Six 64x64 RGB frames of a moving pattern as PNGs, and the same bytes.
    static func pngs(_ name: String = "pngs") throws -> (dir: String, bytes: [[UInt8]]) {
        let dir = "\(Scratch.dir)/\(name)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var all: [[UInt8]] = []
        for t in 0..<frames {
            let px = (0..<(64 * 64 * 3)).map { i -> UInt8 in
                let x = (i / 3) % 64, y = i / 192, c = i % 3
                return UInt8(truncatingIfNeeded: (x * 3 + t * 5 + y * (c + 1)) % 256)
            }
            try PNG.write(path: "\(dir)/\(String(format: "%02d", t)).png", width: 64, height: 64, channels: 3, pixels: px)
            all.append(px)
        }
        return (dir, all)
    }

    static func outputs(_ dir: String) throws -> [[UInt8]] {
        let names = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".png") && $0 != "strip.png" }.sorted()
        return try names.map { try decodeVideo(path: "\(dir)/\($0)", height: 64, channels: 3).frames[0] }
    }

    static func rgb(_ planar: [Float], _ model: Model) throws -> [UInt8] {
        let b = try FrameBuffer(format: .rgb, width: 64, height: 64)
        try b.view.write(planar, channels: 3, range: model.range)
        return b.bytes
    }

    @Test func sampleGivesTheLibrarysFrames() throws {
        let (dir, bytes) = try Self.pngs()
        let model = try Model(path: Fixture.path())
        let settings = SamplingSettings(steps: 2, seed: 7)
        let generator = try Generator(model: model, height: 64, width: 64, settings: settings)
        let given = try bytes.map { try FrameBuffer(format: .rgb, width: 64, height: 64, bytes: $0).view.planar(channels: 3) }
        let mcvd = try Built.path("mcvd")
        for task in ["interpolate", "predict", "predict-past", "generate"] {
            let out = "\(Scratch.dir)/sample-\(task)"
            let (status, log) = try Built.run(mcvd, ["sample", Fixture.path()] + (task == "generate" ? [] : [dir])
                                              + ["--task", task, "--steps", "2", "--seed", "7", "--out", out]
                                              + (task == "interpolate" ? [] : ["--frames", "2"]))
            #expect(status == 0, "\(log)")
            let library: [[Float]]
            switch task {
            case "interpolate": library = try generator.interpolate(given, batch: 1).map(\.pixels)
            case "predict": library = given + (try generator.extend(given, count: 2))
            case "predict-past": library = (try generator.extend(given, count: 2, backward: true)) + given
            default: library = try generator.generate(count: 2)
            }
            let files = try Self.outputs(out)
            // interpolate: 6 given + gaps after frames 1, 2, 3 (2 before, 2 after each).
            #expect(files.count == (task == "interpolate" ? 9 : task == "generate" ? 2 : 8), "\(task)")
            #expect(files == (try library.map { try Self.rgb($0, model) }), "\(task)")
        }
    }

    /// A real .y4m from GStreamer: 6 frames of videotestsrc's ball at 64x64, I420.
    static func y4m(_ name: String = "ball.y4m") throws -> String {
        let path = "\(Scratch.dir)/\(name)"
        if FileManager.default.fileExists(atPath: path) { return path }
        let (status, log) = try Built.run("/usr/bin/env", ["gst-launch-1.0", "-q", "videotestsrc", "pattern=ball", "num-buffers=\(frames)", "!",
                                                           "video/x-raw,format=I420,width=64,height=64,framerate=10/1", "!", "y4menc", "!",
                                                           "filesink", "location=\(path)"])
        guard status == 0 else { throw MCVDKitError("gst-launch-1.0: \(log)") }
        return path
    }

    @Test func examplesGiveTheLibrarysFramesAsY4M() throws {
        let input = try Y4MVideo(path: try Self.y4m())
        #expect(input.frames.count == Self.frames && input.format == .i420 && input.width == 64 && input.rateN == 10)
        let model = try Model(path: Fixture.path())
        let generator = try Generator(model: model, height: 64, width: 64, settings: SamplingSettings(steps: 2, seed: 3))
        let given = try input.frames.map { try $0.view.planar(channels: 3) }
        func i420(_ planar: [Float]) throws -> [UInt8] {
            let b = try FrameBuffer(format: .i420, width: 64, height: 64)
            try b.view.write(planar, channels: 3)
            return b.bytes
        }

        let interpolated = "\(Scratch.dir)/interpolated.y4m"
        var (status, log) = try Built.run(try Built.path("example-interpolate"), [Fixture.path(), try Self.y4m(), interpolated, "2", "3"])
        #expect(status == 0 && log.contains("6 frames in, 9 out"), "\(log)")
        let sequence = try generator.interpolate(given, batch: 1)
        let out = try Y4MVideo(path: interpolated)
        var originals = input.frames.makeIterator()
        let expected = try sequence.map { $0.generated ? try i420($0.pixels) : originals.next()!.bytes }
        #expect(out.rateN == 20 && out.frames.count == 9)
        // Originals bit for bit, generated frames the library's.
        #expect(out.frames.map(\.bytes) == expected)
        // GStreamer reads the file: 9 frames.
        #expect(try decodeVideo(path: interpolated, height: 64, channels: 3).frames.count == 9)

        let extended = "\(Scratch.dir)/extended.y4m"
        (status, log) = try Built.run(try Built.path("example-extend"), [Fixture.path(), try Self.y4m(), extended, "3", "2", "3"])
        #expect(status == 0, "\(log)")
        let ext = try Y4MVideo(path: extended)
        #expect(ext.frames.count == 9 && Array(ext.frames.prefix(6)).map(\.bytes) == input.frames.map(\.bytes))
        #expect(Array(ext.frames.suffix(3)).map(\.bytes) == (try generator.extend(given, count: 3).map(i420)))

        let generated = "\(Scratch.dir)/generated.y4m"
        (status, log) = try Built.run(try Built.path("example-generate"), [Fixture.path(), generated, "2", "2", "3"])
        #expect(status == 0, "\(log)")
        let gen = try Y4MVideo(path: generated)
        #expect(gen.frames.map(\.bytes) == (try generator.generate(count: 2).map(i420)))
        #expect(try decodeVideo(path: generated, height: 64, channels: 3).frames.count == 2)

        // A bad model file: a clear error, status 1.
        (status, log) = try Built.run(try Built.path("example-generate"), [try Self.y4m(), generated, "2"])
        #expect(status == 1 && log.contains("header length"), "\(log)")
    }
}
