// The random side of synthetic clips: which still photos (StillImages: the curated default list from
// Debian packages, loading, size checks) and which scene each clip index gets (SyntheticClips), drawn
// from a SplitMix64 stream keyed by (seed, clip index): clip i is the same in every run and epoch.
import Foundation

/// Still photos for synthetic clips.
public enum StillImages {
    /// Photos (no drawings, logos, charts or calibration patterns) that python3-skimage installs
    /// (tools/install-data.sh). Not opencv-doc's photos: that package ships two of the footage videos, and
    /// docs/data.md keeps every other file of the footage packages out of training. docs/synthetic.md lists
    /// them with their origin.
    public static let defaultPaths: [String] = {
        let skimage = "/usr/lib/python3/dist-packages/skimage/data/"
        return ["astronaut.png", "brick.png", "camera.png", "chelsea.png", "coffee.png", "coins.png", "grass.png",
                "gravel.png", "hubble_deep_field.jpg", "moon.png", "motorcycle_left.png", "page.png", "rocket.jpg"]
            .map { skimage + $0 }
    }()

    static let extensions: Set<String> = ["jpg", "jpeg", "png", "webp", "bmp", "tif", "tiff", "gif"]

    /// Files as given; folders replaced by the image files (by extension) below them, sorted.
    public static func expand(_ inputs: [String]) -> [String] {
        var out: [String] = []
        for input in inputs {
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: input, isDirectory: &isDir), isDir.boolValue {
                let files = (FileManager.default.enumerator(atPath: input)?.allObjects as? [String] ?? [])
                    .filter { extensions.contains(($0 as NSString).pathExtension.lowercased()) && !$0.hasPrefix(".") }
                out += files.sorted().map { (input as NSString).appendingPathComponent($0) }
            } else {
                out.append(input)
            }
        }
        return out
    }

    /// Decodes every image (folders expanded) through GStreamer, `channels` 1 or 3, scaled down to at most
    /// `maxHeight` rows; an image that cannot be decoded or whose shorter side is below `minSide` after
    /// that is reported and skipped.
    public static func load(paths: [String], channels: Int, maxHeight: Int, minSide: Int,
                            report: (String) -> Void = { _ in }) -> (stills: [Still], skipped: [VideoDecodeError]) {
        var stills: [Still] = [], skipped: [VideoDecodeError] = []
        for path in expand(paths) {
            do {
                var v = try decodeVideo(path: path, height: nil, channels: channels, maxFrames: 1, timeout: 60)
                if v.height > maxHeight { v = try decodeVideo(path: path, height: maxHeight, channels: channels, maxFrames: 1, timeout: 60) }
                guard min(v.width, v.height) >= minSide else {
                    throw VideoDecodeError(path: path, message: "\(v.width)x\(v.height) is smaller than \(minSide) pixels on a side")
                }
                stills.append(Still(v))
            } catch let e as VideoDecodeError {
                report("skipped still \(e)")
                skipped.append(e)
            } catch {
                skipped.append(VideoDecodeError(path: path, message: "\(error)"))
            }
        }
        return (stills, skipped)
    }
}

/// SplitMix64 (Steele, Lea, Flood 2014): a small seeded stream for scene parameters.
struct SplitMix64 {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in [a, b).
    mutating func uniform(_ a: Double = 0, _ b: Double = 1) -> Double { a + (b - a) * Double(next() >> 11) * 0x1p-53 }
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
    mutating func chance(_ p: Double) -> Bool { uniform() < p }
}

/// `count` synthetic clips over `stills`, clip i a pure function of (seed, i) and the layout asked for.
/// Speeds are in output pixels per source frame at 64 rows, scaled by rows / 64: the camera and each layer
/// move at up to `maxSpeed` (default 4: 0-8 pixels between conditioning frames two apart, what 2x
/// interpolation sees); a quarter of the draws are nearly still (< 0.5), half 0.5-2.5, a quarter faster,
/// and 30% of the cameras stand still (tripodShare).
public final class SyntheticClips: @unchecked Sendable {
    public let stills: [Still]
    public let count: Int
    public let seed: UInt64
    /// The training height the speeds refer to.
    public let rows: Int
    public let maxSpeed: Double
    /// Share of clips whose camera does not move (no pan, zoom or turn).
    public let tripodShare = 0.3
    public var channels: Int { stills[0].channels }

