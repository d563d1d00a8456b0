// VectorMath's elementwise loops (GroupNorm moments and modulation, SiLU, softmax numerators, the norm
// backward) as compiled for the CPU: AVX512Kernels' copy (zmm) on the avx512 path, AVX2Kernels' copy
// (ymm, FMA) wherever the CPU has AVX2 + FMA otherwise, else VectorMath's own (the architecture's
// baseline: the portable path, and arm64). The three copies compute the same formulas; lane widths
// change the summation order of moments and softmax sums by rounding only.
import AVX2Kernels
import AVX512Kernels
import VectorMath

enum Loops {
    case avx512, avx2, baseline

    /// The copy the path that runs now uses.
    static var now: Loops {
        switch Engine.path {
        case .avx512: .avx512
        case .portable: .baseline
        case .avx2, .openblas: Engine.hasAVX2 ? .avx2 : .baseline
        }
    }

    func moments(_ p: UnsafePointer<Float>, count: Int, eps: Float) -> (Float, Float) {
        switch self {
        case .avx512: AVX512Kernels.Elementwise.moments(p, count: count, eps: eps)
        case .avx2: AVX2Kernels.Elementwise.moments(p, count: count, eps: eps)
        case .baseline: VectorMath.moments(p, count: count, eps: eps)
        }
    }
    func affineActivate(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ count: Int, _ a: Float,
                        _ b: Float, _ silu: Bool) {
        switch self {
        case .avx512: AVX512Kernels.Elementwise.affineActivate(src, dst, count, a, b, silu)
        case .avx2: AVX2Kernels.Elementwise.affineActivate(src, dst, count, a, b, silu)
        case .baseline: VectorMath.affineActivate(src, dst, count, a, b, silu)
        }
    }
    func modulateSpatial(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ count: Int, _ a: Float,
                         _ b: Float, _ g: UnsafePointer<Float>, _ be: UnsafePointer<Float>, _ post: (Float, Float),
                         _ silu: Bool) {
        switch self {
        case .avx512: AVX512Kernels.Elementwise.modulateSpatial(src, dst, count, a, b, g, be, post, silu)
        case .avx2: AVX2Kernels.Elementwise.modulateSpatial(src, dst, count, a, b, g, be, post, silu)
        case .baseline: VectorMath.modulateSpatial(src, dst, count, a, b, g, be, post, silu)
        }
    }
    func softmaxNumerators(_ r: UnsafeMutablePointer<Float>, _ count: Int) -> Float {
        switch self {
        case .avx512: AVX512Kernels.Elementwise.softmaxNumerators(r, count)
        case .avx2: AVX2Kernels.Elementwise.softmaxNumerators(r, count)
        case .baseline: VectorMath.softmaxNumerators(r, count)
        }
    }
    func siluRun(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ range: Range<Int>) {
        switch self {
        case .avx512: AVX512Kernels.Elementwise.siluRun(x, y, range)
        case .avx2: AVX2Kernels.Elementwise.siluRun(x, y, range)
        case .baseline: VectorMath.siluRun(x, y, range)
        }
    }
    func normBackwardPlane(_ x: UnsafePointer<Float>, dy: UnsafePointer<Float>, count: Int, mean: Float, rstd: Float,
                           gamma: Float, beta: Float, scale: Float, shift: Float, spadeGamma sg: UnsafePointer<Float>?,
                           spadeBeta sb: UnsafePointer<Float>?, silu: Bool, xhat xh: UnsafeMutablePointer<Float>,
                           dxhat dxh: UnsafeMutablePointer<Float>, dSpadeGamma dsg: UnsafeMutablePointer<Float>?,
                           dSpadeBeta dsb: UnsafeMutablePointer<Float>?) -> NormPlaneSums {
        switch self {
        case .avx512:
            AVX512Kernels.Elementwise.normBackwardPlane(x, dy: dy, count: count, mean: mean, rstd: rstd, gamma: gamma,
                                                        beta: beta, scale: scale, shift: shift, spadeGamma: sg,
                                                        spadeBeta: sb, silu: silu, xhat: xh, dxhat: dxh, dSpadeGamma: dsg,
                                                        dSpadeBeta: dsb)
        case .avx2:
            AVX2Kernels.Elementwise.normBackwardPlane(x, dy: dy, count: count, mean: mean, rstd: rstd, gamma: gamma,
                                                      beta: beta, scale: scale, shift: shift, spadeGamma: sg,
                                                      spadeBeta: sb, silu: silu, xhat: xh, dxhat: dxh, dSpadeGamma: dsg,
                                                      dSpadeBeta: dsb)
        case .baseline:
            VectorMath.normBackwardPlane(x, dy: dy, count: count, mean: mean, rstd: rstd, gamma: gamma, beta: beta,
                                         scale: scale, shift: shift, spadeGamma: sg, spadeBeta: sb, silu: silu, xhat: xh,
                                         dxhat: dxh, dSpadeGamma: dsg, dSpadeBeta: dsb)
        }
    }
}
