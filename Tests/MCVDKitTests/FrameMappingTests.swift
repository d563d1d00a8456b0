// Frames <-> planar tensors for every format the element takes. References are written here
// independently of FrameMapping.swift: packed test frames are built byte by byte from RGB pictures with
// the BT.601/709 equations, and read back through the mapping; then the mapping's output is written
// back and must give the same bytes (exact where the format keeps the information).
import Foundation
import MCVDKit
import Testing

/// The element's format list (CShims/CGstMcvd/include/CGstMcvd.h, GST_MCVD_FORMATS), as text.
let elementFormats = "GRAY8, RGB, BGR, RGBx, BGRx, xRGB, xBGR, RGBA, BGRA, ARGB, ABGR, AYUV, I420, YV12, NV12, NV21, Y42B, "
    + "NV16, Y41B, Y444, NV24, YUY2, UYVY, YVYU, GRAY16_LE, I420_10LE, I422_10LE, Y444_10LE"

/// A picture as RGB values in [0, 1] (per pixel r, g, b), away from the gamut edges so that YUV
/// quantisation stays inside RGB [0, 1]; chroma constant over 4x2 blocks (so every subsampling keeps it)
/// and luma varying per pixel.
func picture(width w: Int, height h: Int, seed: UInt64) -> [(Float, Float, Float)] {
    var s = seed
    func next() -> Float { s = s &* 6364136223846793005 &+ 1442695040888963407; return Float(s >> 40) / Float(1 << 24) }
    let blocks = (0..<((w + 3) / 4 * ((h + 1) / 2))).map { _ in (next() * 0.3 - 0.15, next() * 0.3 - 0.15) }
    return (0..<(w * h)).map { i in
        let (x, y) = (i % w, i / w)
        let (cb, cr) = blocks[(y / 2) * ((w + 3) / 4) + x / 4]
        let l = 0.3 + 0.4 * next()
        // BT.601 inverse: an RGB whose luma is l and chroma (cb, cr).
        let r = l + 1.402 * cr, b = l + 1.772 * cb, g = (l - 0.299 * r - 0.114 * b) / 0.587
        return (r, g, b)
    }
}

/// The frame's bytes written from scratch for `format` (BT.601 limited range for YUV, full-range codes for
/// gray and RGB: gray = BT.601 luma), alpha/x bytes 200 where the format has them.
func packedFrame(_ format: PixelFormat, width w: Int, height h: Int, _ px: [(Float, Float, Float)]) throws -> FrameBuffer {
    let buffer = try FrameBuffer(format: format, width: w, height: h, colour: ColourSpace(matrix: .bt601, limitedRange: true))
    let v = buffer.view
    let depth = format.depth, maxCode = Float((1 << depth) - 1), s = Float(1 << (depth - 8))
    func put(_ plane: Int, _ byteOffset: Int, _ value: Float) {
        let p = v.planes[plane].data + byteOffset
        let code = Int(value.rounded())
        if format.bytesPerSample == 1 { p.storeBytes(of: UInt8(code), as: UInt8.self) } else { p.storeBytes(of: UInt16(code), as: UInt16.self) }
    }
    let luma = { (p: (Float, Float, Float)) in 0.299 * p.0 + 0.587 * p.1 + 0.114 * p.2 }
    let name = format.name
    switch format.family {
    case .gray:
        for i in 0..<(w * h) { put(0, (i / w) * v.planes[0].stride + (i % w) * format.bytesPerSample, luma(px[i]) * maxCode) }
    case .rgb:
        // Byte order from the name: letters R, G, B, A/x in memory order.
        let order = Array(name)
        let size = order.count
        for i in 0..<(w * h) {
            let (r, g, b) = px[i]
            for (j, letter) in order.enumerated() {
                let value: Float = letter == "R" ? r * 255 : letter == "G" ? g * 255 : letter == "B" ? b * 255 : 200
                put(0, (i / w) * v.planes[0].stride + (i % w) * size + j, value)
            }
        }
    case .yuv:
        let y = { (p: (Float, Float, Float)) in (16 + 219 * luma(p)) * s }
        let u = { (p: (Float, Float, Float)) in (128 + 224 * (p.2 - luma(p)) / 1.772) * s }
        let vv = { (p: (Float, Float, Float)) in (128 + 224 * (p.0 - luma(p)) / 1.402) * s }
        let bps = format.bytesPerSample
        func at(_ x: Int, _ yy: Int) -> (Float, Float, Float) { px[min(yy, h - 1) * w + min(x, w - 1)] }
        switch name {
        case "AYUV":
            for i in 0..<(w * h) {
                let o = (i / w) * v.planes[0].stride + (i % w) * 4
                put(0, o, 200); put(0, o + 1, y(px[i])); put(0, o + 2, u(px[i])); put(0, o + 3, vv(px[i]))
            }
        case "YUY2", "UYVY", "YVYU":
            let layout: [Character: Int] = name == "YUY2" ? ["Y": 0, "U": 1, "V": 3] : name == "UYVY" ? ["Y": 1, "U": 0, "V": 2] : ["Y": 0, "V": 1, "U": 3]
            for yy in 0..<h {
                for x in 0..<w { put(0, yy * v.planes[0].stride + x * 2 + layout["Y"]!, y(at(x, yy))) }
                for x in stride(from: 0, to: w, by: 2) {
                    put(0, yy * v.planes[0].stride + x * 2 + layout["U"]!, u(at(x, yy)))
                    put(0, yy * v.planes[0].stride + x * 2 + layout["V"]!, vv(at(x, yy)))
                }
            }
        default:
            // Planar and semi-planar: subsampling (ws, hs), U/V planes and interleave.
            let sub: (Int, Int) = ["I420", "YV12", "NV12", "NV21", "I420_10LE"].contains(name) ? (2, 2)
                : ["Y42B", "NV16", "I422_10LE"].contains(name) ? (2, 1) : name == "Y41B" ? (4, 1) : (1, 1)
            for i in 0..<(w * h) { put(0, (i / w) * v.planes[0].stride + (i % w) * bps, y(px[i])) }
            let cw = (w + sub.0 - 1) / sub.0, ch = (h + sub.1 - 1) / sub.1
            for cy in 0..<ch {
                for cx in 0..<cw {
                    let p = at(cx * sub.0, cy * sub.1)
                    if name.hasPrefix("NV") {
                        let uFirst = name == "NV12" || name == "NV16" || name == "NV24"
                        let o = cy * v.planes[1].stride + cx * 2
                        put(1, o + (uFirst ? 0 : 1), u(p)); put(1, o + (uFirst ? 1 : 0), vv(p))
                    } else {
                        let (uPlane, vPlane) = name == "YV12" ? (2, 1) : (1, 2)
                        put(uPlane, cy * v.planes[uPlane].stride + cx * bps, u(p))
                        put(vPlane, cy * v.planes[vPlane].stride + cx * bps, vv(p))
                    }
                }
            }
        }
    }
    return buffer
}