    public init(stills: [Still], count: Int, rows: Int, seed: UInt64, maxSpeed: Double = 4) throws {
        guard !stills.isEmpty else { throw SyntheticError(description: "no still image to make synthetic clips from") }
        guard stills.allSatisfy({ $0.channels == stills[0].channels }) else {
            throw SyntheticError(description: "the still images differ in channels")
        }
        guard count >= 0, rows >= 1, maxSpeed >= 0 else {
            throw SyntheticError(description: "synthetic clips: count must be >= 0, rows >= 1, max speed >= 0")
        }
        self.stills = stills; self.count = count; self.rows = rows; self.seed = seed; self.maxSpeed = maxSpeed
    }

    // Rendered clips of one (layout, size), kept while they fit in cacheBytes: the clips are fixed, so
    // after the first epoch a training run renders none (1144 clips of 5 frames at 32x32 gray: 5.9 MB).
    private let lock = NSLock()
    private var cacheKey: (ClipLayout, Int, Int)?
    private var cache: [Int: [[UInt8]]] = [:]
    private var cachedBytes = 0
    /// The most bytes of rendered frames kept (default 512 MiB).
    public var cacheBytes = 512 << 20

    /// frames(index:layout:width:height:), rendered once and then taken from the cache.
    public func cachedFrames(index: Int, layout: ClipLayout, width: Int, height: Int) -> [[UInt8]] {
        lock.lock()
        if let key = cacheKey, key.0 == layout, key.1 == width, key.2 == height {
            if let hit = cache[index] { lock.unlock(); return hit }
        } else {
            cacheKey = (layout, width, height); cache = [:]; cachedBytes = 0
        }
        lock.unlock()
        let f = frames(index: index, layout: layout, width: width, height: height)
        let bytes = f.reduce(0) { $0 + $1.count }
        lock.lock()
        if let key = cacheKey, key.0 == layout, key.1 == width, key.2 == height, cachedBytes + bytes <= cacheBytes, cache[index] == nil {
            cache[index] = f
            cachedBytes += bytes
        }
        lock.unlock()
        return f
    }

