// Backward of Resample.swift: every resampling op is linear and separable (y = A x A^T per plane), so
// its backward is the adjoint dx = A^T dy A^T, applied here as a scatter of each output's taps.
// (Nearest resizing of SPADE's conditioning needs none: the conditioning frames are inputs.)

/// The 1D taps of one axis: for output index p, the (input index, weight) pairs it reads.
struct AxisTaps {
    let taps: [[(Int, Float)]]

    /// FIR [1, 3, 3, 1] / 8, stride 2, pad 1: output i reads inputs 2i - 1 ... 2i + 2.
    static func firDown(_ n: Int) -> AxisTaps {
        let k: [Float] = [1, 3, 3, 1]
        return AxisTaps(taps: (0..<(n / 2)).map { i in
            (0..<4).compactMap { a in
                let m = 2 * i + a - 1
                return m >= 0 && m < n ? (m, k[a] / 8) : nil
            }
        })
    }

    /// FIR 2x up: out 2m = (x[m-1] + 3 x[m]) / 4, out 2m+1 = (3 x[m] + x[m+1]) / 4.
    static func firUp(_ n: Int) -> AxisTaps {
        AxisTaps(taps: (0..<(2 * n)).map { p in
            let m = p >> 1
            let pairs: [(Int, Float)] = p & 1 == 0 ? [(m - 1, Float(0.25)), (m, Float(0.75))] : [(m, Float(0.75)), (m + 1, Float(0.25))]
            return pairs.filter { $0.0 >= 0 && $0.0 < n }
        })
    }
}

/// dy: (N, C, OH, OW) -> dx: (N, C, H, W) (overwritten), the adjoint of the separable map given by its taps.
func separableAdjoint(_ dy: Tensor, rows: AxisTaps, cols: AxisTaps, into dx: Tensor) {
    precondition(dy.n * dy.c == dx.n * dx.c && rows.taps.count == dy.h && cols.taps.count == dy.w, "adjoint: shapes")
    let w = dx.w
    Parallel.shared.split(dy.n * dy.c) { planes in
        let v = UnsafeMutablePointer<Float>.allocate(capacity: w)
        defer { v.deallocate() }
        for pl in planes {
            let src = dy.data + pl * dy.plane, dst = dx.data + pl * dx.plane
            dst.update(repeating: 0, count: dx.plane)
            for oy in 0..<dy.h {
                // Horizontal adjoint of one output row into v, then scattered over the rows it came from.
                v.update(repeating: 0, count: w)
                let row = src + oy * dy.w
                for ox in 0..<dy.w { for (m, t) in cols.taps[ox] { v[m] += t * row[ox] } }
                for (m, t) in rows.taps[oy] {
                    let d = dst + m * w
                    for j in 0..<w { d[j] += t * v[j] }
                }
            }
        }
    }
}

/// dy: (N, C, H/2, W/2) -> dx: (N, C, H, W); the backward of `firDownsample2x`.
public func firDownsample2xBackward(_ dy: Tensor, into dx: Tensor) {
    precondition(dy.h == dx.h / 2 && dy.w == dx.w / 2, "firDownsample2xBackward: shapes")
    separableAdjoint(dy, rows: .firDown(dx.h), cols: .firDown(dx.w), into: dx)
}

/// dy: (N, C, 2H, 2W) -> dx: (N, C, H, W); the backward of `firUpsample2x`.
public func firUpsample2xBackward(_ dy: Tensor, into dx: Tensor) {
    precondition(dy.h == 2 * dx.h && dy.w == 2 * dx.w, "firUpsample2xBackward: shapes")
    separableAdjoint(dy, rows: .firUp(dx.h), cols: .firUp(dx.w), into: dx)
}
