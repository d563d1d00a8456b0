// ConvKernels' channel-major convolution tiles instantiated for AVX-512 (this module is built for
// skylake-avx512): SIMD16 is one zmm register, tiles are 8 output channels x 48 positions (24 zmm
// accumulators, 3 loads and 8 broadcasts per 24 FMAs).
import ConvKernels

public enum AVX512 {
    /// See ConvKernels.channelMajorProduct.
    public static func channelMajorProduct(x: UnsafePointer<Float>, channelStride cs: Int, channels c: Int,
                                           shifts: UnsafeBufferPointer<Int>, positions: Int,
                                           weights w: UnsafePointer<Float>, strides s: WeightStrides, outputs: Range<Int>,
                                           into out: UnsafeMutablePointer<Float>, ldo: Int, accumulate: Bool = false) {
        ConvKernels.channelMajorProduct(SIMD16<Float>.self, rows: 8, Fused.self, x: x, channelStride: cs, channels: c,
                                        shifts: shifts, positions: positions, weights: w, strides: s, outputs: outputs,
                                        into: out, ldo: ldo, accumulate: accumulate)
    }
}
