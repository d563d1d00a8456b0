// PSNR and SSIM against values scikit-image 0.26 computed on small committed pairs (24x20 gray and RGB,
// Fixtures/metrics.json, written by tools/make_metric_fixtures.py), and their edge cases.
import Foundation
import Testing
import VideoData

struct MetricCase: Decodable {
    let name: String
    let width: Int, height: Int, channels: Int
    let a: [UInt8], b: [UInt8]
    let psnr: Double, ssim: Double
}

private func metricCases() throws -> [MetricCase] {
    let url = try #require(Bundle.module.url(forResource: "Fixtures/metrics", withExtension: "json"))
    struct File: Decodable { let cases: [MetricCase] }
    return try JSONDecoder().decode(File.self, from: Data(contentsOf: url)).cases
}

@Suite struct MetricsTests {
    /// Tolerance: 1e-9 dB for PSNR (the same sum in doubles), 1e-6 for SSIM (the filters sum in another
    /// order than scipy's, and scipy's reflect padding never reaches the valid region).
    @Test func matchScikitImage() throws {
        let cases = try metricCases()
        #expect(cases.count == 3)
        #expect(cases.contains { $0.channels == 3 } && cases.contains { $0.channels == 1 })
        for c in cases {
            let p = Metrics.psnr(c.a, c.b)
            let s = Metrics.ssim(c.a, c.b, width: c.width, height: c.height, channels: c.channels)
            #expect(abs(p - c.psnr) < 1e-9, "\(c.name): psnr \(p) vs scikit-image \(c.psnr)")
            #expect(abs(s - c.ssim) < 1e-6, "\(c.name): ssim \(s) vs scikit-image \(c.ssim)")
        }
    }

    @Test func identicalFramesGiveTheCapAndOne() throws {
        for c in try metricCases() {
            #expect(Metrics.psnr(c.a, c.a) == Metrics.psnrCap)
            let s = Metrics.ssim(c.a, c.a, width: c.width, height: c.height, channels: c.channels)
            #expect(abs(s - 1) < 1e-12, "\(c.name): ssim of a frame with itself is \(s)")
        }
    }

    @Test func psnrOfAKnownError() {
        // Every sample off by 4: MSE 16, PSNR 10 log10(255^2 / 16).
        let a = [UInt8](repeating: 100, count: 30), b = [UInt8](repeating: 104, count: 30)
        #expect(abs(Metrics.psnr(a, b) - 10 * log10(65025.0 / 16)) < 1e-12)
    }

    @Test func ssimIsSymmetricAndDropsWithNoise() throws {
        let c = try metricCases()[0]
        let ab = Metrics.ssim(c.a, c.b, width: c.width, height: c.height, channels: c.channels)
        let ba = Metrics.ssim(c.b, c.a, width: c.width, height: c.height, channels: c.channels)
        #expect(abs(ab - ba) < 1e-12)
        let inverted = c.a.map { 255 - $0 }
        #expect(Metrics.ssim(c.a, inverted, width: c.width, height: c.height, channels: c.channels) < 0)
    }
}
