// Tests of the safetensors reader/writer: round trips, dtype conversion against hand-computed bit
// patterns, a table of corrupted files that must all throw, and the committed parity fixtures.
import Foundation
import Testing
@testable import UNet

/// Little-endian u64 header length + header + data, as a safetensors file lays them out.
private func rawFile(_ header: String, data: [UInt8] = []) -> [UInt8] {
    let h = Array(header.utf8)
    var out: [UInt8] = (0..<8).map { UInt8(truncatingIfNeeded: UInt64(h.count) >> (8 * UInt64($0))) }
    out += h
    out += data
    return out
}

private func temporaryPath(_ name: String) -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("safetensors-tests-\(getpid())")
    try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir.appendingPathComponent(name).path
}

/// A small valid file written by our writer, used as the base of the corruption table.
private func sampleFile(_ name: String) throws -> [UInt8] {
    let path = temporaryPath("sample-\(name).safetensors")
    try SafeTensors.write(path: path, tensors: [
        (name: "a.weight", shape: [2, 3], data: [1, 2, 3, 4, 5, 6]),
        (name: "b", shape: [1], data: [-7]),
        (name: "c.bias", shape: [2, 1, 2], data: [0.5, 0.25, -0.125, 8]),
    ], metadata: ["format": "mcvd-1"])
    return [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
}

@Suite struct SafeTensorsTests {
    @Test func writesF16RoundedToNearestEven() throws {
        let path = temporaryPath("f16.safetensors")
        // Exact halves, values between two halves (ties to even), subnormals, zero signs, inf, 65504.
        let values: [Float] = [0, -0.0, 1, -2.5, 0.1, 1 + 0x1p-11, 1 + 3 * 0x1p-11, 0x1p-24, 0x1p-25, 3e-8,
                               65504, -65504, .infinity, -.infinity, 1234.567, -0.000123]
        try SafeTensors.write(path: path, tensors: [(name: "h", shape: [values.count], data: values)], metadata: [:], as: .f16)
        let file = try SafeTensors(path: path)
        let got = try file.floats("h")
        for (v, g) in zip(values, got) {
            #expect(g.bitPattern == Float(Float16(v)).bitPattern, "\(v) stored as \(g), want \(Float(Float16(v)))")
        }
        #expect(got[5] == 1 && got[6] == 1 + 4 * 0x1p-11, "ties go to the even neighbour")
        let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int
        #expect(size.map { $0 < 8 + 200 + 2 * values.count } ?? false, "two bytes per value")
        #expect(throws: SafeTensorsError.self) {
            try SafeTensors.write(path: path, tensors: [(name: "big", shape: [1], data: [70000])], metadata: [:], as: .f16)
        }
    }

    @Test func roundTripF32() throws {
        let path = temporaryPath("roundtrip.safetensors")
        let weird: [Float] = [0, -0.0, 1.5, -3.25e-20, .greatestFiniteMagnitude, .leastNonzeroMagnitude, .infinity, .nan]
        let big = (0..<300).map { Float($0) * 0.37 - 11 }
        let metadata = ["format": "mcvd-1", "mcvd.config": "{\"model\": {\"ngf\": 32}}", "quote\"and\nnewline": "é ✓ \u{1}"]
        try SafeTensors.write(path: path, tensors: [
            (name: "z", shape: [2, 4], data: weird),
            (name: "unet.all_modules.0.weight", shape: [3, 10, 10], data: big),
            (name: "empty", shape: [0, 3], data: []),
            (name: "scalar", shape: [], data: [42]),
        ], metadata: metadata)
        let file = try SafeTensors(path: path)
        #expect(file.names == ["empty", "scalar", "unet.all_modules.0.weight", "z"])
        #expect(file.metadata == metadata)
        #expect(file.shape("z") == [2, 4])
        #expect(file.shape("empty") == [0, 3])
        #expect(file.shape("scalar") == [])
        #expect(file.shape("missing") == nil)
        #expect(try file.floats("z").map(\.bitPattern) == weird.map(\.bitPattern))
        #expect(try file.floats("unet.all_modules.0.weight") == big)
        #expect(try file.floats("empty") == [])
        #expect(try file.floats("scalar") == [42])
        #expect(throws: SafeTensorsError.self) { try file.floats("missing") }

        // The data section starts 8-byte aligned.
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let headerLength = (0..<8).reduce(0) { $0 | Int(bytes[$1]) << (8 * $1) }
        #expect(headerLength % 8 == 0)
        #expect(try SafeTensors(bytes: bytes).names == file.names)
    }

    @Test func writerRejectsInconsistentTensors() {
        let path = temporaryPath("bad-write.safetensors")
        #expect(throws: SafeTensorsError.self) {
            try SafeTensors.write(path: path, tensors: [(name: "a", shape: [2, 2], data: [1, 2, 3])], metadata: [:])
        }
        #expect(throws: SafeTensorsError.self) {
            try SafeTensors.write(path: path, tensors: [(name: "a", shape: [1], data: [1]), (name: "a", shape: [1], data: [2])], metadata: [:])
        }
        #expect(throws: SafeTensorsError.self) {
            try SafeTensors.write(path: path, tensors: [(name: "a", shape: [-1], data: [])], metadata: [:])
        }
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    @Test func halfAndBFloat16Conversion() throws {
        // binary16 bit patterns and their exact values.
        let halves: [(UInt16, Float)] = [
            (0x3C00, 1), (0xC000, -2), (0x3555, 0.333251953125), (0x7BFF, 65504), (0x0001, 0x1p-24),
            (0x03FF, 1023 * 0x1p-24), (0x0400, 0x1p-14), (0x8000, -0.0), (0x7C00, .infinity), (0xFC00, -.infinity),
        ]
        // bfloat16 bit patterns (upper half of a binary32) and their exact values.
        let bhalves: [(UInt16, Float)] = [(0x3F80, 1), (0xC040, -3), (0x4049, 3.140625), (0x0000, 0), (0x7F80, .infinity), (0x0001, 0x1p-133)]
        func le(_ values: [UInt16]) -> [UInt8] { values.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] } }
        let data = le(halves.map(\.0) + [0x7E00]) + le(bhalves.map(\.0))
        let n = halves.count + 1
        let header = """
            {"h":{"dtype":"F16","shape":[\(n)],"data_offsets":[0,\(2 * n)]},\
            "b":{"dtype":"BF16","shape":[\(bhalves.count)],"data_offsets":[\(2 * n),\(2 * n + 2 * bhalves.count)]}}
            """
        let file = try SafeTensors(bytes: rawFile(header, data: data))
        let h = try file.floats("h")
        #expect(h.dropLast().map(\.bitPattern) == halves.map(\.1.bitPattern))
        #expect(h.last!.isNaN)
        #expect(try file.floats("b").map(\.bitPattern) == bhalves.map(\.1.bitPattern))
        #expect(file.metadata.isEmpty)
    }

    @Test func everyTruncationThrows() throws {
        let good = try sampleFile("truncation")
        #expect(try SafeTensors(bytes: good).names == ["a.weight", "b", "c.bias"])
        for length in 0..<good.count {
            #expect(throws: SafeTensorsError.self, "truncated to \(length) of \(good.count) bytes") {
                try SafeTensors(bytes: Array(good.prefix(length)))
            }
        }
    }

    /// Seeded random byte changes anywhere in the header or the length field: each result either
    /// opens (and then every tensor converts) or throws SafeTensorsError; nothing traps.
    @Test func randomHeaderDamageNeverTraps() throws {
        let good = try sampleFile("fuzz")
        let headerEnd = 8 + (0..<8).reduce(0) { $0 | Int(good[$1]) << (8 * $1) }
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int(truncatingIfNeeded: state >> 33)
        }
        let alphabet = Array("{}[]\",:0123456789-.eE \"\\FBI".utf8)
        var opened = 0, rejected = 0
        for _ in 0..<3000 {
            var bytes = good
            for _ in 0..<(1 + next() % 3) {
                let position = next() % headerEnd
                bytes[position] = next() % 2 == 0 ? UInt8(truncatingIfNeeded: next()) : alphabet[next() % alphabet.count]
            }
            do {
                let file = try SafeTensors(bytes: bytes)
                for name in file.names { _ = try file.floats(name) }
                opened += 1
            } catch is SafeTensorsError {
                rejected += 1
            }
        }
        #expect(opened + rejected == 3000)
        #expect(rejected > 2000, "most random damage must be caught (opened \(opened))")
    }

    @Test func headerLengthFieldIsChecked() throws {
        let good = try sampleFile("length")
        for length: UInt64 in [0, 1, UInt64(good.count), UInt64(good.count - 7), 200_000_000, UInt64.max, 1 << 63] {
            var bytes = good
            for i in 0..<8 { bytes[i] = UInt8(truncatingIfNeeded: length >> (8 * UInt64(i))) }
            #expect(throws: SafeTensorsError.self, "header length \(length)") { try SafeTensors(bytes: bytes) }
        }
    }

    /// Each header (with its data) is malformed in one way; `mention` must appear in the message.
    static let corrupted: [(label: String, header: String, dataBytes: Int, mention: String)] = [
        ("not JSON", "{\"a\":{\"dtype\":\"F32\",", 0, "JSON"),
        ("JSON array", "[1, 2]", 0, "object"),
        ("trailing garbage", "{} x", 0, "JSON"),
        ("duplicate tensor", #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, 8, "duplicate"),
        ("unsupported dtype", #"{"a":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}"#, 8, "I64"),
        ("missing dtype", #"{"a":{"shape":[1],"data_offsets":[0,4]}}"#, 4, "'a'"),
        ("dtype not a string", #"{"a":{"dtype":4,"shape":[1],"data_offsets":[0,4]}}"#, 4, "dtype"),
        ("entry not an object", #"{"a":[1,2]}"#, 0, "'a'"),
        ("shape too small for range", #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,12]}}"#, 12, "needs 8"),
        ("shape too large for range", #"{"a":{"dtype":"F16","shape":[2,3],"data_offsets":[0,8]}}"#, 8, "needs 12"),
        ("overlapping", #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#, 12, "overlap"),
        ("offsets past data", #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#, 8, "past"),
        ("offsets reversed", #"{"a":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}}"#, 8, "range"),
        ("negative offset", #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}}"#, 8, "range"),
        ("one offset", #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4]}}"#, 8, "data_offsets"),
        ("float offset", #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4.0]}}"#, 8, "data_offsets"),
        ("huge offset", #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,99999999999999999999999]}}"#, 8, "data_offsets"),
        ("negative dim", #"{"a":{"dtype":"F32","shape":[-1,2],"data_offsets":[0,4]}}"#, 8, "non-negative"),
        ("fractional dim", #"{"a":{"dtype":"F32","shape":[2.5],"data_offsets":[0,4]}}"#, 8, "non-negative"),
        ("string dim", #"{"a":{"dtype":"F32","shape":["2"],"data_offsets":[0,8]}}"#, 8, "non-negative"),
        ("huge dims overflow", #"{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}}"#, 8, "too many"),
        ("bytes overflow", #"{"a":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,4]}}"#, 8, "too many"),
        ("shape not array", #"{"a":{"dtype":"F32","shape":4,"data_offsets":[0,4]}}"#, 4, "shape"),
        ("metadata number", #"{"__metadata__":{"format":1}}"#, 0, "'format'"),
        ("metadata nested", #"{"__metadata__":{"x":{"y":"z"}}}"#, 0, "'x'"),
        ("metadata not object", #"{"__metadata__":"mcvd-1"}"#, 0, "__metadata__"),
        ("deep nesting", "{\"__metadata__\":" + String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000) + "}", 0, "nesting"),
        ("bad escape", #"{"__metadata__":{"a":"\q"}}"#, 0, "escape"),
        ("lone surrogate", #"{"__metadata__":{"a":"\ud800x"}}"#, 0, "surrogate"),
        ("raw newline in string", "{\"__metadata__\":{\"a\":\"x\ny\"}}", 0, "control"),
    ]

    @Test(arguments: corrupted.indices) func corruptedHeaderThrows(_ index: Int) {
        let (label, header, dataBytes, mention) = Self.corrupted[index]
        let bytes = rawFile(header, data: [UInt8](repeating: 0, count: dataBytes))
        do {
            _ = try SafeTensors(bytes: bytes)
            Issue.record("\(label): accepted")
        } catch let error as SafeTensorsError {
            #expect(error.description.contains(mention), "\(label): \(error)")
            #expect(error.file == "<memory>")
        } catch {
            Issue.record("\(label): threw \(type(of: error)) instead of SafeTensorsError")
        }
    }

    @Test func invalidUTF8HeaderThrows() throws {
        var bytes = rawFile(#"{"__metadata__":{"a":"xy"}}"#)
        bytes[bytes.count - 4] = 0xFF
        #expect(throws: SafeTensorsError.self) { try SafeTensors(bytes: bytes) }
    }

    @Test func errorsNameTheFile() throws {
        let missing = temporaryPath("does-not-exist.safetensors")
        do {
            _ = try SafeTensors(path: missing)
            Issue.record("opened a missing file")
        } catch let error as SafeTensorsError {
            #expect(error.file == missing)
            #expect(error.description.contains(missing))
        }
        let path = temporaryPath("bad-dtype.safetensors")
        try Data(rawFile(#"{"w":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}}"#, data: [UInt8](repeating: 0, count: 8)))
            .write(to: URL(fileURLWithPath: path))
        do {
            _ = try SafeTensors(path: path)
            Issue.record("accepted F64")
        } catch let error as SafeTensorsError {
            #expect(error.description.contains(path) && error.description.contains("'w'") && error.description.contains("F64"))
        }
    }

    @Test func emptyHeaderIsAnEmptyFile() throws {
        let file = try SafeTensors(bytes: rawFile("{}"))
        #expect(file.names.isEmpty && file.metadata.isEmpty)
        // Whitespace padding after the object, as other writers emit, is accepted.
        #expect(try SafeTensors(bytes: rawFile(#"{"__metadata__":{"k":"v"}}      "#)).metadata == ["k": "v"])
    }
}

/// The committed parity fixtures: each model and vectors file opens, carries our metadata, and its
/// tensors have the shapes that metadata implies.
@Suite struct FixtureFileTests {
    static let cases = ["tiny-concat", "smmnist-small5", "spatin"]

    static func fixture(_ name: String, _ file: String) throws -> SafeTensors {
        let root = try #require(Bundle.module.resourceURL).appendingPathComponent("Fixtures")
        return try SafeTensors(path: root.appendingPathComponent(name).appendingPathComponent(file).path)
    }

    private static func ints(_ any: Any?) -> [Int]? { (any as? [Any])?.compactMap { ($0 as? NSNumber)?.intValue } }

    /// A real fixture cut at every byte of its length field and header and at spread-out points of
    /// its data must be rejected.
    @Test func truncatedFixtureThrows() throws {
        let root = try #require(Bundle.module.resourceURL).appendingPathComponent("Fixtures")
        let path = root.appendingPathComponent("smmnist-small5/vectors.safetensors").path
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let headerEnd = 8 + (0..<8).reduce(0) { $0 | Int(bytes[$1]) << (8 * $1) }
        let cuts = Array(0...headerEnd) + stride(from: headerEnd + 1, to: bytes.count, by: bytes.count / 97) + [bytes.count - 1]
        for length in cuts {
            #expect(throws: SafeTensorsError.self, "cut at \(length) of \(bytes.count)") {
                try SafeTensors(bytes: Array(bytes.prefix(length)))
            }
        }
        #expect(try SafeTensors(bytes: bytes).names.count == 4)
    }

    @Test(arguments: cases) func fixtureMatchesItsMetadata(_ name: String) throws {
        let model = try Self.fixture(name, "model.safetensors")
        let vectors = try Self.fixture(name, "vectors.safetensors")
        #expect(model.metadata["format"] == "mcvd-1")
        let json = try #require(model.metadata["mcvd.config"]?.data(using: .utf8))
        let config = try #require(try JSONSerialization.jsonObject(with: json) as? [String: Any])
        let modelConfig = try #require(config["model"] as? [String: Any])
        let data = try #require(config["data"] as? [String: Any])
        let diffusion = try #require(config["diffusion"] as? [String: Any])
        #expect(diffusion["num_steps"] as? Int == 1000)
        #expect(vectors.metadata["mcvd.config"] == model.metadata["mcvd.config"])

        let c = try #require(data["channels"] as? Int), n = try #require(data["num_frames"] as? Int)
        let k = try #require(data["num_frames_cond"] as? Int), f = data["num_frames_future"] as? Int ?? 0
        let size = try #require(data["image_size"] as? Int)
        let ngf = try #require(modelConfig["ngf"] as? Int)
        let chMult = try #require(Self.ints(modelConfig["ch_mult"]))
        let spade = modelConfig["spade"] as? Bool ?? false

        // Vectors: batch 2, frames stacked on channels.
        #expect(vectors.names == ["cond", "out", "t", "x_t"])
        #expect(vectors.shape("x_t") == [2, c * n, size, size])
        #expect(vectors.shape("out") == [2, c * n, size, size])
        #expect(vectors.shape("cond") == [2, c * (k + f), size, size])
        #expect(vectors.shape("t") == [2])
        let t = try vectors.floats("t")
        #expect(t.allSatisfy { $0 >= 0 && $0 < 1000 && $0 == $0.rounded() } && t[0] != t[1])
        let out = try vectors.floats("out")
        #expect(out.count == 2 * c * n * size * size && out.allSatisfy { $0.isFinite })

        // Model: time embedding, first and last convolution as the reference lays them out.
        #expect(model.shape("unet.all_modules.0.weight") == [4 * ngf, ngf])
        #expect(model.shape("unet.all_modules.1.weight") == [4 * ngf, 4 * ngf])
        #expect(model.shape("unet.all_modules.2.weight") == [ngf, c * (spade ? n : n + k + f), 3, 3])
        let indices = model.names.compactMap { name -> Int? in
            let parts = name.split(separator: ".")
            return parts.count > 2 && parts[0] == "unet" && parts[1] == "all_modules" ? Int(parts[2]) : nil
        }
        let last = try #require(indices.max())
        #expect(model.shape("unet.all_modules.\(last).weight") == [c * n, ngf * chMult[0], 3, 3])
        for name in model.names {
            let values = try model.floats(name)
            #expect(values.count == (model.shape(name) ?? []).reduce(1, *), "\(name)")
            #expect(values.allSatisfy { $0.isFinite }, "\(name)")
        }
    }
}
