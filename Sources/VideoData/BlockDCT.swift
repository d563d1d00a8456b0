// A JPEG-like round trip for synthetic clips: 8x8 blocks, orthonormal DCT-II, quantisation with the
// example tables of the JPEG standard (ITU-T T.81 Annex K.1 luminance, K.2 chrominance) scaled by a
// quality 1...100 as libjpeg does (50: the tables as printed), inverse DCT, rounding to 8 bits. RGB goes
// through JFIF's YCbCr (full range), chroma at full resolution (no subsampling). Edge blocks of a size
// that is not a multiple of 8 are padded by repeating the last row and column.
import Foundation

public enum BlockDCT {
    static let luminance: [Int] = [
        16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
        14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
        18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
        49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
    ]
    static let chrominance: [Int] = [
        17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99,
        24, 26, 56, 99, 99, 99, 99, 99, 47, 66, 99, 99, 99, 99, 99, 99,
    ] + [Int](repeating: 99, count: 32)

    /// libjpeg's jpeg_quality_scaling and baseline clamp to 1...255.
    public static func table(_ base: [Int], quality: Int) -> [Float] {
        let q = min(100, max(1, quality))
        let scale = q < 50 ? 5000 / q : 200 - 2 * q
        return base.map { Float(min(255, max(1, ($0 * scale + 50) / 100))) }
    }

    /// cosines[u * 8 + x] = alpha(u) cos((2x + 1) u pi / 16).
    static let cosines: [Float] = (0..<64).map { i in
        let u = i / 8, x = i % 8
        let alpha = u == 0 ? (1.0 / 8).squareRoot() : (2.0 / 8).squareRoot()
        return Float(alpha * cos(Double(2 * x + 1) * Double(u) * Double.pi / 16))
    }

    /// Quantises one plane (width x height Float, level-shifted by the caller) in place.
    static func quantise(_ plane: inout [Float], width: Int, height: Int, table: [Float]) {
        var block = [Float](repeating: 0, count: 64), tmp = [Float](repeating: 0, count: 64)
        let c = cosines
        for by in stride(from: 0, to: height, by: 8) {
            for bx in stride(from: 0, to: width, by: 8) {
                for y in 0..<8 {
                    for x in 0..<8 { block[y * 8 + x] = plane[min(by + y, height - 1) * width + min(bx + x, width - 1)] }
                }
                // F = C B C^T: rows then columns.
                for y in 0..<8 {
                    for u in 0..<8 {
                        var s: Float = 0
                        for x in 0..<8 { s += c[u * 8 + x] * block[y * 8 + x] }
                        tmp[y * 8 + u] = s
                    }
                }
                for u in 0..<8 {
                    for v in 0..<8 {
                        var s: Float = 0
                        for y in 0..<8 { s += c[v * 8 + y] * tmp[y * 8 + u] }
                        let q = table[v * 8 + u]
                        block[v * 8 + u] = (s / q).rounded() * q
                    }
                }
                // B = C^T F C.
                for v in 0..<8 {
                    for x in 0..<8 {
                        var s: Float = 0
                        for u in 0..<8 { s += c[u * 8 + x] * block[v * 8 + u] }
                        tmp[v * 8 + x] = s
                    }
                }
                for y in 0..<8 where by + y < height {
                    for x in 0..<8 where bx + x < width {
                        var s: Float = 0
                        for v in 0..<8 { s += c[v * 8 + y] * tmp[v * 8 + x] }
                        plane[(by + y) * width + bx + x] = s
                    }
                }
            }
        }
    }

    /// The round trip of an 8-bit gray or RGB (interleaved) image at `quality`, in place.
    public static func roundTrip(_ pixels: inout [UInt8], width: Int, height: Int, channels: Int, quality: Int) {
        precondition((channels == 1 || channels == 3) && pixels.count == width * height * channels)
        let n = width * height
        func byte(_ v: Float) -> UInt8 { UInt8(min(255, max(0, v.rounded()))) }
        if channels == 1 {
            var plane = pixels.map { Float($0) - 128 }
            quantise(&plane, width: width, height: height, table: table(luminance, quality: quality))
            for i in 0..<n { pixels[i] = byte(plane[i] + 128) }
            return
        }
        var yp = [Float](repeating: 0, count: n), cb = yp, cr = yp
        for i in 0..<n {
            let r = Float(pixels[3 * i]), g = Float(pixels[3 * i + 1]), b = Float(pixels[3 * i + 2])
            yp[i] = 0.299 * r + 0.587 * g + 0.114 * b - 128
            cb[i] = -0.168_736 * r - 0.331_264 * g + 0.5 * b
            cr[i] = 0.5 * r - 0.418_688 * g - 0.081_312 * b
        }
        quantise(&yp, width: width, height: height, table: table(luminance, quality: quality))
        let chroma = table(chrominance, quality: quality)
        quantise(&cb, width: width, height: height, table: chroma)
        quantise(&cr, width: width, height: height, table: chroma)
        for i in 0..<n {
            let y = yp[i] + 128
            pixels[3 * i] = byte(y + 1.402 * cr[i])
            pixels[3 * i + 1] = byte(y - 0.344_136 * cb[i] - 0.714_136 * cr[i])
            pixels[3 * i + 2] = byte(y + 1.772 * cb[i])
        }
    }
}
