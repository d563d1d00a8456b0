// ConvKernels' channel-major convolution tiles instantiated for AVX2 + FMA (this module is built for
// haswell, x86-64-v3): SIMD8 is one ymm register, tiles are 4 output channels x 24 positions: 12 ymm
// accumulators + 3 loads of x + 1 broadcast = the 16 ymm registers, 12 FMAs per 3 loads and 4
// broadcasts.
import ConvKernels

public enum AVX2 {
    /// See ConvKernels.channelMajorProduct.
    public static func channelMajorProduct(x: UnsafePointer<Float>, channelStride cs: Int, channels c: Int,
                                           shifts: UnsafeBufferPointer<Int>, positions: Int,
                                           weights w: UnsafePointer<Float>, strides s: WeightStrides, outputs: Range<Int>,
                                           into out: UnsafeMutablePointer<Float>, ldo: Int, accumulate: Bool = false) {
        ConvKernels.channelMajorProduct(SIMD8<Float>.self, rows: 4, Fused.self, x: x, channelStride: cs, channels: c,
                                        shifts: shifts, positions: positions, weights: w, strides: s, outputs: outputs,
                                        into: out, ldo: ldo, accumulate: accumulate)
    }
}
