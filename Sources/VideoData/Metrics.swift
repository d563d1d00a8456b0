// Image quality of 8-bit frames: PSNR and SSIM (Wang et al. 2004), as `mcvd eval` reports them. The
// convention matches scikit-image's `peak_signal_noise_ratio(data_range=255)` and
// `structural_similarity(data_range=255, gaussian_weights=True, sigma=1.5, use_sample_covariance=False)`;
// Tests/VideoDataTests checks both against values scikit-image computed (tools/make_metric_fixtures.py).
import Foundation

public enum Metrics {
    /// Reported PSNR of identical frames (the true value is +infinity): a cap keeps means finite.
    public static let psnrCap = 100.0

    /// PSNR in dB of two frames of equal size (any layout; every byte counts): 10 log10(255^2 / MSE),
    /// MSE over all samples (all channels). Identical frames give `psnrCap` (100 dB).
    public static func psnr(_ a: [UInt8], _ b: [UInt8]) -> Double {
        precondition(a.count == b.count && !a.isEmpty, "psnr: frames differ in size")
        var sum = 0.0
        for i in a.indices {
            let d = Double(Int(a[i]) - Int(b[i]))
            sum += d * d
        }
        guard sum > 0 else { return psnrCap }
        return min(psnrCap, 10 * log10(255 * 255 / (sum / Double(a.count))))
    }

    /// The SSIM window: 11 taps of exp(-x^2 / (2 sigma^2)), x in -5...5, sigma 1.5, summing to 1
    /// (scikit-image: scipy's gaussian_filter with truncate 3.5; applied along rows then columns).
    static let window: [Double] = {
        let w = (-5...5).map { exp(-Double($0 * $0) / (2 * 1.5 * 1.5)) }
        let s = w.reduce(0, +)
        return w.map { $0 / s }
    }()

    /// Mean SSIM of two frames, `width` x `height` x `channels` bytes, HWC (channels interleaved).
    /// Wang, Bovik, Sheikh, Simoncelli, "Image quality assessment: from error visibility to structural
    /// similarity", IEEE TIP 2004, eq. 13: SSIM = (2 mx my + C1)(2 sxy + C2) / ((mx^2 + my^2 + C1)(sx^2 + sy^2 + C2))
    /// with local means and population (co)variances under an 11x11 Gaussian window (sigma 1.5),
    /// C1 = (0.01 * 255)^2, C2 = (0.03 * 255)^2. The map is averaged over the valid region only (pixels
    /// whose window lies inside the frame: a 5-pixel border is left out), per channel; the channels'
    /// means are averaged. Frames must be at least 11 x 11.
    public static func ssim(_ a: [UInt8], _ b: [UInt8], width: Int, height: Int, channels: Int) -> Double {
        precondition(a.count == width * height * channels && b.count == a.count, "ssim: frame size")
        precondition(width >= 11 && height >= 11, "ssim: frames must be at least 11x11")
        let r = 5, vw = width - 2 * r, vh = height - 2 * r
        let c1 = (0.01 * 255) * (0.01 * 255), c2 = (0.03 * 255) * (0.03 * 255)
        let w = window
        // Five planes filtered: x, y, x^2, y^2, xy. Rows first (valid columns only), then columns.
        var rows = [Double](repeating: 0, count: 5 * height * vw)
        var total = 0.0
        for ch in 0..<channels {
            for y in 0..<height {
                for x in 0..<vw {
                    var s = (0.0, 0.0, 0.0, 0.0, 0.0)
                    for t in 0...(2 * r) {
                        let i = (y * width + x + t) * channels + ch
                        let p = Double(a[i]), q = Double(b[i]), k = w[t]
                        s.0 += k * p; s.1 += k * q; s.2 += k * p * p; s.3 += k * q * q; s.4 += k * p * q
                    }
                    let o = y * vw + x, plane = height * vw
                    rows[o] = s.0; rows[plane + o] = s.1; rows[2 * plane + o] = s.2
                    rows[3 * plane + o] = s.3; rows[4 * plane + o] = s.4
                }
            }
            var sum = 0.0
            let plane = height * vw
            for y in 0..<vh {
                for x in 0..<vw {
                    var s = (0.0, 0.0, 0.0, 0.0, 0.0)
                    for t in 0...(2 * r) {
                        let o = (y + t) * vw + x, k = w[t]
                        s.0 += k * rows[o]; s.1 += k * rows[plane + o]; s.2 += k * rows[2 * plane + o]
                        s.3 += k * rows[3 * plane + o]; s.4 += k * rows[4 * plane + o]
                    }
                    let (mx, my) = (s.0, s.1)
                    let vx = s.2 - mx * mx, vy = s.3 - my * my, cxy = s.4 - mx * my
                    sum += ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
                }
            }
            total += sum / Double(vw * vh)
        }
        return total / Double(channels)
    }
}
