// Synthetic frames with known motion: a smooth aperiodic texture defined at real coordinates, so any
// sub-pixel translation, rotation or layered scene has an exact ground truth at any time.
import Foundation
@testable import Motion

/// A smooth texture with detail down to ~8 px: oblique sinusoids plus Gaussian blobs, on 0...255.
struct Texture {
    var seed: Int
    func callAsFunction(_ x: Double, _ y: Double) -> Double {
        var v = 128.0
        let s = Double(seed)
        let waves: [(Double, Double, Double, Double)] = [
            (0.21, 0.07, 24, 0.3), (-0.05, 0.17, 20, 1.1), (0.41, -0.33, 18, 2.0), (0.71, 0.43, 14, 0.7 + s),
            (-0.37, 0.83, 12, 0.1 * s),
        ]
        for (fx, fy, amp, ph) in waves { v += amp * sin(fx * (1 + 0.1 * s) * x + fy * y + ph + s) }
        for k in 0..<6 {
            let cx = Double((k * 37 + seed * 11) % 90), cy = Double((k * 53 + seed * 7) % 70)
            let d2 = (x - cx) * (x - cx) + (y - cy) * (y - cy)
            v += (k % 2 == 0 ? 30 : -30) * exp(-d2 / 12)
        }
        return min(max(v, 0), 255)
    }
}

/// An 8-bit gray frame with `pad` extra bytes per row (filled with 0xEE), from a function of (x, y).
struct GrayFrame {
    var width: Int, height: Int, stride: Int
    var bytes: [UInt8]

    init(width: Int, height: Int, pad: Int = 0, _ f: (Double, Double) -> Double) {
        self.width = width
        self.height = height
        stride = width + pad
        bytes = [UInt8](repeating: 0xEE, count: stride * height)
        for y in 0..<height { for x in 0..<width { bytes[y * stride + x] = UInt8(min(max(f(Double(x), Double(y)).rounded(), 0), 255)) } }
    }

    func sample(_ x: Int, _ y: Int) -> UInt8 { bytes[y * stride + x] }
    var samples: [UInt8] { (0..<height).flatMap { y in bytes[y * stride ..< y * stride + width] } }
}

/// Runs body with MotionPlanes over copies of the frames' bytes, then copies the bytes back.
func withPlanes<R>(_ frames: inout [GrayFrame], _ body: ([MotionPlane]) throws -> R) rethrows -> R {
    let buffers = frames.map { f -> UnsafeMutableRawBufferPointer in
        let b = UnsafeMutableRawBufferPointer.allocate(byteCount: f.bytes.count, alignment: 16)
        b.copyBytes(from: f.bytes)
        return b
    }
    defer { buffers.forEach { $0.deallocate() } }
    let planes = zip(frames, buffers).map { f, b in
        MotionPlane(base: b.baseAddress!, width: f.width, height: f.height, rowStride: f.stride, pixelStride: 1)
    }
    let r = try body(planes)
    for i in frames.indices { frames[i].bytes = [UInt8](buffers[i]) }
    return r
}

/// Estimates A -> B and renders the frame at t; returns the interpolator (fields kept) and the frame.
func interpolate(_ a: GrayFrame, _ b: GrayFrame, t: Float = 0.5, settings: MotionInterpolator.Settings = .init())
    throws -> (MotionInterpolator, GrayFrame) {
    let m = MotionInterpolator(settings: settings)
    var frames = [a, b, GrayFrame(width: a.width, height: a.height, pad: a.stride - a.width) { _, _ in 0 }]
    try withPlanes(&frames) { p in
        try m.estimate(a: .plane(p[0]), b: .plane(p[1]))
        try m.render(t: t, a: [p[0]], b: [p[1]], output: [p[2]])
    }
    return (m, frames[2])
}

/// PSNR (peak 255) over the samples where `include` holds (all by default).
func psnr(_ x: GrayFrame, _ y: GrayFrame, include: (Int, Int) -> Bool = { _, _ in true }) -> Double {
    var se = 0.0, n = 0
    for yy in 0..<x.height { for xx in 0..<x.width where include(xx, yy) {
        let d = Double(x.sample(xx, yy)) - Double(y.sample(xx, yy))
        se += d * d; n += 1
    } }
    return se == 0 ? 100 : 10 * log10(255 * 255 / (se / Double(n)))
}

/// The (a + b + 1) / 2 blend, as a reference.
func blend(_ a: GrayFrame, _ b: GrayFrame) -> GrayFrame {
    GrayFrame(width: a.width, height: a.height) { x, y in
        (Double(a.sample(Int(x), Int(y))) + Double(b.sample(Int(x), Int(y))) + 1) / 2 - 0.01
    }
}

func median(_ v: [Float]) -> Float { let s = v.sorted(); return s[s.count / 2] }
