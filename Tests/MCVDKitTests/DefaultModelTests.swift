// DefaultModel: the search order for a plugin, an executable and a build tree, MCVD_MODEL and
// MCVD_MODEL_SKIP, the first existing file winning, the error that lists every place, a corrupt default
// model, and the running image found through /proc/self/maps. Contexts are given explicitly (temp
// folders), so a models/default.safetensors in this checkout or one installed on the machine changes
// nothing here. The element and the CLI finding it in real runs: ElementTests/DefaultModelTests and
// DefaultModelCommandTests.
import Diffusion
import Foundation
import MCVDKit
import Testing

/// The text of the error `body` throws ("" when it throws none).
private func thrownText(_ body: () throws -> Any) -> String {
    do { _ = try body(); return "" } catch { return "\(error)" }
}

@Suite struct DefaultModelTests {
    typealias Context = DefaultModel.Context

    static func context(_ env: [String: String] = [:], image: String?, executable: String?, source: String? = nil) -> Context {
        Context(environment: env, image: image, executable: executable, sourceRoot: source)
    }

    @Test func pluginPlacesInOrder() {
        let c = Self.context(image: "/opt/x/lib/x86_64-linux-gnu/gstreamer-1.0/libgstmcvd.so", executable: "/usr/bin/gst-launch-1.0",
                             source: "/src/gst-mcvd")
        let places = DefaultModel.places(c)
        #expect(places.map(\.path) == [
            "/opt/x/lib/x86_64-linux-gnu/gstreamer-1.0/gst-mcvd/default.safetensors",
            "/opt/x/share/gst-mcvd/models/default.safetensors",
            "/src/gst-mcvd/models/default.safetensors",
            "/usr/local/share/gst-mcvd/models/default.safetensors",
            "/usr/share/gst-mcvd/models/default.safetensors",
        ])
        #expect(places.map(\.kind) == [.plugin, .plugin, .source, .system, .system])
        // The host program's folder (gst-launch-1.0's) is not a place.
        #expect(!places.contains { $0.path.hasPrefix("/usr/bin") })
    }

    @Test func pluginInBuildTreeAndUserPluginFolder() {
        let build = DefaultModel.places(Self.context(image: "/home/u/gst-mcvd/.build/x86_64-unknown-linux-gnu/release/libgstmcvd.so",
                                                     executable: "/usr/bin/gst-launch-1.0"))
        #expect(build.map(\.path).prefix(2) == ["/home/u/gst-mcvd/.build/x86_64-unknown-linux-gnu/release/gst-mcvd/default.safetensors",
                                                "/home/u/gst-mcvd/models/default.safetensors"])
        #expect(build[1].kind == .source)
        let static_ = DefaultModel.places(Self.context(image: "/r/.build-static/release/libgstmcvd.so", executable: nil))
        #expect(static_.contains { $0.path == "/r/models/default.safetensors" })
        // GStreamer's per-user plugin folder: no lib component, so only <dir>/gst-mcvd/.
        let user = DefaultModel.places(Self.context(image: "/home/u/.local/share/gstreamer-1.0/plugins/libgstmcvd.so", executable: nil))
        #expect(user.first?.path == "/home/u/.local/share/gstreamer-1.0/plugins/gst-mcvd/default.safetensors")
        #expect(user.filter { $0.kind == .plugin }.count == 1)
    }

    @Test func executablePlaces() {
        let places = DefaultModel.places(Self.context(image: "/opt/p/bin/mcvd", executable: "/opt/p/bin/mcvd"))
        #expect(places.map(\.path).prefix(2) == ["/opt/p/bin/gst-mcvd/default.safetensors", "/opt/p/share/gst-mcvd/models/default.safetensors"])
        #expect(places.prefix(2).allSatisfy { $0.kind == .executable })
    }

    @Test func environmentAndSkip() {
        let env = DefaultModel.places(Self.context(["MCVD_MODEL": "/m/x.safetensors"], image: "/a/lib/libgstmcvd.so", executable: nil))
        #expect(env.map(\.path) == ["/m/x.safetensors"] && env[0].kind == .environment)
        // An empty MCVD_MODEL counts as unset.
        #expect(DefaultModel.places(Self.context(["MCVD_MODEL": ""], image: "/a/lib/libgstmcvd.so", executable: nil)).count > 1)
        let skipped = DefaultModel.places(Self.context(["MCVD_MODEL_SKIP": "source, system"], image: "/a/.build/debug/mcvd",
                                                       executable: "/a/.build/debug/mcvd", source: "/src"))
        #expect(skipped.allSatisfy { $0.kind == .executable } && skipped.count == 2)
        let typo = Self.context(["MCVD_MODEL_SKIP": "sources"], image: nil, executable: "/usr/bin/true")
        #expect(thrownText { try DefaultModel.locate(typo) }.contains("unknown kind of place \"sources\""))
    }

    /// Real files in a temp prefix: the first existing place wins; none gives the list; a folder named
    /// default.safetensors is not a model file.
    @Test func locateFirstExistingAndListWhenNone() throws {
        let root = "\(Scratch.dir)/default-locate"
        let lib = "\(root)/lib/gstreamer-1.0"
        try FileManager.default.createDirectory(atPath: lib, withIntermediateDirectories: true)
        let c = Self.context(["MCVD_MODEL_SKIP": "source,system"], image: "\(lib)/libgstmcvd.so", executable: "/usr/bin/gst-launch-1.0",
                             source: "/nonexistent-src")
        do {
            _ = try DefaultModel.locate(c)
            Issue.record("found a model in an empty prefix")
        } catch {
            let text = "\(error)"
            #expect(text.contains("no default model found"))
            #expect(text.contains("(1) \(lib)/gst-mcvd/default.safetensors"), "\(text)")
            #expect(text.contains("(2) \(root)/share/gst-mcvd/models/default.safetensors"), "\(text)")
            #expect(text.contains("MCVD_MODEL_SKIP=source,system") && text.contains("MCVD_MODEL="), "\(text)")
        }
        let shared = "\(root)/share/gst-mcvd/models"
        try FileManager.default.createDirectory(atPath: "\(shared)/default.safetensors", withIntermediateDirectories: true)
        #expect(throws: MCVDKitError.self) { try DefaultModel.locate(c) }
        try FileManager.default.removeItem(atPath: "\(shared)/default.safetensors")
        try FileManager.default.copyItem(atPath: Fixture.path(), toPath: "\(shared)/default.safetensors")
        #expect(try DefaultModel.locate(c).path == "\(shared)/default.safetensors")
        try FileManager.default.createDirectory(atPath: "\(lib)/gst-mcvd", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Fixture.path(), toPath: "\(lib)/gst-mcvd/default.safetensors")
        let first = try DefaultModel.locate(c)
        #expect(first.path == "\(lib)/gst-mcvd/default.safetensors" && first.kind == .plugin)
        // It loads, and is the fixture.
        let model = try Model(pathOrDefault: "", context: c)
        #expect(model.source == first.path && model.channels == 3 && model.past == 2 && model.future == 2)
        #expect(try Model(pathOrDefault: "default", context: c).source == first.path)
    }

    /// Prediction (forward, backward) and generation look for default-predict.safetensors before
    /// default.safetensors in each place; interpolation only for default.safetensors; MCVD_MODEL answers
    /// for every task.
    @Test func predictionHasItsOwnFileFirstInEachPlace() throws {
        let c = Self.context(image: "/opt/x/lib/gstreamer-1.0/libgstmcvd.so", executable: nil, source: "/src/gst-mcvd")
        for task in [Task.predict, .predictPast, .generate] {
            #expect(DefaultModel.places(c, task: task).map(\.path).prefix(4) == [
                "/opt/x/lib/gstreamer-1.0/gst-mcvd/default-predict.safetensors", "/opt/x/lib/gstreamer-1.0/gst-mcvd/default.safetensors",
                "/opt/x/share/gst-mcvd/models/default-predict.safetensors", "/opt/x/share/gst-mcvd/models/default.safetensors"], "\(task)")
        }
        #expect(DefaultModel.places(c, task: .interpolate) == DefaultModel.places(c))
        #expect(!DefaultModel.places(c).contains { $0.path.hasSuffix("default-predict.safetensors") })
        let env = Self.context(["MCVD_MODEL": "/m/x.safetensors"], image: nil, executable: "/usr/bin/true")
        #expect(DefaultModel.places(env, task: .predict).map(\.path) == ["/m/x.safetensors"])

        let root = "\(Scratch.dir)/default-predict"
        try? FileManager.default.removeItem(atPath: root)
        let lib = "\(root)/lib/gstreamer-1.0", shared = "\(root)/share/gst-mcvd/models"
        for d in ["\(lib)/gst-mcvd", shared] { try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true) }
        let files = Self.context(["MCVD_MODEL_SKIP": "source,system"], image: "\(lib)/libgstmcvd.so", executable: nil)
        // Only a general model further down: prediction takes it (no own file anywhere before it).
        try FileManager.default.copyItem(atPath: Fixture.path(), toPath: "\(shared)/default.safetensors")
        #expect(try DefaultModel.locate(files, task: .predict).path == "\(shared)/default.safetensors")
        // Its own file in the same place wins for prediction only.
        try FileManager.default.copyItem(atPath: Fixture.path(), toPath: "\(shared)/default-predict.safetensors")
        #expect(try DefaultModel.locate(files, task: .predict).path == "\(shared)/default-predict.safetensors")
        #expect(try DefaultModel.locate(files, task: .interpolate).path == "\(shared)/default.safetensors")
        #expect(try Model(pathOrDefault: "default", task: .predict, context: files).source == "\(shared)/default-predict.safetensors")
        // An earlier place with only the general model answers before a later place's own file.
        try FileManager.default.copyItem(atPath: Fixture.path(), toPath: "\(lib)/gst-mcvd/default.safetensors")
        #expect(try DefaultModel.locate(files, task: .predict).path == "\(lib)/gst-mcvd/default.safetensors")
        // None at all: the error names both files.
        let empty = Self.context(["MCVD_MODEL_SKIP": "source,system,plugin"], image: "\(lib)/libgstmcvd.so", executable: nil)
        #expect(thrownText { try DefaultModel.locate(empty, task: .predict) }.contains("default-predict.safetensors or default.safetensors"))
    }

    @Test func environmentFileMissingOrCorrupt() throws {
        let c = Self.context(["MCVD_MODEL": "/nonexistent/m.safetensors"], image: nil, executable: "/usr/bin/true")
        #expect(thrownText { try DefaultModel.locate(c) }.contains("MCVD_MODEL=/nonexistent/m.safetensors names no file"))
        let junk = "\(Scratch.dir)/junk-default.safetensors"
        try Data("not a model".utf8).write(to: URL(fileURLWithPath: junk))
        let j = Self.context(["MCVD_MODEL": junk], image: nil, executable: "/usr/bin/true")
        #expect(try DefaultModel.locate(j).path == junk)
        let t = thrownText { try Model(pathOrDefault: "", context: j) }
        #expect(t.contains("the default model \(junk) (MCVD_MODEL) cannot be loaded"), "\(t)")
        // A path is a path: the context is not consulted.
        #expect(try Model(pathOrDefault: Fixture.path(), context: j).source == Fixture.path())
    }

    /// In this test process the library is linked into the test executable: the image is /proc/self/exe.
    @Test func runningImageIsThisExecutable() throws {
        let c = Context.current
        let exe = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        #expect(c.image == exe && c.executable == exe)
        // The checkout compiled from: this file's own folder lies two below it.
        #expect(c.sourceRoot.map { URL(fileURLWithPath: #filePath).path.hasPrefix($0 + "/Tests/") } == true)
    }
}