@Suite struct FrameMappingTests {
    @Test func everyElementFormatIsKnown() {
        let names = elementFormats.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        #expect(names.count == 28)
        #expect(Set(names.compactMap { PixelFormat(name: $0)?.name }) == Set(names))
        #expect(PixelFormat.allCases.count == names.count)
        #expect(PixelFormat(name: "P010_10LE") == nil)
    }

    static let sizes = [(8, 6), (7, 5)]   // even, and odd (partial chroma blocks)

    /// 3-channel model: planar RGB equals the picture to within the format's quantisation, and writing
    /// it back gives the frame's bytes exactly (alpha/x bytes written opaque).
    @Test(arguments: PixelFormat.allCases)
    func rgbModelRoundTrip(_ format: PixelFormat) throws {
        for (w, h) in Self.sizes {
            let px = picture(width: w, height: h, seed: UInt64(w * 31 + h))
            let frame = try packedFrame(format, width: w, height: h, px)
            let planar = try frame.view.planar(channels: 3)
            #expect(planar.count == 3 * w * h)
            // Against the picture: gray frames hold luma only (R = G = B = luma).
            let luma = px.map { 0.299 * $0.0 + 0.587 * $0.1 + 0.114 * $0.2 }
            let tolerance: Float = format.family == .yuv ? 2.5 / 219 * 2 : 1.0 / 255 * 2
            var worst: Float = 0
            for i in 0..<(w * h) {
                let want = format.family == .gray ? [luma[i], luma[i], luma[i]] : [px[i].0, px[i].1, px[i].2]
                for c in 0..<3 { worst = max(worst, abs(planar[c * w * h + i] - (2 * want[c] - 1))) }
            }
            #expect(worst <= tolerance, "\(format.name) \(w)x\(h): max error \(worst)")
            // Back: the same bytes, except alpha/x bytes (opaque / untouched).
            let out = try FrameBuffer(format: format, width: w, height: h, colour: frame.colour)
            try out.view.write(planar, channels: 3)
            #expect(differences(frame, out, ignoringAlpha: true) == 0, "\(format.name) \(w)x\(h)")
        }
    }

