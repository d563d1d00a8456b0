// Test helpers: tiny configs and a synthetic moving-shapes video (bright squares drifting over a dark
// gradient, gray, values in [-1, 1]) generated from a seed.
import Diffusion
import UNet

enum Tiny {
    static func config(size: Int = 8, spade: Bool = false, past: Int = 2, future: Int = 1) -> UNetConfig {
        UNetConfig(ngf: 8, chMult: [1, 2], numResBlocks: 1, attnResolutions: [size / 2], nHeadChannels: -1,
                   spade: spade, spadeDim: 16, imageSize: size, channels: 1, numFrames: 1, numFramesCond: past,
                   numFramesFuture: future)
    }
}

struct TestRng {
    var s: UInt64
    init(_ seed: UInt64) { s = seed &* 0x9E3779B97F4A7C15 | 1 }
    mutating func next() -> Double {
        s ^= s << 13; s ^= s >> 7; s ^= s << 17
        return Double(s >> 11) / Double(1 << 53)
    }
}

/// Moving shapes: each clip is `frames` frames of size x size; one square of side 3..5 px with a
/// sub-pixel velocity (anti-aliased by area coverage) over a static horizontal gradient.
enum MovingShapes {
    static func clips(count: Int, frames: Int, size: Int, seed: UInt64) -> [Float] {
        var rng = TestRng(seed)
        var out = [Float]()
        out.reserveCapacity(count * frames * size * size)
        for _ in 0..<count {
            let side = 3 + 2 * rng.next()
            var x = rng.next() * Double(size - 6) + 1, y = rng.next() * Double(size - 6) + 1
            var vx = (rng.next() * 2 - 1) * 1.2, vy = (rng.next() * 2 - 1) * 1.2
            let level = 0.6 + 0.4 * rng.next()
            for _ in 0..<frames {
                for r in 0..<size {
                    for c in 0..<size {
                        let bg = -0.8 + 0.3 * Double(c) / Double(size)
                        let cx = max(0, min(Double(c + 1), x + side) - max(Double(c), x))
                        let cy = max(0, min(Double(r + 1), y + side) - max(Double(r), y))
                        out.append(Float(bg + (level - bg) * cx * cy))
                    }
                }
                x += vx; y += vy
                if x < 0 || x + side > Double(size) { vx = -vx; x += 2 * vx }
                if y < 0 || y + side > Double(size) { vy = -vy; y += 2 * vy }
            }
        }
        return out
    }
}
