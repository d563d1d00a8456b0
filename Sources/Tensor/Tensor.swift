// The engine's tensor: an fp32 NCHW view over memory carved from an Arena, and the Arena itself.
// Ops live in their own files (Conv, Norm, Attention, Resample, ...); this file only holds storage.
// Letters used in every shape comment of this module: N batch, C/O channels in/out, H/W height/width,
// G groups, L = H*W positions, K reduction length, E embedding width.

/// A view of `n*c*h*w` contiguous floats in NCHW order. It does not own its memory.
public struct Tensor: @unchecked Sendable {
    public let data: UnsafeMutablePointer<Float>
    public let n: Int, c: Int, h: Int, w: Int

    public init(_ data: UnsafeMutablePointer<Float>, _ n: Int, _ c: Int, _ h: Int, _ w: Int) {
        self.data = data; self.n = n; self.c = c; self.h = h; self.w = w
    }

    public var count: Int { n * c * h * w }
    /// Floats in one image (C*H*W).
    public var imageCount: Int { c * h * w }
    public var plane: Int { h * w }
    public var shape: [Int] { [n, c, h, w] }

    /// The i-th image as a (1, C, H, W) view.
    public func image(_ i: Int) -> Tensor { Tensor(data + i * imageCount, 1, c, h, w) }

    public func copy(from other: Tensor) {
        precondition(other.count == count, "copy: \(other.shape) into \(shape)")
        data.update(from: other.data, count: count)
    }
    public func fill(_ v: Float) { data.update(repeating: v, count: count) }
    public var array: [Float] { Array(UnsafeBufferPointer(start: data, count: count)) }
}

/// One block of 64-byte aligned floats with a bump pointer. `mark`/`release` give stack discipline:
/// a layer marks, carves temporaries, releases them, keeping its output that was carved before the mark.
/// When a forward needs more than the block holds, the overflow goes to side blocks and the next `reset`
/// replaces everything with one block of the high-water size: after the first forward, no allocation.
public final class Arena: @unchecked Sendable {
    private var base: UnsafeMutablePointer<Float>
    private var capacity: Int
    private var offset = 0
    private var overflow: [UnsafeMutablePointer<Float>] = []
    private var overflowUsed = 0
    public private(set) var highWater = 0
    public private(set) var allocations = 0

    public init(capacity: Int = 1 << 16) {
        self.capacity = max(capacity, 16)
        base = Arena.allocate(self.capacity)
        allocations = 1
    }
    deinit {
        free(base)
        overflow.forEach { free($0) }
    }

    private static func allocate(_ count: Int) -> UnsafeMutablePointer<Float> {
        var raw: UnsafeMutableRawPointer?
        // Not inside precondition(): -Ounchecked drops its condition, side effects included.
        let status = posix_memalign(&raw, 64, max(1, count) * 4)
        guard status == 0, let raw else { fatalError("Arena: out of memory for \(count) floats") }
        return raw.bindMemory(to: Float.self, capacity: count)
    }

    /// Forget every carved buffer; grow to the high-water mark if the last round overflowed.
    public func reset() {
        settle()
        offset = 0
        overflowUsed = 0
    }

    /// If this round overflowed, replace all blocks by one of the high-water size now (invalidates
    /// every carved buffer): called at the end of a forward so the next one allocates nothing.
    public func settle() {
        guard !overflow.isEmpty else { return }
        overflow.forEach { free($0) }
        overflow.removeAll(keepingCapacity: true)
        free(base)
        capacity = highWater
        base = Arena.allocate(capacity)
        base.update(repeating: 0, count: capacity)   // resident now, not during the next forward
        allocations += 1
        offset = 0
        overflowUsed = 0
    }

    public func mark() -> Int { offset + overflowUsed }
    public func release(to mark: Int) {
        // Overflow blocks are only reclaimed by reset; offsets inside the main block rewind.
        if overflowUsed == 0 { offset = min(offset, mark) }
    }

    public func floats(_ count: Int) -> UnsafeMutablePointer<Float> {
        let rounded = (count + 15) & ~15
        if overflowUsed == 0 && offset + rounded <= capacity {
            let p = base + offset
            offset += rounded
            highWater = max(highWater, offset)
            return p
        }
        let p = Arena.allocate(rounded)
        allocations += 1
        overflow.append(p)
        overflowUsed += rounded
        highWater = max(highWater, offset + overflowUsed)
        return p
    }

    public func tensor(_ n: Int, _ c: Int, _ h: Int, _ w: Int) -> Tensor {
        Tensor(floats(n * c * h * w), n, c, h, w)
    }
}

#if canImport(Glibc)
import Glibc
#endif
