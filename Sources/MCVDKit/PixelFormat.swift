// The raw video formats the element takes (CShims/CGstMcvd/include/CGstMcvd.h, GST_MCVD_FORMATS),
// described without GStreamer: where each component's samples sit (plane, byte offset in a pixel group,
// bytes from one sample to the next along a row), its subsampling and its bit depth. The layouts are
// GStreamer's (gst-plugins-base video-format.c); FrameMapping.swift reads and writes frames with them.

/// A component's samples: plane, byte offset of the first sample in a row, bytes between successive
/// samples of the component along a row, and subsampling as shifts (4:2:0 chroma: 1, 1).
public struct PixelComponent: Sendable, Equatable {
    public var plane: Int
    public var offset: Int
    public var pixelStride: Int
    public var wShift: Int
    public var hShift: Int

    /// Samples of this component per row / per column of a width x height frame (rounded up).
    public func width(_ w: Int) -> Int { (w + (1 << wShift) - 1) >> wShift }
    public func height(_ h: Int) -> Int { (h + (1 << hShift) - 1) >> hShift }
}

public enum PixelFormat: String, Sendable, CaseIterable {
    case gray8 = "GRAY8", gray16LE = "GRAY16_LE"
    case rgb = "RGB", bgr = "BGR", rgbx = "RGBx", bgrx = "BGRx", xrgb = "xRGB", xbgr = "xBGR"
    case rgba = "RGBA", bgra = "BGRA", argb = "ARGB", abgr = "ABGR"
    case ayuv = "AYUV"
    case i420 = "I420", yv12 = "YV12", nv12 = "NV12", nv21 = "NV21"
    case y42b = "Y42B", nv16 = "NV16", y41b = "Y41B", y444 = "Y444", nv24 = "NV24"
    case yuy2 = "YUY2", uyvy = "UYVY", yvyu = "YVYU"
    case i420_10LE = "I420_10LE", i422_10LE = "I422_10LE", y444_10LE = "Y444_10LE"

    /// By GStreamer's format name ("I420", "GRAY16_LE", ...).
    public init?(name: String) { self.init(rawValue: name) }
    public var name: String { rawValue }

    public enum Family: Sendable { case gray, rgb, yuv }

    public var family: Family {
        switch self {
        case .gray8, .gray16LE: return .gray
        case .rgb, .bgr, .rgbx, .bgrx, .xrgb, .xbgr, .rgba, .bgra, .argb, .abgr: return .rgb
        default: return .yuv
        }
    }

    /// Significant bits per sample: 8, 10 or 16 (10 and 16 stored in 2 bytes, little-endian).
    public var depth: Int {
        switch self {
        case .gray16LE: return 16
        case .i420_10LE, .i422_10LE, .y444_10LE: return 10
        default: return 8
        }
    }
    public var bytesPerSample: Int { depth > 8 ? 2 : 1 }
    /// Largest sample value.
    public var maxValue: Int { (1 << depth) - 1 }

