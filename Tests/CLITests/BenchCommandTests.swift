// `mcvd bench --modes`: argument errors (bad size, mode, steps, model) and a tiny run on the committed
// tiny-concat fixture (64x64 RGB, 2 past + 2 future -> 1): one line per case with its fields, the
// element's size limit reported as a refused case. No timing is asserted.
import Foundation
import Testing

@Suite(.serialized) struct BenchModesCommandTests {
    static let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("UNetTests/Fixtures/tiny-concat/model.safetensors").path

    /// The `key=value` fields of a line (a quoted value may hold spaces).
    static func fields(_ line: Substring) -> [String: String] {
        var out: [String: String] = [:]
        var rest = line[...]
        while let eq = rest.firstIndex(of: "=") {
            let key = rest[..<eq].trimmingCharacters(in: .whitespaces)
            var after = rest[rest.index(after: eq)...]
            let value: Substring
            if after.first == "\"" {
                after = after.dropFirst()
                let end = after.firstIndex(of: "\"") ?? after.endIndex
                value = after[..<end]
                rest = end < after.endIndex ? after[after.index(after: end)...] : ""
            } else {
                let end = after.firstIndex(of: " ") ?? after.endIndex
                value = after[..<end]
                rest = after[end...]
            }
            out[key] = String(value)
        }
        return out
    }

    @Test(arguments: [
        (["--modes", "interpolate", "--sizes", "64y64"], "--sizes: \"64y64\" is not a frame size"),
        (["--modes", "interpolate", "--sizes", "320x0"], "--sizes: \"320x0\" is not a frame size"),
        (["--modes", "interpolate", "--sizes", "64x64,"], "--sizes: \"\" is not a frame size"),
        (["--modes", "interpolate,fly"], "--modes: unknown mode \"fly\""),
        (["--modes", ""], "--modes: unknown mode \"\""),
        (["--modes", "predict", "--steps", "1,0"], "--steps: \"1,0\" must be a comma-separated list of integers >= 1"),
        (["--modes", "predict", "--steps", "two"], "--steps: \"two\" is not a comma-separated list of integers"),
        (["--modes", "predict", "--threads", "0"], "--threads"),
        (["--modes", "predict", "--processing-size=-1"], "--processing-size must be >= 0"),
    ])
    func badArgumentsAreNamed(args: [String], message: String) throws {
        let r = try CLI.run(["bench"] + args + ["--model", Self.fixture])
        #expect(r.status != 0, "\(r.output)")
        #expect(r.output.contains(message), "\(r.output)")
        #expect(!r.output.contains("mode=predict size="), "\(r.output)")
    }

    @Test func aModelThatIsNotThereIsAnError() throws {
        let missing = "\(CLI.dir)/no-such-model.safetensors"
        let r = try CLI.run(["bench", "--modes", "interpolate", "--sizes", "64x64", "--steps", "1", "--model", missing])
        #expect(r.status != 0, "\(r.output)")
        #expect(r.output.contains("--model \(missing)"), "\(r.output)")
        #expect(!r.output.contains("mode=interpolate size="), "\(r.output)")
    }

    @Test func tinyRunPrintsOneLinePerCase() throws {
        let r = try CLI.run(["bench", "--modes", "interpolate,predict,generate", "--sizes", "32x32,1280x720",
                             "--steps", "1,2", "--threads", "1", "--iters", "1", "--processing-size", "0",
                             "--model", Self.fixture])
        #expect(r.status == 0, "\(r.output)")
        let header = r.output.split(separator: "\n").filter { $0.hasPrefix("# ") }
        #expect(header.contains { $0.hasPrefix("# kernels: ") }, "\(r.output)")
        #expect(header.contains { $0.contains("model \(Self.fixture)") }, "\(r.output)")
        let lines = r.output.split(separator: "\n").filter { $0.hasPrefix("mode=") }
        #expect(lines.count == 3 * 2 * 2, "\(r.output)")
        var seen: [String] = []
        for line in lines {
            let f = Self.fields(line)
            let mode = try #require(f["mode"]), size = try #require(f["size"])
            seen.append("\(mode) \(size) \(f["steps"] ?? "?")")
            #expect(f["threads"] == "1" && f["kernels"].map { !$0.isEmpty } == true, "\(line)")
            if size == "1280x720" {
                // Native size (processing-size 0) above 640 x 480 pixels: the element refuses it, and so does the bench.
                #expect(f["refused"]?.contains("307200 pixels") == true, "\(line)")
                #expect(f["fps"] == nil, "\(line)")
                continue
            }
            if mode == "generate", let refused = f["refused"] {
                // A model not trained to start from nothing says so (Model.checkGeneration).
                #expect(refused.contains("trained"), "\(line)")
                continue
            }
            #expect(f["refused"] == nil, "\(line)")
            #expect(f["working"] == "32x32", "\(line)")
            for key in ["fps", "model_ms", "unit_ms"] {
                let v = try #require(f[key].flatMap(Double.init), "\(key) in \(line)")
                #expect(v > 0 && v.isFinite, "\(line)")
            }
            #expect(f["out_per_unit"] == (mode == "generate" ? "1" : "2") && f["generated_per_unit"] == "1", "\(line)")
            // fps counts every output frame of a unit: out_per_unit / unit time.
            let fps = Double(f["fps"]!)!, unit = Double(f["unit_ms"]!)!, out = Double(f["out_per_unit"]!)!
            #expect(abs(fps - out / unit * 1000) <= 0.02 * fps + 0.01, "\(line)")
            #expect(Double(f["model_ms"]!)! <= unit + 0.1, "\(line)")
        }
        // Modes, then sizes, then steps, in the order given.
        #expect(seen == ["interpolate", "predict", "generate"].flatMap { m in
            ["32x32", "1280x720"].flatMap { s in ["1", "2"].map { "\(m) \(s) \($0)" } }
        })
    }
}
