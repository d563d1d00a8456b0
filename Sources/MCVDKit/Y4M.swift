// YUV4MPEG2 (.y4m) files: raw frames behind a one-line header, what GStreamer's y4menc writes and
// ffmpeg/mpv read. Here for examples/ and tests that want real video in and out without a pipeline:
//   gst-launch-1.0 filesrc location=in.mp4 ! decodebin ! videoconvert ! videoscale \
//       ! video/x-raw,format=I420,width=64,height=64 ! y4menc ! filesink location=in.y4m
// Colour spaces: 4:2:0 (C420, C420jpeg, C420mpeg2, C420paldv), 4:2:2 (C422), 4:4:4 (C444), mono (Cmono);
// 8 bits. Interlacing and aspect tokens are kept as written, not interpreted.
import Foundation

public struct Y4MVideo {
    public var width: Int, height: Int
    /// Frame rate numerator and denominator (the F token; 25:1 when absent).
    public var rateN: Int, rateD: Int
    public var format: PixelFormat
    public var frames: [FrameBuffer]

    public init(width: Int, height: Int, rateN: Int = 25, rateD: Int = 1, format: PixelFormat = .i420, frames: [FrameBuffer] = []) {
        self.width = width; self.height = height; self.rateN = rateN; self.rateD = rateD; self.format = format; self.frames = frames
    }

    static let colourTokens: [String: PixelFormat] = [
        "420": .i420, "420jpeg": .i420, "420mpeg2": .i420, "420paldv": .i420, "422": .y42b, "444": .y444, "mono": .gray8,
    ]

    /// Reads a whole file.
    public init(path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else { throw MCVDKitError("\(path): cannot read") }
        let bytes = [UInt8](data)
        func line(from start: Int) throws -> (String, Int) {
            guard let end = bytes[start...].firstIndex(of: 10) else { throw MCVDKitError("\(path): truncated y4m header") }
            return (String(decoding: bytes[start..<end], as: UTF8.self), end + 1)
        }
        let (header, afterHeader) = try line(from: 0)
        var tokens = header.split(separator: " ").map(String.init)
        guard tokens.first == "YUV4MPEG2" else { throw MCVDKitError("\(path): not a YUV4MPEG2 file") }
        tokens.removeFirst()
        var w = 0, h = 0, rate = (25, 1), format = PixelFormat.i420
        for t in tokens {
            let value = String(t.dropFirst())
            switch t.first {
            case "W": w = Int(value) ?? 0
            case "H": h = Int(value) ?? 0
            case "F":
                let p = value.split(separator: ":").compactMap { Int($0) }
                guard p.count == 2, p[0] > 0, p[1] > 0 else { throw MCVDKitError("\(path): bad frame rate \(t)") }
                rate = (p[0], p[1])
            case "C":
                guard let f = Self.colourTokens[value] else { throw MCVDKitError("\(path): colour space \(value) is not supported (8-bit 420, 422, 444, mono)") }
                format = f
            default: break
            }
        }
        guard w > 0, h > 0 else { throw MCVDKitError("\(path): no frame size in the header") }
        self.init(width: w, height: h, rateN: rate.0, rateD: rate.1, format: format)
        let size = (0..<format.planeCount).reduce(0) { $0 + format.rowBytes(plane: $1, width: w) * format.rows(plane: $1, height: h) }
        var pos = afterHeader
        while pos < bytes.count {
            let (frameHeader, start) = try line(from: pos)
            guard frameHeader.hasPrefix("FRAME") else { throw MCVDKitError("\(path): expected FRAME at byte \(pos)") }
            guard start + size <= bytes.count else { throw MCVDKitError("\(path): frame \(frames.count) is truncated") }
            frames.append(try FrameBuffer(format: format, width: w, height: h, bytes: Array(bytes[start ..< start + size])))
            pos = start + size
        }
    }

    /// Writes the header and every frame.
    public func write(path: String) throws {
        let token = Self.colourTokens.first { $0.value == format && ($0.key == "420jpeg" || $0.value != .i420) }!.key
        var out = Array("YUV4MPEG2 W\(width) H\(height) F\(rateN):\(rateD) Ip A1:1 C\(token)\n".utf8)
        for frame in frames {
            guard frame.format == format, frame.width == width, frame.height == height else {
                throw MCVDKitError("\(path): a \(frame.format.name) \(frame.width)x\(frame.height) frame in a \(format.name) \(width)x\(height) file")
            }
            out += Array("FRAME\n".utf8)
            out += frame.bytes
        }
        guard FileManager.default.createFile(atPath: path, contents: Data(out)) else { throw MCVDKitError("\(path): cannot write") }
    }
}
