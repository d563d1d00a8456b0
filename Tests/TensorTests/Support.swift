// Helpers for the op tests: seeded random data, owned buffers, and a max-difference check that
// prints where and how much it failed.
import Foundation
import Testing
@testable import Tensor

struct Rng {
    var state: UInt64
    init(_ seed: UInt64) { state = seed &* 0x9E3779B97F4A7C15 | 1 }
    mutating func next() -> Float {
        state ^= state << 13; state ^= state >> 7; state ^= state << 17
        return Float(state >> 40) / Float(1 << 24) * 2 - 1
    }
    mutating func array(_ n: Int, scale: Float = 1) -> [Float] { (0..<n).map { _ in next() * scale } }
}

/// An owned tensor for tests.
final class Owned {
    let t: Tensor
    init(_ n: Int, _ c: Int, _ h: Int, _ w: Int, _ values: [Float]? = nil) {
        let p = UnsafeMutablePointer<Float>.allocate(capacity: max(1, n * c * h * w))
        t = Tensor(p, n, c, h, w)
        if let values { precondition(values.count == t.count); p.update(from: values, count: values.count) }
        else { p.update(repeating: .nan, count: t.count) }
    }
    deinit { t.data.deallocate() }
    var array: [Float] { t.array }
}

/// Asserts max|a - b| <= tol * max(1, max|b|) and reports the max diff and first values on failure.
func expectClose(_ a: [Float], _ b: [Float], tol: Float, _ what: String,
                 sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(a.count == b.count, "\(what): counts \(a.count) vs \(b.count)", sourceLocation: sourceLocation)
    var worst: Float = 0, at = 0
    for i in 0..<min(a.count, b.count) {
        let d = abs(a[i] - b[i])
        if !(d <= worst) { worst = d; at = i }
    }
    let scale = max(1, b.map { abs($0) }.max() ?? 0)
    #expect(worst <= tol * scale,
            "\(what): max diff \(worst) at \(at) (tol \(tol * scale)); got \(a.prefix(4)) want \(b.prefix(4))",
            sourceLocation: sourceLocation)
}

/// Runs body with n threads in this test's task only (`Engine.threadsInTask`).
func withThreads(_ n: Int, _ body: () -> Void) {
    Engine.$threadsInTask.withValue(n) { body() }
}

/// Runs body once per kernel path this CPU can run (avx512, avx2, portable, openblas: `Engine.available`),
/// for this test's task only (`Engine.kernelsInTask`): tests running alongside keep the process-wide choice.
func withEachKernelSet(_ body: (Engine.KernelSet) -> Void) {
    for kernel in Engine.available {
        Engine.$kernelsInTask.withValue(kernel) { body(kernel) }
    }
}

/// Runs body with the 3x3 convolutions on the tiles direct (`never`) and as Winograd F(2x2, 3x3)
/// (`always`, whatever the shape), for this test's task only.
func withEachConvMethod(_ body: (WinogradChoice) -> Void) {
    for method in [WinogradChoice.never, .always] {
        Engine.$winogradInTask.withValue(method) { body(method) }
    }
}
