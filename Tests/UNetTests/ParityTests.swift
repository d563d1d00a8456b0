// Parity with the reference network: each fixture case (model + inputs + reference output written by
// tools/make_parity_vectors.py from voletiv/mcvd-pytorch) must give max|swift - ref| <= 1e-4 max|ref|.
import Foundation
import Testing
import Tensor
@testable import UNet

enum Fixtures {
    static func url(_ name: String, _ file: String) -> URL? {
        Bundle.module.url(forResource: "Fixtures/\(name)/\(file)", withExtension: "safetensors")
    }
    static func load(_ name: String) throws -> (UNet, SafeTensors) {
        guard let m = url(name, "model"), let v = url(name, "vectors") else { throw UNetError("fixture \(name) missing") }
        return (try UNet(path: m.path), try SafeTensors(path: v.path))
    }
}

@Suite(.serialized) struct ParityTests {
    /// Every kernel path this CPU runs (avx512, avx2, portable, openblas) at 1, 2 and 3 threads, each
    /// set for this test's task only.
    @Test(arguments: ["tiny-concat", "smmnist-small5", "spatin"], [1, 2, 3])
    func matchesReference(name: String, threads: Int) throws {
        let (model, vectors) = try Fixtures.load(name)
        let xs = try #require(vectors.shape("x_t")), ref = try vectors.floats("out")
        let n = xs[0], h = xs[2], w = xs[3]
        let x = try vectors.floats("x_t"), t = try vectors.floats("t"), cond = try vectors.floats("cond")
        for kernels in Engine.available {
            let out = Engine.$kernelsInTask.withValue(kernels) {
                Engine.$threadsInTask.withValue(threads) { model.forward(x: x, t: t, cond: cond, n: n, h: h, w: w) }
            }
            let maxRef = ref.map { abs($0) }.max() ?? 0
            var maxDiff: Float = 0, at = 0
            for i in ref.indices where !(abs(out[i] - ref[i]) <= maxDiff) { maxDiff = abs(out[i] - ref[i]); at = i }
            let rel = maxDiff / maxRef
            print("parity \(name) kernels=\(kernels) threads=\(threads): max|swift-ref| = \(maxDiff), max|ref| = \(maxRef), ratio = \(rel)")
            #expect(maxRef > 0)
            #expect(rel <= 1e-4, "\(name) \(kernels) threads \(threads): max diff \(maxDiff) at \(at) (swift \(out[at]), ref \(ref[at])), max|ref| \(maxRef)")
        }
    }
}
