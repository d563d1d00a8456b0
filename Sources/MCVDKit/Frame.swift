// Video frames in memory, as the element maps them and as decoders hand them over: a format, a size
// and one (base pointer, stride) per plane. `FrameView` borrows memory (a mapped GstVideoFrame, an
// array); `FrameBuffer` owns packed planes (tests, examples, decoded PNGs). The mapping to and from the
// model's planar tensors is FrameMapping.swift.

public struct MCVDKitError: Error, CustomStringConvertible, Sendable, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// How YUV samples relate to RGB: the matrix (Kr, Kb) and the code range. Gray and RGB formats are
/// always full range.
public struct ColourSpace: Sendable, Equatable {
    public enum Matrix: Sendable { case bt601, bt709 }
    public var matrix: Matrix
    /// Limited ("TV") range: 8-bit Y in 16...235, chroma in 16...240 (10-bit: x4); full: 0...max.
    public var limitedRange: Bool

    public init(matrix: Matrix = .bt601, limitedRange: Bool = true) {
        self.matrix = matrix; self.limitedRange = limitedRange
    }

    /// GStreamer's default for YUV without colorimetry in the caps: BT.601 limited below 720 rows (SD),
    /// BT.709 limited from there on.
    public static func defaultYUV(height: Int) -> ColourSpace {
        ColourSpace(matrix: height >= 720 ? .bt709 : .bt601, limitedRange: true)
    }

    var kr: Float { matrix == .bt601 ? 0.299 : 0.2126 }
    var kb: Float { matrix == .bt601 ? 0.114 : 0.0722 }
}

/// One plane: first byte of the first row, bytes from one row to the next.
public struct FramePlane {
    public var data: UnsafeMutableRawPointer
    public var stride: Int
    public init(data: UnsafeMutableRawPointer, stride: Int) { self.data = data; self.stride = stride }
}

/// A frame in memory the view does not own.
public struct FrameView {
    public let format: PixelFormat
    public let width: Int, height: Int
    public let planes: [FramePlane]
    /// Used by YUV formats only.
    public var colour: ColourSpace
    /// Keeps a FrameBuffer's memory alive as long as a view of it exists.
    var owner: AnyObject?

    /// Checks the plane count and that every stride holds a row of real samples.
    public init(format: PixelFormat, width: Int, height: Int, planes: [FramePlane], colour: ColourSpace? = nil) throws {
        guard width > 0, height > 0 else { throw MCVDKitError("frame size \(width)x\(height): must be positive") }
        guard planes.count == format.planeCount else {
            throw MCVDKitError("\(format.name) has \(format.planeCount) plane(s), the frame gives \(planes.count)")
        }
        for (p, plane) in planes.enumerated() where plane.stride < format.rowBytes(plane: p, width: width) {
            throw MCVDKitError("\(format.name) \(width)x\(height): plane \(p) stride \(plane.stride) is below its "
                               + "\(format.rowBytes(plane: p, width: width)) bytes of samples per row")
        }
        self.format = format; self.width = width; self.height = height; self.planes = planes
        self.colour = colour ?? .defaultYUV(height: height)
    }

    /// The sub-rectangle (x, y, w, h); x and y must be multiples of the format's chroma block.
    public func cropped(x: Int, y: Int, width w: Int, height h: Int) throws -> FrameView {
        let block = format.chromaBlock
        guard x >= 0, y >= 0, w > 0, h > 0, x + w <= width, y + h <= height else {
            throw MCVDKitError("crop \(w)x\(h) at (\(x), \(y)) lies outside the \(width)x\(height) frame")
        }
        guard x % block.width == 0, y % block.height == 0 else {
            throw MCVDKitError("\(format.name): a crop must start on a multiple of (\(block.width), \(block.height)) pixels")
        }
        let planes = self.planes.enumerated().map { p, plane -> FramePlane in
            let c = format.components.first { $0.plane == p }!
            let bytes = (x >> c.wShift) * c.pixelStride
            return FramePlane(data: plane.data + (y >> c.hShift) * plane.stride + bytes, stride: plane.stride)
        }
        var view = try FrameView(format: format, width: w, height: h, planes: planes, colour: colour)
        view.owner = owner
        return view
    }

