// Sinusoidal time embedding (DDPM; the reference's layers.get_timestep_embedding), in float32 with
// the same rounding steps as torch so large t gives the same phases.
import Foundation

/// t: (N) -> e: (N, E); e[i] = [sin(t f_0..f_{E/2-1}), cos(...)], f_k = exp(-k ln(10000) / (E/2 - 1)),
/// zero-padded when E is odd.
public func timestepEmbedding(_ t: [Float], dim: Int, into e: UnsafeMutablePointer<Float>) {
    let half = dim / 2
    let step = Float(log(10000.0) / Double(half - 1))
    for (i, ti) in t.enumerated() {
        let row = e + i * dim
        for k in 0..<half {
            let arg = ti * Foundation.exp(Float(k) * -step)
            row[k] = Foundation.sin(arg)
            row[half + k] = Foundation.cos(arg)
        }
        if dim % 2 == 1 { row[dim - 1] = 0 }
    }
}
