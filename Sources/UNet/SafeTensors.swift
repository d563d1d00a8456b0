// safetensors reader and writer (https://huggingface.co/docs/safetensors): u64 LE header length, a
// JSON header {name: {dtype, shape, data_offsets}, "__metadata__": {string: string}}, then the data.
// Everything is validated on open; tensors are converted to Float on demand. The model layout that
// the names follow is described in docs/model-format.md and lives in the U-Net files.
import Foundation

/// A problem with a safetensors file: `file` is its path (or "<memory>"), `message` says what is
/// wrong and names the tensor when one is concerned.
public struct SafeTensorsError: Error, CustomStringConvertible, Sendable {
    public let file: String
    public let message: String

    public init(file: String, message: String) {
        self.file = file
        self.message = message
    }

    public var description: String { "safetensors \(file): \(message)" }
}

public struct SafeTensors: Sendable {
    /// Element types this project reads. Any other dtype in a header is rejected by name.
    enum DType: String, Sendable {
        case f32 = "F32", f16 = "F16", bf16 = "BF16"

        var size: Int { self == .f32 ? 4 : 2 }
    }

    struct Entry: Sendable {
        let dtype: DType
        let shape: [Int]
        let begin: Int  // absolute byte offsets into `bytes`
        let end: Int
    }

    /// Header sizes above this are refused before anything is allocated for them (the reference
    /// implementation uses the same 100 MB bound).
    static let maxHeaderLength = 100_000_000
    static let maxRank = 16

    private let bytes: [UInt8]
    private let entries: [String: Entry]
    private let file: String

    public let metadata: [String: String]

    public var names: [String] { entries.keys.sorted() }

    public func shape(_ name: String) -> [Int]? { entries[name]?.shape }

