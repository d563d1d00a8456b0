// A small PNG writer (8-bit gray or RGB, no interlace) for sampled frames and strips: zlib stream of
// stored (uncompressed) deflate blocks, so no compression library is needed; files are about the size
// of the raw pixels. Reading PNGs goes through GStreamer like any video (decodeVideo; pngdec).
// Formats: PNG spec (W3C, 2nd ed.) sec. 5 (chunks, CRC-32), 11.2 (IHDR); RFC 1950 (zlib, Adler-32),
// RFC 1951 sec. 3.2.4 (stored blocks).
import Foundation

public enum PNG {
    /// Encodes `pixels` (rows of width * channels bytes, channels interleaved; 1 = gray, 3 = RGB).
    public static func encode(width: Int, height: Int, channels: Int, pixels: [UInt8]) -> [UInt8] {
        precondition(channels == 1 || channels == 3, "PNG: 1 or 3 channels")
        precondition(width > 0 && height > 0 && pixels.count == width * height * channels, "PNG: pixel count")
        // Scanlines, each with filter type 0 (None).
        let row = width * channels
        var raw = [UInt8]()
        raw.reserveCapacity((row + 1) * height)
        for y in 0..<height {
            raw.append(0)
            raw += pixels[y * row ..< (y + 1) * row]
        }
        // zlib: CMF 0x78 (deflate, 32K window), FLG 0x01 (check bits; no dictionary, fastest level).
        var z: [UInt8] = [0x78, 0x01]
        var offset = 0
        repeat {
            let n = min(65_535, raw.count - offset)
            let final: UInt8 = offset + n == raw.count ? 1 : 0
            z += [final, UInt8(n & 0xFF), UInt8(n >> 8), UInt8(~n & 0xFF), UInt8((~n >> 8) & 0xFF)]
            z += raw[offset ..< offset + n]
            offset += n
        } while offset < raw.count
        z += bigEndian(adler32(raw))

        var out: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        // IHDR: width, height, bit depth 8, colour type 0 (gray) or 2 (RGB), deflate, filter 0, no interlace.
        out += chunk("IHDR", bigEndian(UInt32(width)) + bigEndian(UInt32(height)) + [8, channels == 1 ? 0 : 2, 0, 0, 0])
        out += chunk("IDAT", z)
        out += chunk("IEND", [])
        return out
    }

    /// Writes the PNG atomically (temp file + rename).
    public static func write(path: String, width: Int, height: Int, channels: Int, pixels: [UInt8]) throws {
        let bytes = encode(width: width, height: height, channels: channels, pixels: pixels)
        try Data(bytes).write(to: URL(fileURLWithPath: path), options: .atomic)
    }

    static func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
        let body = Array(type.utf8) + data
        return bigEndian(UInt32(data.count)) + body + bigEndian(crc32(body))
    }

    static func bigEndian(_ v: UInt32) -> [UInt8] {
        [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)]
    }

    static let crcTable: [UInt32] = (0..<256).map { n in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    /// CRC-32 (ISO 3309, reflected, polynomial 0xEDB88320), as PNG chunks use.
    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes { c = crcTable[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        return c ^ 0xFFFF_FFFF
    }

    /// Adler-32 (RFC 1950 sec. 8.2).
    static func adler32(_ bytes: [UInt8]) -> UInt32 {
        var a: UInt32 = 1, b: UInt32 = 0
        var i = 0
        while i < bytes.count {
            // 5552 bytes keep b below 2^32 before the modulo (RFC 1950's NMAX).
            let end = min(i + 5552, bytes.count)
            while i < end { a += UInt32(bytes[i]); b += a; i += 1 }
            a %= 65_521; b %= 65_521
        }
        return b << 16 | a
    }
}
