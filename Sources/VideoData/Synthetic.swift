// Synthetic training clips with exact ground truth, made by moving real still images (photos that Debian
// packages ship; StillImages.defaultPaths): a camera that pans, zooms and rotates over one still, 0-3
// foreground layers (patches of other stills under a hard or soft ellipse or rectangle mask) that move
// on their own and occlude the background, then a global brightness ramp, sensor noise and JPEG-like
// compression. Every frame is rendered straight from the full-resolution still at its own time (no
// frame is made from another, so nothing blurs as the clip goes on), each output pixel the mean of
// s x s bilinear samples over its footprint, as a sensor integrates. A clip is a pure function of
// (seed, clip index, layout): SyntheticClips draws the scene, render/finish make the frames.
// docs/synthetic.md says what it makes and how to reproduce the figures.
import Diffusion
import Foundation

/// A still image held as Float (0...255), rows packed, channels interleaved (HWC).
public final class Still: @unchecked Sendable {
    public let path: String
    public let width: Int, height: Int, channels: Int
    let storage: UnsafeMutableBufferPointer<Float>

    public init(path: String = "", width: Int, height: Int, channels: Int, pixels: [Float]) {
        precondition(width > 0 && height > 0 && (channels == 1 || channels == 3) && pixels.count == width * height * channels,
                     "still: pixel count does not match \(width)x\(height)x\(channels)")
        self.path = path; self.width = width; self.height = height; self.channels = channels
        storage = .allocate(capacity: pixels.count)
        _ = storage.initialize(from: pixels)
    }

    /// The first frame of a decoded file.
    public convenience init(_ v: DecodedVideo) {
        self.init(path: v.path, width: v.width, height: v.height, channels: v.channels, pixels: v.frames[0].map(Float.init))
    }

    deinit { storage.deallocate() }

    public var pixels: [Float] { Array(storage) }

    /// A view for the render loops (no reference counting there); valid while the still lives.
    var view: StillView { StillView(pixels: UnsafePointer(storage.baseAddress!), width: width, height: height, channels: channels) }
}

struct StillView {
    let pixels: UnsafePointer<Float>
    let width: Int, height: Int, channels: Int

    /// Bilinear sample at (x, y) in pixel units (pixel i covers [i, i + 1), its centre at i + 0.5),
    /// edges clamped, into out[0 ..< channels].
    @inline(__always)
    func sample(_ x: Double, _ y: Double) -> SIMD3<Float> {
        let fx = x - 0.5, fy = y - 0.5
        let x0 = fx.rounded(.down), y0 = fy.rounded(.down)
        let wx = Float(fx - x0), wy = Float(fy - y0)
        let ix = Int(x0), iy = Int(y0)
        let xa = min(max(ix, 0), width - 1), xb = min(max(ix + 1, 0), width - 1)
        let ya = min(max(iy, 0), height - 1), yb = min(max(iy + 1, 0), height - 1)
        let c = channels
        let a = (ya * width + xa) * c, b = (ya * width + xb) * c, d = (yb * width + xa) * c, e = (yb * width + xb) * c
        let w00 = (1 - wx) * (1 - wy), w01 = wx * (1 - wy), w10 = (1 - wx) * wy, w11 = wx * wy
        var out = SIMD3<Float>(0, 0, 0)
        for k in 0..<c {
            out[k] = w00 * pixels[a + k] + w01 * pixels[b + k] + w10 * pixels[d + k] + w11 * pixels[e + k]
        }
        return out
    }
}

/// Everything that makes one synthetic clip; frames at time t (in source frames) follow from it exactly.
public struct SyntheticScene: Sendable, Equatable {
    /// The camera over the background still: output pixel centre (u, v) from the frame centre maps to
    /// still point centre(t) + scale(t) * R(angle(t)) (u, v), with centre(t) = center + velocity t +
    /// acceleration t^2 / 2, scale(t) = scale * exp(zoomRate t), angle(t) = angle + angularVelocity t.
    public struct Camera: Sendable, Equatable {
        public var still: Int
        public var center: SIMD2<Double>
        public var velocity = SIMD2<Double>(0, 0), acceleration = SIMD2<Double>(0, 0)
        /// Still pixels per output pixel at t = 0 (> 1: the still is sharper than the output).
        public var scale: Double
        public var zoomRate = 0.0
        public var angle = 0.0, angularVelocity = 0.0
        public init(still: Int, center: SIMD2<Double>, velocity: SIMD2<Double> = .zero, acceleration: SIMD2<Double> = .zero,
                    scale: Double = 1, zoomRate: Double = 0, angle: Double = 0, angularVelocity: Double = 0) {
            self.still = still; self.center = center; self.velocity = velocity; self.acceleration = acceleration
            self.scale = scale; self.zoomRate = zoomRate; self.angle = angle; self.angularVelocity = angularVelocity
        }
    }