    /// The scene of clip `index` for clips covering `span` source frames at width x height.
    public func scene(index: Int, span: Int, width: Int, height: Int) -> SyntheticScene {
        var rng = SplitMix64(state: seed ^ (UInt64(truncatingIfNeeded: index) &* 0xD1B5_4A32_D192_ED03))
        _ = rng.next()
        let k = Double(rows) / 64
        let last = Double(max(span - 1, 0))
        func speed() -> SIMD2<Double> {
            let u = rng.uniform()
            let m = u < 0.25 ? rng.uniform(0, 0.5) : u < 0.75 ? rng.uniform(0.5, 2.5) : rng.uniform(2.5, max(2.5, maxSpeed))
            let a = rng.uniform(0, 2 * Double.pi)
            return SIMD2(cos(a), sin(a)) * (min(m, maxSpeed) * k)
        }
        func acceleration() -> SIMD2<Double> {
            rng.chance(0.3) ? SIMD2(rng.uniform(-0.08, 0.08), rng.uniform(-0.08, 0.08)) * k : .zero
        }
        let side = Double(max(width, height))
        let half = SIMD2(Double(width), Double(height)) / 2
        let diagonal = half.squaredLength.squareRoot()

        // Camera: a view of 35-75% of the still's shorter side, never finer than the still's pixels.
        let bg = rng.below(stills.count)
        let still = stills[bg]
        let size = SIMD2(Double(still.width), Double(still.height))
        var scale = max(1, rng.uniform(0.35, 0.75) * min(size.x, size.y) / side)
        var zoom = rng.chance(0.3) ? rng.uniform(-0.015, 0.015) : 0
        let angle = rng.chance(0.2) ? rng.uniform(-0.1, 0.1) : 0
        var spin = rng.chance(0.25) ? rng.uniform(-0.01, 0.01) : 0
        var velocity = speed(), accel = acceleration()
        // A camera on a tripod (much of the real footage): only the layers move, if any.
        if rng.chance(tripodShare) { velocity = .zero; accel = .zero; zoom = 0; spin = 0 }
        var centre: SIMD2<Double>?
        // Keep the whole view inside the still over the clip: slow down (then shrink the view) until it fits.
        for attempt in 0..<8 {
            if attempt == 6 { velocity = .zero; accel = .zero; zoom = 0 }
            if attempt == 7 { scale = min(scale, (min(size.x, size.y) / 2 - 2) / diagonal) }
            var lo = SIMD2<Double>(-.infinity, -.infinity), hi = SIMD2<Double>(.infinity, .infinity)
            for t in stride(from: 0.0, through: last, by: 1) {
                // Half extents of the rotated, zoomed view (+ 1.5 for the bilinear footprint).
                let a = angle + spin * t, c = abs(cos(a)), s = abs(sin(a))
                let r = scale * exp(zoom * t) * SIMD2(c * half.x + s * half.y, s * half.x + c * half.y) + 1.5
                let d = (velocity * t + accel * (t * t / 2)) * scale
                lo = pointwiseMax(lo, r - d)
                hi = pointwiseMin(hi, size - r - d)
            }
            if lo.x <= hi.x && lo.y <= hi.y {
                centre = SIMD2(rng.uniform(lo.x, hi.x.nextUp), rng.uniform(lo.y, hi.y.nextUp))
                break
            }
            velocity *= 0.5; accel *= 0.5; zoom *= 0.5
        }
        let camera = SyntheticScene.Camera(still: bg, center: centre ?? size / 2, velocity: velocity * scale,
                                           acceleration: accel * scale, scale: scale, zoomRate: zoom, angle: angle,
                                           angularVelocity: spin)

        // Layers: 0-3 patches of (usually other) stills, 10-30% of the side in each direction.
        let u = rng.uniform()
        let layerCount = u < 0.2 ? 0 : u < 0.6 ? 1 : u < 0.85 ? 2 : 3
        var layers: [SyntheticScene.Layer] = []
        for _ in 0..<layerCount {
            let li = rng.below(stills.count)
            let ls = stills[li]
            let lsize = SIMD2(Double(ls.width), Double(ls.height))
            let halfSize = SIMD2(rng.uniform(0.1, 0.3), rng.uniform(0.1, 0.3)) * side
            let shape: SyntheticScene.Shape = rng.chance(0.5) ? .ellipse : .rectangle
            let softness = rng.chance(0.5) ? 0 : rng.uniform(0.5, 2.5)
            let reach = halfSize.squaredLength.squareRoot()
            let textureScale = min(scale * rng.uniform(0.8, 1.25), (min(lsize.x, lsize.y) / 2 - 2) / reach)
            let r = textureScale * reach + 1.5
            let textureCentre = SIMD2(rng.uniform(r, max(r, lsize.x - r)), rng.uniform(r, max(r, lsize.y - r)))
            let textureAngle = rng.chance(0.3) ? rng.uniform(-Double.pi, Double.pi) : 0
            let position = SIMD2(rng.uniform(-0.5, 0.5) * Double(width), rng.uniform(-0.5, 0.5) * Double(height))
            let v = speed(), a = acceleration()
            let angle = shape == .ellipse ? rng.uniform(-Double.pi, Double.pi) : (rng.chance(0.5) ? rng.uniform(-0.3, 0.3) : 0)
            let spin = rng.chance(0.3) ? rng.uniform(-0.02, 0.02) : 0
            layers.append(.init(still: li, textureCenter: textureCentre, textureScale: textureScale, textureAngle: textureAngle,
                                position: position, velocity: v, acceleration: a, angle: angle, angularVelocity: spin,
                                halfSize: halfSize, shape: shape, softness: softness))
        }

        // Camera effects.
        var gain = 1.0, gainRate = 0.0
        if rng.chance(0.3) {
            gain = rng.uniform(0.8, 1.15)
            gainRate = rng.uniform(-0.02, 0.02)
        }
        let noise = rng.chance(0.6) ? rng.uniform(0.5, 4) : 0
        let quality: Int? = rng.chance(0.4) ? Int(rng.uniform(40, 96)) : nil
        let supersampling = min(4, max(1, Int((scale - 0.01).rounded(.up))))
        return SyntheticScene(camera: camera, layers: layers, gain: gain, gainRate: gainRate, noiseSigma: noise,
                              jpegQuality: quality, supersampling: supersampling, noiseSeed: rng.next())
    }

    /// The frames of clip `index` at the layout's offsets (past, current, future in order), each
    /// width * height * channels bytes, HWC.
    public func frames(index: Int, layout: ClipLayout, width: Int, height: Int) -> [[UInt8]] {
        precondition(index >= 0 && index < count, "synthetic clip \(index) of \(count)")
        let times = layout.offsets.map(Double.init)
        let s = scene(index: index, span: layout.span, width: width, height: height)
        let clean = s.render(stills: stills, times: times, width: width, height: height)
        return s.finish(clean, times: times, width: width, height: height, channels: channels)
    }
}

extension SIMD2 where Scalar == Double {
    var squaredLength: Double { x * x + y * y }
}
