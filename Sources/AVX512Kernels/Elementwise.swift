// VectorMath's elementwise kernels compiled for this module's CPU: each wrapper inlines the @inlinable
// body, so it becomes the module's own code. One source, two modules: AVX512Kernels (skylake-avx512: zmm
// code) and AVX2Kernels (haswell: ymm and FMA), whose Elementwise.swift is a link to this file. Tensor's
// `Loops` picks one by the path that runs; called directly from Tensor the bodies were not inlined, and
// VectorMath's own copy (built for the baseline: SSE2, no FMA) ran on AVX2 CPUs.
import VectorMath

public enum Elementwise {
    public static func moments(_ p: UnsafePointer<Float>, count: Int, eps: Float) -> (Float, Float) {
        VectorMath.moments(p, count: count, eps: eps)
    }
    public static func affineActivate(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ count: Int,
                                      _ a: Float, _ b: Float, _ silu: Bool) {
        VectorMath.affineActivate(src, dst, count, a, b, silu)
    }
    public static func modulateSpatial(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ count: Int,
                                       _ a: Float, _ b: Float, _ g: UnsafePointer<Float>, _ be: UnsafePointer<Float>,
                                       _ post: (Float, Float), _ silu: Bool) {
        VectorMath.modulateSpatial(src, dst, count, a, b, g, be, post, silu)
    }
    public static func softmaxNumerators(_ r: UnsafeMutablePointer<Float>, _ count: Int) -> Float {
        VectorMath.softmaxNumerators(r, count)
    }
    public static func siluRun(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ range: Range<Int>) {
        VectorMath.siluRun(x, y, range)
    }
    public static func normBackwardPlane(_ x: UnsafePointer<Float>, dy: UnsafePointer<Float>, count: Int, mean: Float,
                                        rstd: Float, gamma: Float, beta: Float, scale: Float, shift: Float,
                                        spadeGamma sg: UnsafePointer<Float>?, spadeBeta sb: UnsafePointer<Float>?,
                                        silu: Bool, xhat xh: UnsafeMutablePointer<Float>,
                                        dxhat dxh: UnsafeMutablePointer<Float>,
                                        dSpadeGamma dsg: UnsafeMutablePointer<Float>?,
                                        dSpadeBeta dsb: UnsafeMutablePointer<Float>?) -> NormPlaneSums {
        VectorMath.normBackwardPlane(x, dy: dy, count: count, mean: mean, rstd: rstd, gamma: gamma, beta: beta,
                                     scale: scale, shift: shift, spadeGamma: sg, spadeBeta: sb, silu: silu, xhat: xh,
                                     dxhat: dxh, dSpadeGamma: dsg, dSpadeBeta: dsb)
    }
}