    public enum Shape: Sendable, Equatable { case ellipse, rectangle }

    /// A rigid foreground patch in output coordinates: a point q in the layer's own frame (output pixels,
    /// from its centre) is at position(t) + R(angle(t)) q on screen and shows still point
    /// textureCenter + textureScale * R(textureAngle) q; |q| inside the shape (halfSize) is covered.
    public struct Layer: Sendable, Equatable {
        public var still: Int
        public var textureCenter: SIMD2<Double>
        public var textureScale = 1.0, textureAngle = 0.0
        /// Output pixels from the frame centre at t = 0, and its motion (output pixels per frame).
        public var position: SIMD2<Double>
        public var velocity = SIMD2<Double>(0, 0), acceleration = SIMD2<Double>(0, 0)
        public var angle = 0.0, angularVelocity = 0.0
        public var halfSize: SIMD2<Double>
        public var shape = Shape.ellipse
        /// Output pixels over which the mask falls from 1 to 0 across the edge; 0: a hard edge.
        public var softness = 0.0
        public init(still: Int, textureCenter: SIMD2<Double>, textureScale: Double = 1, textureAngle: Double = 0,
                    position: SIMD2<Double>, velocity: SIMD2<Double> = .zero, acceleration: SIMD2<Double> = .zero,
                    angle: Double = 0, angularVelocity: Double = 0, halfSize: SIMD2<Double>, shape: Shape = .ellipse,
                    softness: Double = 0) {
            self.still = still; self.textureCenter = textureCenter; self.textureScale = textureScale
            self.textureAngle = textureAngle; self.position = position; self.velocity = velocity
            self.acceleration = acceleration; self.angle = angle; self.angularVelocity = angularVelocity
            self.halfSize = halfSize; self.shape = shape; self.softness = softness
        }

        /// Coverage (0...1) of layer point q.
        @inline(__always)
        func coverage(_ q: SIMD2<Double>) -> Double {
            let signed: Double   // ~ signed distance to the edge in output pixels, negative inside
            switch shape {
            case .rectangle:
                let d = SIMD2(abs(q.x), abs(q.y)) - halfSize
                signed = max(d.x, d.y)
            case .ellipse:
                let n = q / halfSize
                signed = ((n.x * n.x + n.y * n.y).squareRoot() - 1) * min(halfSize.x, halfSize.y)
            }
            if softness <= 0 { return signed <= 0 ? 1 : 0 }
            return min(1, max(0, 0.5 - signed / softness))
        }
    }

    public var camera: Camera
    /// Bottom first: a later layer covers an earlier one.
    public var layers: [Layer] = []
    /// Brightness multiplier gain * (1 + gainRate t).
    public var gain = 1.0, gainRate = 0.0
    /// Gaussian sensor noise, in levels of 255.
    public var noiseSigma = 0.0
    /// JPEG-like quantised 8x8 DCT at this quality (1...100), nil: none.
    public var jpegQuality: Int?
    /// s x s samples per output pixel.
    public var supersampling = 1
    /// Names the noise streams.
    public var noiseSeed: UInt64 = 0

    public init(camera: Camera, layers: [Layer] = [], gain: Double = 1, gainRate: Double = 0, noiseSigma: Double = 0,
                jpegQuality: Int? = nil, supersampling: Int = 1, noiseSeed: UInt64 = 0) {
        self.camera = camera; self.layers = layers; self.gain = gain; self.gainRate = gainRate
        self.noiseSigma = noiseSigma; self.jpegQuality = jpegQuality; self.supersampling = supersampling
        self.noiseSeed = noiseSeed
    }