    public init(path: String) throws {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path), options: .mappedIfSafe)
        } catch {
            throw SafeTensorsError(file: path, message: "cannot read file: \(error.localizedDescription)")
        }
        try self.init(bytes: [UInt8](data), file: path)
    }

    public init(bytes: [UInt8]) throws {
        try self.init(bytes: bytes, file: "<memory>")
    }

    private init(bytes: [UInt8], file: String) throws {
        func failure(_ message: String) -> SafeTensorsError { SafeTensorsError(file: file, message: message) }

        // 1. Header length: u64 little endian, bounded, inside the file.
        guard bytes.count >= 8 else {
            throw failure("file is \(bytes.count) bytes, shorter than the 8-byte header length")
        }
        var headerLength: UInt64 = 0
        for i in 0..<8 { headerLength |= UInt64(bytes[i]) << (8 * UInt64(i)) }
        guard headerLength >= 2 else { throw failure("header length \(headerLength) is too small for a JSON object") }
        guard headerLength <= UInt64(Self.maxHeaderLength) else {
            throw failure("header length \(headerLength) exceeds the maximum \(Self.maxHeaderLength)")
        }
        let dataStart = 8 + Int(headerLength)
        guard dataStart <= bytes.count else {
            throw failure("header length \(headerLength) runs past the end of the file (\(bytes.count) bytes)")
        }

        // 2. Header: valid UTF-8 JSON object.
        let headerBytes = Array(bytes[8..<dataStart])
        guard String(validating: headerBytes, as: UTF8.self) != nil else { throw failure("header is not valid UTF-8") }
        let header: JSONValue
        do {
            header = try JSONReader.parse(headerBytes)
        } catch {
            throw failure("header is not valid JSON: \(error.message) at header byte \(error.offset)")
        }
        guard case .object(let fields) = header else {
            throw failure("header is a JSON \(header.kindName), expected an object")
        }

        // 3. Metadata: string -> string.
        var metadata: [String: String] = [:]
        if let meta = fields["__metadata__"] {
            guard case .object(let pairs) = meta else {
                throw failure("__metadata__ is a JSON \(meta.kindName), expected an object of strings")
            }
            for (key, value) in pairs {
                guard case .string(let s) = value else {
                    throw failure("__metadata__ value for '\(key)' is a JSON \(value.kindName), expected a string")
                }
                metadata[key] = s
            }
        }

        // 4. Tensors: dtype, shape, offsets, sizes.
        let dataLength = bytes.count - dataStart
        var entries: [String: Entry] = [:]
        for (name, value) in fields where name != "__metadata__" {
            func bad(_ message: String) -> SafeTensorsError { failure("tensor '\(name)': \(message)") }
            guard case .object(let info) = value else { throw bad("entry is a JSON \(value.kindName), expected an object") }

            guard case .string(let dtypeName)? = info["dtype"] else { throw bad("missing or non-string 'dtype'") }
            guard let dtype = DType(rawValue: dtypeName) else {
                throw bad("unsupported dtype \(dtypeName) (supported: F32, F16, BF16)")
            }

            guard case .array(let dims)? = info["shape"] else { throw bad("missing or non-array 'shape'") }
            guard dims.count <= Self.maxRank else { throw bad("rank \(dims.count) exceeds \(Self.maxRank)") }
            var shape: [Int] = []
            var count = 1
            for dim in dims {
                guard case .integer(let d) = dim, d >= 0 else {
                    throw bad("shape \(Self.render(dims)) has a dimension that is not a non-negative integer")
                }
                let (product, overflow) = count.multipliedReportingOverflow(by: d)
                guard !overflow else { throw bad("shape \(Self.render(dims)) has too many elements") }
                shape.append(d)
                count = product
            }
            let (byteCount, overflow) = count.multipliedReportingOverflow(by: dtype.size)
            guard !overflow else { throw bad("shape \(shape) has too many bytes") }

            guard case .array(let offsets)? = info["data_offsets"], offsets.count == 2,
                  case .integer(let begin) = offsets[0], case .integer(let end) = offsets[1]
            else { throw bad("'data_offsets' must be an array of two integers") }
            guard begin >= 0, end >= begin else { throw bad("data_offsets [\(begin), \(end)] are not an ordered range") }
            guard end <= dataLength else {
                throw bad("data_offsets [\(begin), \(end)] run past the data section (\(dataLength) bytes)")
            }
            guard end - begin == byteCount else {
                throw bad("data_offsets [\(begin), \(end)] hold \(end - begin) bytes but shape \(shape) of \(dtypeName) needs \(byteCount)")
            }
            entries[name] = Entry(dtype: dtype, shape: shape, begin: dataStart + begin, end: dataStart + end)
        }

        // 5. No two non-empty tensors share bytes.
        let ordered = entries.filter { $0.value.end > $0.value.begin }.sorted { $0.value.begin < $1.value.begin }
        for (previous, next) in zip(ordered, ordered.dropFirst()) where next.value.begin < previous.value.end {
            throw failure("tensors '\(previous.key)' and '\(next.key)' overlap in the data section")
        }

        self.bytes = bytes
        self.entries = entries
        self.file = file
        self.metadata = metadata
    }

    private static func render(_ dims: [JSONValue]) -> String {
        "[" + dims.map { dim -> String in
            switch dim {
            case .integer(let i): return String(i)
            case .number(let d): return String(d)
            default: return dim.kindName
            }
        }.joined(separator: ", ") + "]"
    }

    /// The tensor's elements converted to Float, in row-major order.
    public func floats(_ name: String) throws -> [Float] {
        guard let entry = entries[name] else {
            throw SafeTensorsError(file: file, message: "no tensor named '\(name)'")
        }
        let count = (entry.end - entry.begin) / entry.dtype.size
        return bytes.withUnsafeBytes { all in
            let raw = UnsafeRawBufferPointer(rebasing: all[entry.begin..<entry.end])
            switch entry.dtype {
            case .f32:
                return (0..<count).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) }
            case .f16:
                return (0..<count).map { Self.halfToFloat(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * $0, as: UInt16.self))) }
            case .bf16:
                return (0..<count).map { Float(bitPattern: UInt32(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * $0, as: UInt16.self))) << 16) }
            }
        }
    }

    /// IEEE 754 binary16 -> binary32, exact for every input (subnormals, infinities, NaN payloads).
    static func halfToFloat(_ h: UInt16) -> Float {
        let sign = UInt32(h >> 15) << 31
        let exponent = Int((h >> 10) & 0x1F)
        let mantissa = UInt32(h & 0x3FF)
        switch exponent {
        case 0:
            // Zero or subnormal: mantissa * 2^-24, exact in Float.
            let magnitude = Float(mantissa) * 0x1p-24
            return sign != 0 ? -magnitude : magnitude
        case 0x1F:
            return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13))
        default:
            return Float(bitPattern: sign | UInt32(exponent - 15 + 127) << 23 | (mantissa << 13))
        }
    }

    /// How `write` stores the values: F32, or F16 (IEEE binary16, rounded to nearest even; a finite value
    /// beyond F16's range is an error, not an infinity).
    public enum StoredType: String, Sendable, CaseIterable { case f32, f16 }

    /// Writes tensors with string metadata. The header is padded with spaces to a multiple of
    /// 8 bytes so the data section stays aligned; the file appears atomically (temp file + rename).
    public static func write(path: String, tensors: [(name: String, shape: [Int], data: [Float])],
                             metadata: [String: String], as stored: StoredType = .f32) throws {
        func failure(_ message: String) -> SafeTensorsError { SafeTensorsError(file: path, message: message) }
        var seen = Set<String>()
        var items: [String] = []
        var offset = 0
        for tensor in tensors {
            guard tensor.name != "__metadata__" else { throw failure("'__metadata__' is not a valid tensor name") }
            guard seen.insert(tensor.name).inserted else { throw failure("tensor '\(tensor.name)' given twice") }
            var count = 1
            for d in tensor.shape {
                guard d >= 0 else { throw failure("tensor '\(tensor.name)': negative dimension in shape \(tensor.shape)") }
                let (product, overflow) = count.multipliedReportingOverflow(by: d)
                guard !overflow else { throw failure("tensor '\(tensor.name)': shape \(tensor.shape) is too large") }
                count = product
            }
            guard count == tensor.data.count else {
                throw failure("tensor '\(tensor.name)': shape \(tensor.shape) needs \(count) values, got \(tensor.data.count)")
            }
            if stored == .f16, let bad = tensor.data.first(where: { $0.isFinite && !Float16($0).isFinite }) {
                throw failure("tensor '\(tensor.name)': \(bad) is beyond the F16 range")
            }
            let shape = tensor.shape.map(String.init).joined(separator: ",")
            let size = stored == .f32 ? 4 : 2
            items.append("\(jsonQuoted(tensor.name)):{\"dtype\":\"\(stored.rawValue.uppercased())\",\"shape\":[\(shape)],"
                         + "\"data_offsets\":[\(offset),\(offset + size * count)]}")
            offset += size * count
        }
        if !metadata.isEmpty {
            let pairs = metadata.keys.sorted().map { "\(jsonQuoted($0)):\(jsonQuoted(metadata[$0]!))" }
            items.insert("\"__metadata__\":{\(pairs.joined(separator: ","))}", at: 0)
        }
        var header = Array(("{" + items.joined(separator: ",") + "}").utf8)
        while header.count % 8 != 0 { header.append(0x20) }

        var out: [UInt8] = []
        out.reserveCapacity(8 + header.count + offset)
        let length = UInt64(header.count)
        for i in 0..<8 { out.append(UInt8(truncatingIfNeeded: length >> (8 * UInt64(i)))) }
        out.append(contentsOf: header)
        for tensor in tensors {
            for value in tensor.data {
                if stored == .f16 {
                    let bits = Float16(value).bitPattern
                    out.append(UInt8(truncatingIfNeeded: bits))
                    out.append(UInt8(truncatingIfNeeded: bits >> 8))
                    continue
                }
                let bits = value.bitPattern
                out.append(UInt8(truncatingIfNeeded: bits))
                out.append(UInt8(truncatingIfNeeded: bits >> 8))
                out.append(UInt8(truncatingIfNeeded: bits >> 16))
                out.append(UInt8(truncatingIfNeeded: bits >> 24))
            }
        }
        do {
            try Data(out).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw failure("cannot write file: \(error.localizedDescription)")
        }
    }
}
