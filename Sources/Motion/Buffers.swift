// The workspace's storage: growable raw Float buffers and images that keep their memory between frames
// (allocated on the first frame and when the size grows, never per frame after that).

/// A Float buffer that only reallocates when asked for more than it has. A class: every holder sees
/// the current storage (a struct copy would keep a freed pointer after a reallocation).
final class FloatBuffer {
    private(set) var p: UnsafeMutablePointer<Float>
    private(set) var capacity: Int

    init() {
        p = UnsafeMutablePointer<Float>.allocate(capacity: 1)
        capacity = 1
    }

    deinit { p.deallocate() }

    func ensure(_ count: Int) {
        guard count > capacity else { return }
        p.deallocate()
        p = UnsafeMutablePointer<Float>.allocate(capacity: count)
        capacity = count
    }
}

/// A w x h Float image (0...255 scale), row-major without padding.
final class Image {
    let buffer = FloatBuffer()
    private(set) var w = 0, h = 0
    var p: UnsafeMutablePointer<Float> { buffer.p }

    func resize(_ w: Int, _ h: Int) {
        buffer.ensure(w * h)
        self.w = w
        self.h = h
    }

    @inline(__always) func at(_ x: Int, _ y: Int) -> Float { p[y * w + x] }

    /// Bilinear sample at (x, y) with coordinates clamped to the image (edges replicated).
    @inline(__always) func bilinear(_ x: Float, _ y: Float) -> Float {
        let xc = min(max(x, 0), Float(w - 1)), yc = min(max(y, 0), Float(h - 1))
        let x0 = Int(xc), y0 = Int(yc)
        let fx = xc - Float(x0), fy = yc - Float(y0)
        let x1 = min(x0 + 1, w - 1), y1 = min(y0 + 1, h - 1)
        let r0 = p + y0 * w, r1 = p + y1 * w
        let top = r0[x0] + (r0[x1] - r0[x0]) * fx
        let bottom = r1[x0] + (r1[x1] - r1[x0]) * fx
        return top + (bottom - top) * fy
    }
}

/// Motion vectors of a block grid: `nx` x `ny` blocks, vector (x, y) in pixels of the level they live on.
final class VectorField {
    let vx = FloatBuffer(), vy = FloatBuffer()
    /// A per-block scalar its producer may keep beside the vectors (the match cost of the vector).
    let cost = FloatBuffer()
    private(set) var nx = 0, ny = 0

    func resize(_ nx: Int, _ ny: Int) {
        vx.ensure(nx * ny)
        vy.ensure(nx * ny)
        cost.ensure(nx * ny)
        self.nx = nx
        self.ny = ny
    }

    @inline(__always) func get(_ bx: Int, _ by: Int) -> SIMD2<Float> {
        let i = by * nx + bx
        return SIMD2(vx.p[i], vy.p[i])
    }

    @inline(__always) func set(_ bx: Int, _ by: Int, _ v: SIMD2<Float>) {
        let i = by * nx + bx
        vx.p[i] = v.x
        vy.p[i] = v.y
    }

    /// The field at block coordinates (u, v) (block centres at integers), bilinear, clamped.
    @inline(__always) func sample(_ u: Float, _ v: Float) -> SIMD2<Float> {
        let uc = min(max(u, 0), Float(nx - 1)), vc = min(max(v, 0), Float(ny - 1))
        let x0 = Int(uc), y0 = Int(vc)
        let fx = uc - Float(x0), fy = vc - Float(y0)
        let x1 = min(x0 + 1, nx - 1), y1 = min(y0 + 1, ny - 1)
        let a = get(x0, y0), b = get(x1, y0), c = get(x0, y1), d = get(x1, y1)
        let top = a + (b - a) * fx, bottom = c + (d - c) * fx
        return top + (bottom - top) * fy
    }
}