    /// Components in the order gray: Y; rgb: R, G, B[, A]; yuv: Y, U, V[, A].
    public var components: [PixelComponent] {
        func packed(_ offsets: [Int], _ stride: Int) -> [PixelComponent] {
            offsets.map { PixelComponent(plane: 0, offset: $0, pixelStride: stride, wShift: 0, hShift: 0) }
        }
        /// Three planes Y, U, V (planes given per component), chroma subsampled by (ws, hs).
        func planar(_ planes: [Int], _ ws: Int, _ hs: Int, _ bytes: Int = 1) -> [PixelComponent] {
            [PixelComponent(plane: planes[0], offset: 0, pixelStride: bytes, wShift: 0, hShift: 0),
             PixelComponent(plane: planes[1], offset: 0, pixelStride: bytes, wShift: ws, hShift: hs),
             PixelComponent(plane: planes[2], offset: 0, pixelStride: bytes, wShift: ws, hShift: hs)]
        }
        /// Y plane and one interleaved chroma plane; U and V at the given byte offsets.
        func semiPlanar(_ u: Int, _ v: Int, _ ws: Int, _ hs: Int) -> [PixelComponent] {
            [PixelComponent(plane: 0, offset: 0, pixelStride: 1, wShift: 0, hShift: 0),
             PixelComponent(plane: 1, offset: u, pixelStride: 2, wShift: ws, hShift: hs),
             PixelComponent(plane: 1, offset: v, pixelStride: 2, wShift: ws, hShift: hs)]
        }
        /// Packed 4:2:2 (two pixels in 4 bytes): Y, U, V offsets.
        func packed422(_ y: Int, _ u: Int, _ v: Int) -> [PixelComponent] {
            [PixelComponent(plane: 0, offset: y, pixelStride: 2, wShift: 0, hShift: 0),
             PixelComponent(plane: 0, offset: u, pixelStride: 4, wShift: 1, hShift: 0),
             PixelComponent(plane: 0, offset: v, pixelStride: 4, wShift: 1, hShift: 0)]
        }
        switch self {
        case .gray8: return packed([0], 1)
        case .gray16LE: return packed([0], 2)
        case .rgb: return packed([0, 1, 2], 3)
        case .bgr: return packed([2, 1, 0], 3)
        case .rgbx: return packed([0, 1, 2], 4)
        case .bgrx: return packed([2, 1, 0], 4)
        case .xrgb: return packed([1, 2, 3], 4)
        case .xbgr: return packed([3, 2, 1], 4)
        case .rgba: return packed([0, 1, 2, 3], 4)
        case .bgra: return packed([2, 1, 0, 3], 4)
        case .argb: return packed([1, 2, 3, 0], 4)
        case .abgr: return packed([3, 2, 1, 0], 4)
        case .ayuv: return packed([1, 2, 3, 0], 4)
        case .i420: return planar([0, 1, 2], 1, 1)
        case .yv12: return planar([0, 2, 1], 1, 1)
        case .nv12: return semiPlanar(0, 1, 1, 1)
        case .nv21: return semiPlanar(1, 0, 1, 1)
        case .y42b: return planar([0, 1, 2], 1, 0)
        case .nv16: return semiPlanar(0, 1, 1, 0)
        case .y41b: return planar([0, 1, 2], 2, 0)
        case .y444: return planar([0, 1, 2], 0, 0)
        case .nv24: return semiPlanar(0, 1, 0, 0)
        case .yuy2: return packed422(0, 1, 3)
        case .uyvy: return packed422(1, 0, 2)
        case .yvyu: return packed422(0, 3, 1)
        case .i420_10LE: return planar([0, 1, 2], 1, 1, 2)
        case .i422_10LE: return planar([0, 1, 2], 1, 0, 2)
        case .y444_10LE: return planar([0, 1, 2], 0, 0, 2)
        }
    }

    public var planeCount: Int { (components.map(\.plane).max() ?? 0) + 1 }
    public var hasAlpha: Bool { components.count == 4 }

    /// Bytes per pixel group of a packed plane (where one group spans 1 << wShift pixels): RGB 3,
    /// RGBx 4, YUY2 4 per 2 pixels, planar 1 or 2.
    func groupBytes(plane p: Int) -> (bytes: Int, pixels: Int) {
        switch self {
        case .rgb, .bgr: return (3, 1)
        case .rgbx, .bgrx, .xrgb, .xbgr, .rgba, .bgra, .argb, .abgr, .ayuv: return (4, 1)
        case .yuy2, .uyvy, .yvyu: return (4, 2)
        default:
            let c = components.first { $0.plane == p }!
            let interleaved = components.filter { $0.plane == p }.count
            return (bytesPerSample * interleaved, 1 << c.wShift)
        }
    }

    /// Bytes of real samples in one row of plane `p` of a frame `width` pixels wide.
    public func rowBytes(plane p: Int, width: Int) -> Int {
        let g = groupBytes(plane: p)
        return (width + g.pixels - 1) / g.pixels * g.bytes
    }

    /// Rows of plane `p` of a frame `height` rows high.
    public func rows(plane p: Int, height: Int) -> Int {
        components.filter { $0.plane == p }.map { $0.height(height) }.max() ?? 0
    }

    /// Horizontal and vertical pixels per chroma sample (1 for gray, RGB and 4:4:4).
    public var chromaBlock: (width: Int, height: Int) {
        family == .yuv ? (1 << components[1].wShift, 1 << components[1].hShift) : (1, 1)
    }
}
