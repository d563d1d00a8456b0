// method=diffusion with no model file: the element finds the built-in default model (MCVDKit's
// DefaultModel) in real gst-launch-1.0 pipelines, out of process, each with its own plugin folder and
// registry: through MCVD_MODEL; next to a copy of libgstmcvd.so in a temp plugin folder (GST_PLUGIN_PATH);
// in a prefix laid out by tools/install-plugin.sh; none anywhere (the error lists the places); a corrupt
// file (the error names it). Every run sets MCVD_MODEL or MCVD_MODEL_SKIP=source,system, so a
// models/default.safetensors in this checkout or one installed on the machine cannot answer. The model
// is the tiny-concat fixture (random weights): the output must equal the bytes of the same pipeline with
// model=<that file>, and differ from method=blend.
import Foundation
import Testing
import Training

@Suite(.serialized) struct DefaultModelTests {
    static let skip = ["MCVD_MODEL_SKIP": "source,system"]
    static let scratch: String = {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("mcvd-default-\(getpid())").path
        try? FileManager.default.removeItem(atPath: d)
        try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }()

    /// The built plugin (next to the test bundle).
    static func builtPlugin() throws -> String {
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        for d in [bundle.deletingLastPathComponent(), bundle.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("debug")] {
            let p = d.appendingPathComponent("libgstmcvd.so").path
            if FileManager.default.fileExists(atPath: p) { return p }
        }
        throw PipelineError(message: "libgstmcvd.so not found next to the test bundle: run `swift build` before `swift test`")
    }