    /// Loads and stores of component `i` (see `PixelFormat.components`), for the mapping's loops.
    func access(_ i: Int) -> ComponentAccess {
        let c = format.components[min(i, format.components.count - 1)]
        return ComponentAccess(base: planes[c.plane].data + c.offset, rowStride: planes[c.plane].stride,
                               pixelStride: c.pixelStride, wide: format.bytesPerSample == 2)
    }
}

/// One component's samples: plain pointer arithmetic, nothing to retain in the loops.
struct ComponentAccess {
    let base: UnsafeMutableRawPointer
    let rowStride: Int, pixelStride: Int
    /// 16-bit little-endian samples (else 8-bit).
    let wide: Bool

    @inline(__always)
    func load(_ x: Int, _ y: Int) -> Int {
        let p = base + y * rowStride + x * pixelStride
        return wide ? Int(p.loadUnaligned(as: UInt16.self)) : Int(p.load(as: UInt8.self))
    }

    @inline(__always)
    func store(_ x: Int, _ y: Int, _ v: Int) {
        let p = base + y * rowStride + x * pixelStride
        if wide { p.storeBytes(of: UInt16(truncatingIfNeeded: v), as: UInt16.self) } else { p.storeBytes(of: UInt8(truncatingIfNeeded: v), as: UInt8.self) }
    }
}

/// A frame with its own memory: packed planes (stride = the row's sample bytes), zero-filled.
public final class FrameBuffer {
    public let format: PixelFormat
    public let width: Int, height: Int
    public let colour: ColourSpace
    private var pointers: [UnsafeMutableRawPointer]

    public init(format: PixelFormat, width: Int, height: Int, colour: ColourSpace? = nil) throws {
        guard width > 0, height > 0 else { throw MCVDKitError("frame size \(width)x\(height): must be positive") }
        self.format = format; self.width = width; self.height = height
        self.colour = colour ?? .defaultYUV(height: height)
        pointers = (0..<format.planeCount).map { p in
            let count = format.rowBytes(plane: p, width: width) * format.rows(plane: p, height: height)
            let raw = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1), alignment: 16)
            raw.initializeMemory(as: UInt8.self, repeating: 0, count: max(count, 1))
            return raw
        }
    }

    /// A frame holding a copy of `bytes`: the planes one after another, each packed.
    public convenience init(format: PixelFormat, width: Int, height: Int, bytes: [UInt8], colour: ColourSpace? = nil) throws {
        try self.init(format: format, width: width, height: height, colour: colour)
        let sizes = (0..<format.planeCount).map { format.rowBytes(plane: $0, width: width) * format.rows(plane: $0, height: height) }
        guard bytes.count == sizes.reduce(0, +) else {
            throw MCVDKitError("\(format.name) \(width)x\(height) takes \(sizes.reduce(0, +)) bytes, got \(bytes.count)")
        }
        var start = 0
        bytes.withUnsafeBytes { src in
            for (p, size) in sizes.enumerated() {
                pointers[p].copyMemory(from: src.baseAddress! + start, byteCount: size)
                start += size
            }
        }
    }

    deinit { for p in pointers { p.deallocate() } }

    public var view: FrameView {
        // Strides are the packed row sizes, which the view's checks accept by construction.
        var view = try! FrameView(format: format, width: width, height: height,
                                  planes: pointers.enumerated().map { FramePlane(data: $0.element, stride: format.rowBytes(plane: $0.offset, width: width)) },
                                  colour: colour)
        view.owner = self
        return view
    }

    /// All planes' bytes, one after another.
    public var bytes: [UInt8] {
        (0..<format.planeCount).flatMap { p -> [UInt8] in
            let count = format.rowBytes(plane: p, width: width) * format.rows(plane: p, height: height)
            return Array(UnsafeBufferPointer(start: pointers[p].assumingMemoryBound(to: UInt8.self), count: count))
        }
    }
}