    /// The clean frames (before brightness, noise and compression) at `times` (source frames), each
    /// width * height * channels Float on the 0...255 scale, HWC. `stills` are indexed by the scene.
    public func render(stills: [Still], times: [Double], width: Int, height: Int) -> [[Float]] {
        precondition(width > 0 && height > 0 && supersampling >= 1)
        let channels = stills[camera.still].channels
        precondition(layers.allSatisfy { stills[$0.still].channels == channels }, "stills of one scene differ in channels")
        let s = supersampling
        let weight = 1 / Float(s * s)
        let half = SIMD2(Double(width), Double(height)) / 2
        return times.map { t in
            let centre = camera.center + camera.velocity * t + camera.acceleration * (t * t / 2)
            let m = rotation(camera.angle + camera.angularVelocity * t) * (camera.scale * exp(camera.zoomRate * t))
            let background = stills[camera.still].view
            // Per layer: screen -> layer frame (inverse rotation about its position), layer -> still.
            let placed = layers.map { l in
                PlacedLayer(layer: l, position: l.position + l.velocity * t + l.acceleration * (t * t / 2),
                            inverse: rotation(-(l.angle + l.angularVelocity * t)),
                            texture: rotation(l.textureAngle) * l.textureScale, still: stills[l.still].view)
            }
            var frame = [Float](repeating: 0, count: width * height * channels)
            placed.withUnsafeBufferPointer { placed in
                for y in 0..<height {
                    for x in 0..<width {
                        var sum = SIMD3<Float>(0, 0, 0)
                        for sy in 0..<s {
                            for sx in 0..<s {
                                let p = SIMD2(Double(x) + (Double(sx) + 0.5) / Double(s), Double(y) + (Double(sy) + 0.5) / Double(s)) - half
                                let b = centre + m * p
                                var colour = background.sample(b.x, b.y)
                                for l in placed {
                                    let q = l.inverse * (p - l.position)
                                    let alpha = Float(l.layer.coverage(q))
                                    guard alpha > 0 else { continue }
                                    let tp = l.layer.textureCenter + l.texture * q
                                    colour = alpha * l.still.sample(tp.x, tp.y) + (1 - alpha) * colour
                                }
                                sum += colour * weight
                            }
                        }
                        let o = (y * width + x) * channels
                        for k in 0..<channels { frame[o + k] = sum[k] }
                    }
                }
            }
            withExtendedLifetime(stills) {}
            return frame
        }
    }

    /// Frames as a camera delivers them: clean frames times the brightness ramp, plus noise (one Philox
    /// stream per frame time), rounded to 8 bits, then the JPEG-like round trip.
    public func finish(_ clean: [[Float]], times: [Double], width: Int, height: Int, channels: Int) -> [[UInt8]] {
        precondition(clean.count == times.count && clean.allSatisfy { $0.count == width * height * channels })
        return zip(clean, times).map { frame, t in
            let g = Float(max(0, gain * (1 + gainRate * t)))
            let noise = noiseSigma > 0
                ? NoiseStream(seed: noiseSeed, sample: 0, block: 0x5EED, step: UInt32(truncatingIfNeeded: Int(t.rounded()))).normals(frame.count)
                : []
            let sigma = Float(noiseSigma)
            var bytes = [UInt8](repeating: 0, count: frame.count)
            for i in frame.indices {
                let v = frame[i] * g + (noise.isEmpty ? 0 : sigma * noise[i])
                bytes[i] = UInt8(min(255, max(0, v.rounded())))
            }
            if let q = jpegQuality { BlockDCT.roundTrip(&bytes, width: width, height: height, channels: channels, quality: q) }
            return bytes
        }
    }
}

/// A layer placed at one frame time.
struct PlacedLayer {
    let layer: SyntheticScene.Layer
    let position: SIMD2<Double>
    let inverse: Matrix2, texture: Matrix2
    let still: StillView
}

/// A 2x2 matrix for rotations and scales.
struct Matrix2 {
    var a: Double, b: Double, c: Double, d: Double   // [a b; c d]
    static func * (m: Matrix2, v: SIMD2<Double>) -> SIMD2<Double> { SIMD2(m.a * v.x + m.b * v.y, m.c * v.x + m.d * v.y) }
    static func * (m: Matrix2, k: Double) -> Matrix2 { Matrix2(a: m.a * k, b: m.b * k, c: m.c * k, d: m.d * k) }
}

func rotation(_ angle: Double) -> Matrix2 {
    let c = cos(angle), s = sin(angle)
    return Matrix2(a: c, b: -s, c: s, d: c)
}

public struct SyntheticError: Error, CustomStringConvertible {
    public let description: String
}