    /// A temp plugin folder holding a copy of the built plugin.
    static func pluginCopy(_ name: String) throws -> String {
        let dir = "\(scratch)/\(name)"
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: try builtPlugin(), toPath: "\(dir)/libgstmcvd.so")
        return dir
    }

    /// gst-launch-1.0: 6 RGB frames of the ball at 24x16 through `mcvd <props>` into a raw file, with only
    /// `pluginDir` in GST_PLUGIN_PATH and a registry of its own; (status, output, bytes written).
    static func launch(_ props: String, pluginDir: String, env: [String: String]) throws -> (Int32, String, Data) {
        let out = "\(scratch)/out-\(UUID().uuidString).raw"
        defer { try? FileManager.default.removeItem(atPath: out) }
        var e = env
        e["GST_PLUGIN_PATH"] = pluginDir
        e["GST_REGISTRY"] = "\(scratch)/registry-\(UUID().uuidString).bin"
        e["GST_REGISTRY_FORK"] = "no"
        let line = "videotestsrc num-buffers=6 pattern=ball ! video/x-raw,format=RGB,width=24,height=16,framerate=15/1 "
            + "! mcvd \(props) ! filesink location=\(out)"
        let (status, text) = try runTool(["gst-launch-1.0", "-q"] + line.split(separator: " ").map(String.init), env: e)
        return (status, text, (try? Data(contentsOf: URL(fileURLWithPath: out))) ?? Data())
    }

    static let frameBytes = 24 * 16 * 3
    /// static-threshold=0: videotestsrc's ball at this size and rate gives identical frames, which the
    /// static test would rightly blend without the model (SceneTests); here the model must run.
    static let diffusion = "method=diffusion steps=1 seed=2 static-threshold=0"

    /// The output with model=<tiny-concat> given by path, checked to be 12 frames and not the blend.
    static func reference() throws -> Data {
        let dir = try builtPluginDir()
        let (status, text, bytes) = try launch("\(diffusion) model=\(tinyConcat)", pluginDir: dir, env: skip)
        #expect(status == 0 && bytes.count == 12 * frameBytes, "\(text)")
        let blend = try launch("method=blend", pluginDir: dir, env: skip)
        #expect(blend.0 == 0 && blend.2.count == bytes.count && blend.2 != bytes, "\(blend.1)")
        return bytes
    }

    static func builtPluginDir() throws -> String { (try builtPlugin() as NSString).deletingLastPathComponent }

    @Test func inspectBlurbStatesTheRule() throws {
        var env = Self.skip
        env["GST_PLUGIN_PATH"] = try Self.builtPluginDir()
        env["GST_REGISTRY"] = "\(Self.scratch)/registry-inspect.bin"
        let (status, out) = try runTool(["gst-inspect-1.0", "mcvd"], env: env)
        #expect(status == 0, "\(out)")
        for part in ["empty = the built-in default model", "default-predict.safetensors first", "$MCVD_MODEL", "<plugin dir>/gst-mcvd/", "<prefix>/share/gst-mcvd/models/",
                     "models/", "/usr/local/share/gst-mcvd/models/", "/usr/share/gst-mcvd/models/"] {
            #expect(out.contains(part), "\(part)")
        }
    }

    @Test func foundThroughMCVD_MODEL() throws {
        let reference = try Self.reference()
        let (status, text, bytes) = try Self.launch(Self.diffusion, pluginDir: try Self.builtPluginDir(), env: ["MCVD_MODEL": tinyConcat])
        #expect(status == 0, "\(text)")
        #expect(bytes == reference)
        let missing = try Self.launch(Self.diffusion, pluginDir: try Self.builtPluginDir(), env: ["MCVD_MODEL": "\(Self.scratch)/absent.safetensors"])
        #expect(missing.0 != 0 && missing.1.contains("MCVD_MODEL=\(Self.scratch)/absent.safetensors names no file"), "\(missing.1)")
    }

    /// A copy of the plugin in a temp folder: nothing there (the error lists the places), a corrupt
    /// <dir>/gst-mcvd/default.safetensors (named), then the model there (used).
    @Test func foundNextToAPluginCopy() throws {
        let reference = try Self.reference()
        let dir = try Self.pluginCopy("plugins")
        let none = try Self.launch(Self.diffusion, pluginDir: dir, env: Self.skip)
        #expect(none.0 != 0 && none.2.isEmpty, "\(none.1)")
        #expect(none.1.contains("no default model found"), "\(none.1)")
        #expect(none.1.contains("(1) \(dir)/gst-mcvd/default.safetensors (next to the library \(dir)/libgstmcvd.so)"), "\(none.1)")
        #expect(none.1.contains("MCVD_MODEL="), "\(none.1)")

        try FileManager.default.createDirectory(atPath: "\(dir)/gst-mcvd", withIntermediateDirectories: true)
        let model = "\(dir)/gst-mcvd/default.safetensors"
        try Data("not a model".utf8).write(to: URL(fileURLWithPath: model))
        let corrupt = try Self.launch(Self.diffusion, pluginDir: dir, env: Self.skip)
        #expect(corrupt.0 != 0 && corrupt.1.contains("the default model \(model) (next to the library"), "\(corrupt.1)")
        #expect(corrupt.1.contains("cannot be loaded"), "\(corrupt.1)")

        try FileManager.default.removeItem(atPath: model)
        try FileManager.default.copyItem(atPath: tinyConcat, toPath: model)
        let (status, text, bytes) = try Self.launch(Self.diffusion, pluginDir: dir, env: Self.skip)
        #expect(status == 0, "\(text)")
        #expect(bytes == reference)
    }

    /// mode=predict's own default file: with only <dir>/gst-mcvd/default-predict.safetensors next to a
    /// plugin copy, mode=predict (extend-frames=2: the model makes two frames after EOS) runs it, the same
    /// bytes as model=<that file>, while mode=interpolate finds no default model (it never takes the
    /// prediction file); a general default.safetensors beside it does not change what mode=predict takes.
    @Test func predictModeTakesItsOwnDefaultFile() throws {
        let dir = try Self.pluginCopy("plugins-predict")
        try FileManager.default.createDirectory(atPath: "\(dir)/gst-mcvd", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: tinyConcat, toPath: "\(dir)/gst-mcvd/default-predict.safetensors")
        let predict = "mode=predict method=diffusion steps=1 seed=2 extend-frames=2"
        let byPath = try Self.launch("\(predict) model=\(tinyConcat)", pluginDir: try Self.builtPluginDir(), env: Self.skip)
        #expect(byPath.0 == 0 && byPath.2.count == 8 * Self.frameBytes, "\(byPath.1)")
        let repeated = try Self.launch("\(predict) method=repeat", pluginDir: try Self.builtPluginDir(), env: Self.skip)
        #expect(repeated.0 == 0 && repeated.2.count == byPath.2.count && repeated.2 != byPath.2, "\(repeated.1)")
        let found = try Self.launch(predict, pluginDir: dir, env: Self.skip)
        #expect(found.0 == 0 && found.2 == byPath.2, "\(found.1)")
        let interpolate = try Self.launch(Self.diffusion, pluginDir: dir, env: Self.skip)
        #expect(interpolate.0 != 0 && interpolate.1.contains("no default model found"), "\(interpolate.1)")
        #expect(interpolate.1.contains("(1) \(dir)/gst-mcvd/default.safetensors"), "\(interpolate.1)")
        try Data("not a model".utf8).write(to: URL(fileURLWithPath: "\(dir)/gst-mcvd/default.safetensors"))
        let both = try Self.launch(predict, pluginDir: dir, env: Self.skip)
        #expect(both.0 == 0 && both.2 == byPath.2, "\(both.1)")
    }

    /// mcvdsrc (generation) takes the prediction file too: next to a plugin copy, a default.safetensors
    /// trained without masking (which cannot start a video from nothing) and a default-predict.safetensors
    /// trained with masks: mcvdsrc runs; without the prediction file it falls back to default.safetensors
    /// and refuses it, naming why.
    @Test func sourceTakesThePredictionFile() throws {
        let dir = try Self.pluginCopy("plugins-source")
        try FileManager.default.createDirectory(atPath: "\(dir)/gst-mcvd", withIntermediateDirectories: true)
        let unmasked = try writeSourceModel(past: 2, frames: 1, future: 0, masking: MaskingOptions(past: 0, future: 0), name: "default-unmasked")
        let masked = try writeSourceModel(past: 2, frames: 1, future: 0, name: "default-masked")
        try FileManager.default.copyItem(atPath: unmasked, toPath: "\(dir)/gst-mcvd/default.safetensors")
        try FileManager.default.copyItem(atPath: masked, toPath: "\(dir)/gst-mcvd/default-predict.safetensors")
        var env = Self.skip
        env["GST_PLUGIN_PATH"] = dir
        env["GST_REGISTRY"] = "\(Self.scratch)/registry-source.bin"
        env["GST_REGISTRY_FORK"] = "no"
        let line = ["gst-launch-1.0", "-q", "mcvdsrc", "num-buffers=3", "seed=1", "steps=1", "!", "fakesink"]
        let (status, text) = try runTool(line, env: env)
        #expect(status == 0, "\(text)")
        try FileManager.default.removeItem(atPath: "\(dir)/gst-mcvd/default-predict.safetensors")
        let (refused, why) = try runTool(line, env: env)
        #expect(refused != 0 && why.contains("cannot generate video") && why.contains("without masking its past frames"), "\(why)")
    }

    /// tools/install-plugin.sh PREFIX with the built plugin and the fixture as the model: the plugin in
    /// PREFIX/lib/<multiarch>/gstreamer-1.0 finds PREFIX/share/gst-mcvd/models/default.safetensors.
    @Test func installScriptLayoutIsFound() throws {
        let reference = try Self.reference()
        let prefix = "\(Self.scratch)/prefix"
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("tools/install-plugin.sh").path
        var (status, text) = try runTool(["bash", script, prefix], env: ["PLUGIN": try Self.builtPlugin(), "MODEL": tinyConcat])
        #expect(status == 0, "\(text)")
        let line = text.split(separator: "\n").first { $0.hasPrefix("plugin: ") }.map { String($0.dropFirst("plugin: ".count)) }
        guard let plugin = line else { Issue.record("no plugin line: \(text)"); return }
        #expect(plugin.hasPrefix("\(prefix)/lib/") && plugin.hasSuffix("/gstreamer-1.0/libgstmcvd.so"), "\(plugin)")
        #expect(text.contains("default model: \(prefix)/share/gst-mcvd/models/default.safetensors"), "\(text)")
        #expect(text.contains("export GST_PLUGIN_PATH="), "\(text)")
        #expect(!text.contains("prediction and generation"), "MODEL alone installs no prediction model: \(text)")
        let pluginDir = (plugin as NSString).deletingLastPathComponent
        let run = try Self.launch(Self.diffusion, pluginDir: pluginDir, env: Self.skip)
        #expect(run.0 == 0, "\(run.1)")
        #expect(run.2 == reference)
        // PREDICT_MODEL installs the prediction file; a later install with MODEL alone removes it.
        let own = "\(prefix)/share/gst-mcvd/models/default-predict.safetensors"
        (status, text) = try runTool(["bash", script, prefix], env: ["PLUGIN": try Self.builtPlugin(), "MODEL": tinyConcat, "PREDICT_MODEL": tinyConcat])
        #expect(status == 0 && text.contains("default model for prediction and generation: \(own)") && FileManager.default.fileExists(atPath: own), "\(text)")
        (status, text) = try runTool(["bash", script, prefix], env: ["PLUGIN": try Self.builtPlugin(), "MODEL": tinyConcat])
        #expect(status == 0 && text.contains("removed \(own)") && !FileManager.default.fileExists(atPath: own), "\(text)")
        // Without a model file the script refuses, saying what to do.
        (status, text) = try runTool(["bash", script, "\(Self.scratch)/prefix2"], env: ["PLUGIN": try Self.builtPlugin(), "MODEL": "/nonexistent/m.safetensors"])
        #expect(status != 0 && text.contains("no model file /nonexistent/m.safetensors") && text.contains("NO_MODEL=1"), "\(text)")
        #expect(!FileManager.default.fileExists(atPath: "\(Self.scratch)/prefix2"))
    }
}
