// Central finite differences for the backward tests: perturb one float by +-eps, re-run the forward,
// read the scalar loss in Double. A failure prints the max relative error, its index and both values.
import Foundation
import Testing
@testable import Tensor

/// A fixed random projection: loss(y) = sum_j r_j y_j in Double, so dLoss/dy = r.
struct Projection {
    let r: [Float]
    init(count: Int, seed: UInt64) { var g = Rng(seed); r = g.array(count) }
    func loss(_ y: UnsafePointer<Float>) -> Double {
        var s = 0.0
        for j in 0..<r.count { s += Double(r[j]) * Double(y[j]) }
        return s
    }
}

/// Compares `analytic` (the gradient of `loss` with respect to the `count` floats at `param`) with
/// central differences on up to `samples` seeded indices. The error of one entry is
/// |a - n| / max(|a|, |n|, floor), floor = 1e-2 * max|analytic| (near-zero entries compare on the
/// gradient's own scale: the Float forwards' rounding, divided by 2 eps, is ~1e-5 of that scale). Records an issue when the max error exceeds `tol`; returns the max error.
@discardableResult
func gradCheck(_ what: String, param: UnsafeMutablePointer<Float>, count: Int, analytic: [Float],
               samples: Int = 48, eps: Float = 1e-2, tol: Double, seed: UInt64 = 7,
               sourceLocation: SourceLocation = #_sourceLocation, loss: () -> Double) -> Double {
    #expect(analytic.count == count, "\(what): \(analytic.count) gradient values for \(count) parameters")
    var indices = Array(0..<count)
    if count > samples {
        var g = Rng(seed)
        indices = (0..<samples).map { _ in min(count - 1, Int((g.next() + 1) / 2 * Float(count))) }
    }
    let scale = Double(analytic.map { abs($0) }.max() ?? 0)
    let floor = max(1e-2 * scale, 1e-12)
    var worst = 0.0, at = -1, pair = (0.0, 0.0)
    for i in indices {
        let saved = param[i]
        param[i] = saved + eps; let up = Double(param[i]); let lPlus = loss()
        param[i] = saved - eps; let down = Double(param[i]); let lMinus = loss()
        param[i] = saved
        let numeric = (lPlus - lMinus) / (up - down)
        let a = Double(analytic[i])
        let err = abs(a - numeric) / max(abs(a), abs(numeric), floor)
        if err > worst || at < 0 { if err >= worst { worst = err; at = i; pair = (a, numeric) } }
    }
    print("gradcheck \(what): max rel err \(String(format: "%.2e", worst)) at \(at) (analytic \(pair.0), numeric \(pair.1)), tol \(tol)")
    #expect(worst <= tol, "\(what): max relative error \(worst) at index \(at): analytic \(pair.0) vs numeric \(pair.1)",
            sourceLocation: sourceLocation)
    return worst
}

/// An owned float buffer with seeded values.
final class Buffer {
    let p: UnsafeMutablePointer<Float>
    let count: Int
    init(_ count: Int, seed: UInt64, scale: Float = 1, offset: Float = 0) {
        self.count = count
        p = .allocate(capacity: max(1, count))
        var g = Rng(seed)
        for i in 0..<count { p[i] = offset + scale * g.next() }
    }
    init(zeros count: Int) {
        self.count = count
        p = .allocate(capacity: max(1, count))
        p.update(repeating: 0, count: max(1, count))
    }
    deinit { p.deallocate() }
    var array: [Float] { Array(UnsafeBufferPointer(start: p, count: count)) }
    func zero() { p.update(repeating: 0, count: count) }
}
