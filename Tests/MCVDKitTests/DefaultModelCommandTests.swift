// The built-in default model found by the commands with no model file given: `mcvd sample default`
// (MCVD_MODEL; a copy of the executable in a temp prefix with the model in <prefix>/share/gst-mcvd/models;
// none anywhere: the error lists the places; a corrupt file: the error names it), `mcvd info default`,
// and example-interpolate with MODEL "default". Each run sets MCVD_MODEL or MCVD_MODEL_SKIP=source,system,
// so a models/default.safetensors in this checkout or one installed on the machine cannot answer. The
// model is the tiny-concat fixture (random weights): the frames must equal those of the same file given
// by path.
import Foundation
import MCVDKit
import Testing

@Suite(.serialized) struct DefaultModelCommandTests {
    static let skip = ["MCVD_MODEL_SKIP": "source,system"]

    /// `mcvd sample MODEL <pngs> --task interpolate ...` (env added); the PNG frames written.
    static func sample(_ mcvd: String, _ model: String, out: String, env: [String: String]) throws -> (Int32, String, [[UInt8]]) {
        let (dir, _) = try CommandParityTests.pngs("dm-pngs")
        try? FileManager.default.removeItem(atPath: out)
        let (status, log) = try Built.run(mcvd, ["sample", model, dir, "--task", "interpolate", "--steps", "1", "--seed", "5", "--out", out], env: env)
        return (status, log, status == 0 ? try CommandParityTests.outputs(out) : [])
    }

    @Test func sampleFindsTheModelThroughMCVD_MODEL() throws {
        let mcvd = try Built.path("mcvd")
        let byPath = try Self.sample(mcvd, Fixture.path(), out: "\(Scratch.dir)/dm-path", env: Self.skip)
        #expect(byPath.0 == 0 && byPath.2.count == 9, "\(byPath.1)")
        let byDefault = try Self.sample(mcvd, "default", out: "\(Scratch.dir)/dm-env", env: ["MCVD_MODEL": Fixture.path()])
        #expect(byDefault.0 == 0, "\(byDefault.1)")
        #expect(byDefault.2 == byPath.2)
    }

    /// An installed layout: <prefix>/bin/mcvd finds <prefix>/share/gst-mcvd/models/default.safetensors.
    @Test func installedExecutableFindsTheModelInItsPrefix() throws {
        let prefix = "\(Scratch.dir)/prefix"
        try? FileManager.default.removeItem(atPath: prefix)
        try FileManager.default.createDirectory(atPath: "\(prefix)/bin", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: "\(prefix)/share/gst-mcvd/models", withIntermediateDirectories: true)
        let mcvd = "\(prefix)/bin/mcvd"
        try FileManager.default.copyItem(atPath: try Built.path("mcvd"), toPath: mcvd)
        // Nothing there yet: the error lists the places, starting next to the executable.
        let none = try Self.sample(mcvd, "default", out: "\(Scratch.dir)/dm-none", env: Self.skip)
        #expect(none.0 != 0, "\(none.1)")
        #expect(none.1.contains("no default model found"), "\(none.1)")
        #expect(none.1.contains("(1) \(prefix)/bin/gst-mcvd/default.safetensors"), "\(none.1)")
        #expect(none.1.contains("(2) \(prefix)/share/gst-mcvd/models/default.safetensors"), "\(none.1)")
        #expect(none.1.contains("MCVD_MODEL="), "\(none.1)")

        // A corrupt file there: named, with where it was found.
        let installed = "\(prefix)/share/gst-mcvd/models/default.safetensors"
        try Data("not a model".utf8).write(to: URL(fileURLWithPath: installed))
        let corrupt = try Self.sample(mcvd, "default", out: "\(Scratch.dir)/dm-corrupt", env: Self.skip)
        #expect(corrupt.0 != 0 && corrupt.1.contains("the default model \(installed) (the install prefix of the executable"), "\(corrupt.1)")
        #expect(corrupt.1.contains("cannot be loaded"), "\(corrupt.1)")

        try FileManager.default.removeItem(atPath: installed)
        try FileManager.default.copyItem(atPath: Fixture.path(), toPath: installed)
        let found = try Self.sample(mcvd, "default", out: "\(Scratch.dir)/dm-prefix", env: Self.skip)
        #expect(found.0 == 0, "\(found.1)")
        let byPath = try Self.sample(mcvd, Fixture.path(), out: "\(Scratch.dir)/dm-path2", env: Self.skip)
        #expect(found.2.count == 9 && found.2 == byPath.2)
        let (status, info) = try Built.run(mcvd, ["info", "default"], env: Self.skip)
        #expect(status == 0 && info.contains("default model: \(installed) (the install prefix of the executable \(mcvd))"), "\(info)")
    }

    @Test func exampleTakesDefault() throws {
        let out = "\(Scratch.dir)/dm-example.y4m", ref = "\(Scratch.dir)/dm-example-ref.y4m"
        let example = try Built.path("example-interpolate")
        var (status, log) = try Built.run(example, ["default", try CommandParityTests.y4m("dm-ball.y4m"), out, "1", "4"], env: ["MCVD_MODEL": Fixture.path()])
        #expect(status == 0 && log.contains("6 frames in, 9 out"), "\(log)")
        (status, log) = try Built.run(example, [Fixture.path(), try CommandParityTests.y4m("dm-ball.y4m"), ref, "1", "4"])
        #expect(status == 0, "\(log)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: out)) == Data(contentsOf: URL(fileURLWithPath: ref)))
        (status, log) = try Built.run(example, ["default", try CommandParityTests.y4m("dm-ball.y4m"), out], env: ["MCVD_MODEL": "/nonexistent/x.safetensors"])
        #expect(status != 0 && log.contains("MCVD_MODEL=/nonexistent/x.safetensors names no file"), "\(log)")
    }
}