    /// 1-channel model: gray and YUV frames give Y / max as is (what the trainer's GRAY8 decode sees),
    /// RGB frames their BT.601 luma; written back with keepColour into a copy of the frame the bytes stay
    /// (RGB: within one code, from rounding the luma shift).
    @Test(arguments: PixelFormat.allCases)
    func grayModelRoundTrip(_ format: PixelFormat) throws {
        for (w, h) in Self.sizes {
            let px = picture(width: w, height: h, seed: UInt64(w * 17 + h))
            let frame = try packedFrame(format, width: w, height: h, px)
            let planar = try frame.view.planar(channels: 1)
            let maxCode = Float(format.maxValue)
            for i in 0..<(w * h) {
                let l = 0.299 * px[i].0 + 0.587 * px[i].1 + 0.114 * px[i].2
                let code: Float = format.family == .yuv ? ((16 + 219 * l) * Float(1 << (format.depth - 8))).rounded()
                    : format.family == .gray ? (l * maxCode).rounded() : l * 255
                let tolerance: Float = format.family == .rgb ? 1.5 / 255 : 1e-5
                #expect(abs(planar[i] - (code / (maxCode / 2) - 1)) <= tolerance, "\(format.name) pixel \(i)")
            }
            let copy = try FrameBuffer(format: format, width: w, height: h, bytes: frame.bytes, colour: frame.colour)
            try copy.view.write(planar, channels: 1, keepColour: true)
            let worst = zip(samples(frame), samples(copy)).map { abs($0 - $1) }.max() ?? 0
            #expect(worst <= (format.family == .rgb ? 1 : 0), "\(format.name) \(w)x\(h): \(worst)")
            // Without keepColour: neutral chroma (YUV) or R = G = B (RGB), alpha opaque.
            let fresh = try FrameBuffer(format: format, width: w, height: h, colour: frame.colour)
            try fresh.view.write(planar, channels: 1)
            let back = try fresh.view.planar(channels: 3)
            let spread = (0..<(w * h)).map { i in max(abs(back[i] - back[w * h + i]), abs(back[i] - back[2 * w * h + i])) }.max()!
            #expect(spread <= 1e-5, "\(format.name): not gray, spread \(spread)")
            let again = try fresh.view.planar(channels: 1)
            let change = zip(again, planar).map { abs($0 - $1) }.max()!
            #expect(change <= (format.family == .rgb ? 1.01 / 255 : 1e-6), "\(format.name): luma changed by \(change)")
            if format.hasAlpha { #expect(samples(fresh).suffix(w * h).allSatisfy { $0 == 255 }, "\(format.name): alpha") }
        }
    }

    /// A 1-channel model's correction over a colour frame (the motion base's frame): every luma-carrying
    /// component (Y; R, G and B) moves by the correction times the code range, rounded and clamped; chroma,
    /// alpha and padding stay; zero leaves every byte; a wrong-sized correction is an error.
    @Test(arguments: PixelFormat.allCases)
    func addLumaMovesLumaOnly(_ format: PixelFormat) throws {
        for (w, h) in Self.sizes {
            let frame = try packedFrame(format, width: w, height: h, picture(width: w, height: h, seed: UInt64(w + 7 * h)))
            let copy = try FrameBuffer(format: format, width: w, height: h, bytes: frame.bytes, colour: frame.colour)
            try copy.view.addLuma([Float](repeating: 0, count: w * h))
            #expect(copy.bytes == frame.bytes, "\(format.name): a zero correction changed the frame")
            // Steps of 0.02 in [-1, 1] units (1.275 codes at 8 bits), and two that clamp.
            var correction: [Float] = (0..<(w * h)).map { i in Float(i % 9 - 4) * 0.02 }
            correction[0] = 3; correction[1] = -3
            try copy.view.addLuma(correction)
            let moved = format.family == .rgb ? 3 : 1, m = format.maxValue
            var before = samples(frame), after = samples(copy)
            for c in 0..<moved {
                for i in 0..<(w * h) {
                    let moved: Float = Float(before[c * w * h + i]) + correction[i] * Float(m) / 2
                    let want = min(max(Int(moved.rounded()), 0), m)
                    #expect(after[c * w * h + i] == want, "\(format.name) component \(c) pixel \(i)")
                }
            }
            #expect(after[0] == m && after[1] == 0, "\(format.name): clamping")
            before.removeFirst(moved * w * h); after.removeFirst(moved * w * h)
            #expect(before == after, "\(format.name): chroma or alpha changed")
            #expect(throws: MCVDKitError.self) { try copy.view.addLuma([Float](repeating: 0, count: w * h + 1)) }
        }
    }

    @Test func rangesClampingAndColourSpaces() throws {
        // [0, 1] models; values outside the range clamp to the extreme codes.
        let g = try FrameBuffer(format: .gray16LE, width: 3, height: 1, bytes: [0, 0, 0xff, 0x7f, 0xff, 0xff])
        #expect(try g.view.planar(channels: 1, range: .unit) == [0, Float(32767) / 65535, 1])
        try g.view.write([-0.5, 0.5, 7], channels: 1, range: .unit)
        #expect(g.bytes == [0, 0, 0x00, 0x80, 0xff, 0xff])
        try g.view.write([-3, 0, 3], channels: 1)
        #expect(g.bytes == [0, 0, 0x00, 0x80, 0xff, 0xff])
        // BT.709 differs from BT.601 on colour, not on gray; full range maps 0 and 255 to black and white.
        let yuv = try FrameBuffer(format: .y444, width: 1, height: 1, bytes: [120, 90, 200])
        let (c601, c709) = try withExtendedLifetime(yuv) {
            (try FrameView(format: .y444, width: 1, height: 1, planes: yuv.view.planes, colour: ColourSpace(matrix: .bt601)).planar(channels: 3),
             try FrameView(format: .y444, width: 1, height: 1, planes: yuv.view.planes, colour: ColourSpace(matrix: .bt709)).planar(channels: 3))
        }
        // Reference values: R = Y' + 2 (1 - Kr) Cr etc. with Y' = (120 - 16) / 219, Cb = -38 / 224, Cr = 72 / 224.
        let l: Float = 104.0 / 219, cb: Float = -38.0 / 224, cr: Float = 72.0 / 224
        func rgb(_ kr: Float, _ kb: Float) -> [Float] {
            let r = l + 2 * (1 - kr) * cr, b = l + 2 * (1 - kb) * cb
            return [r, (l - kr * r - kb * b) / (1 - kr - kb), b].map { 2 * $0 - 1 }
        }
        #expect(zip(c601, rgb(0.299, 0.114)).allSatisfy { abs($0 - $1) < 1e-5 }, "\(c601)")
        #expect(zip(c709, rgb(0.2126, 0.0722)).allSatisfy { abs($0 - $1) < 1e-5 }, "\(c709)")
        let full = try FrameBuffer(format: .i420, width: 2, height: 2, bytes: [0, 255, 0, 255, 128, 128],
                                   colour: ColourSpace(limitedRange: false))
        #expect(try full.view.planar(channels: 3) == [-1, 1, -1, 1, -1, 1, -1, 1, -1, 1, -1, 1])
    }

    @Test func viewsCheckTheirPlanesAndCrop() throws {
        let frame = try FrameBuffer(format: .nv12, width: 8, height: 4, bytes: (0..<48).map { UInt8($0) })
        let v = frame.view
        #expect(throws: MCVDKitError.self) { try FrameView(format: .nv12, width: 8, height: 4, planes: [v.planes[0]]) }
        #expect(throws: MCVDKitError.self) {
            try FrameView(format: .nv12, width: 8, height: 4, planes: [FramePlane(data: v.planes[0].data, stride: 7), v.planes[1]])
        }
        #expect(throws: MCVDKitError.self) { try v.cropped(x: 1, y: 0, width: 4, height: 2) }   // odd x in 4:2:0
        #expect(throws: MCVDKitError.self) { try v.cropped(x: 6, y: 0, width: 4, height: 2) }   // outside
        #expect(throws: MCVDKitError.self) { try v.planar(channels: 2) }
        #expect(throws: MCVDKitError.self) { try v.write([0, 0], channels: 1) }
        // A crop reads what the full frame has at those pixels (luma and chroma).
        let crop = try v.cropped(x: 2, y: 2, width: 4, height: 2)
        let all = try v.planar(channels: 3), part = try crop.planar(channels: 3)
        for c in 0..<3 {
            for y in 0..<2 { for x in 0..<4 { #expect(part[(c * 2 + y) * 4 + x] == all[(c * 4 + y + 2) * 8 + x + 2]) } }
        }
        // Bytes must match the format's size.
        #expect(throws: MCVDKitError.self) { try FrameBuffer(format: .i420, width: 4, height: 4, bytes: [UInt8](repeating: 0, count: 20)) }
    }
}

/// Every sample (component value) of the frame, component-major.
func samples(_ b: FrameBuffer, ignoringAlpha: Bool = false) -> [Int] {
    let v = b.view, f = b.format
    var out: [Int] = []
    for (i, c) in f.components.enumerated() where !(ignoringAlpha && i == 3) {
        for y in 0..<c.height(b.height) {
            for x in 0..<c.width(b.width) {
                let p = v.planes[c.plane].data + y * v.planes[c.plane].stride + c.offset + x * c.pixelStride
                out.append(f.bytesPerSample == 1 ? Int(p.load(as: UInt8.self)) : Int(p.loadUnaligned(as: UInt16.self)))
            }
        }
    }
    return out
}

func differences(_ a: FrameBuffer, _ b: FrameBuffer, ignoringAlpha: Bool) -> Int {
    zip(samples(a, ignoringAlpha: ignoringAlpha), samples(b, ignoringAlpha: ignoringAlpha)).filter { $0 != $1 }.count
}
