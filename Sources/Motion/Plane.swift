// What the motion module reads and writes: one component of a video frame as a strided 2-D array of
// 8- or 16-bit samples (planar, semi-planar and packed layouts alike), and luma as one such component
// or as R, G, B components. No GStreamer here: the element and the CLI describe their frames this way.

/// One component of a frame: `width` x `height` samples at `base + y * rowStride + x * pixelStride`.
/// `xShift`/`yShift` are the log2 subsampling against the luma grid (I420 chroma: 1, 1; YUY2 chroma: 1, 0).
public struct MotionPlane {
    public var base: UnsafeMutableRawPointer
    public var width: Int
    public var height: Int
    /// Bytes between rows.
    public var rowStride: Int
    /// Bytes between samples of a row (1 for planar 8-bit, 2 for NV12's U, 3 for RGB, 4 for RGBx...).
    public var pixelStride: Int
    /// 1 (8-bit samples) or 2 (16-bit samples in host order, full 0...65535 range).
    public var bytesPerSample: Int
    public var xShift: Int
    public var yShift: Int
    /// Significant bits of a sample (8; 16 for GRAY16; 10 for 10-bit formats stored in 16-bit words).
    public var bits: Int

    public init(base: UnsafeMutableRawPointer, width: Int, height: Int, rowStride: Int, pixelStride: Int,
                bytesPerSample: Int = 1, xShift: Int = 0, yShift: Int = 0, bits: Int? = nil) {
        self.base = base
        self.width = width
        self.height = height
        self.rowStride = rowStride
        self.pixelStride = pixelStride
        self.bytesPerSample = bytesPerSample
        self.xShift = xShift
        self.yShift = yShift
        self.bits = bits ?? 8 * bytesPerSample
    }

    /// The largest sample value.
    var maxValue: Float { Float((1 << bits) - 1) }

    /// Sample (x, y) on the 0...255 scale.
    @inline(__always) func value(_ x: Int, _ y: Int) -> Float {
        let p = base + y * rowStride + x * pixelStride
        return bytesPerSample == 2 ? Float(p.loadUnaligned(as: UInt16.self)) * (255 / maxValue) : Float(p.load(as: UInt8.self))
    }
}

/// Where luma comes from: a Y (or gray) component, or R, G, B components (Y = 0.299 R + 0.587 G + 0.114 B).
public enum LumaSource {
    case plane(MotionPlane)
    case rgb(MotionPlane, MotionPlane, MotionPlane)

    var width: Int { switch self { case .plane(let p): p.width; case .rgb(let r, _, _): r.width } }
    var height: Int { switch self { case .plane(let p): p.height; case .rgb(let r, _, _): r.height } }
}

public struct MotionError: Error, CustomStringConvertible {
    public let description: String
    init(_ d: String) { description = d }
}
