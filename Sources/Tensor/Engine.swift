// Process-wide engine settings: thread count and the BLAS kernel choice. Call `Engine.setThreads`
// once before the first forward (and again between forwards to change it).
import Foundation

public enum Engine {
    nonisolated(unsafe) private static var configured = false

    /// 1 or 2 threads for every op (our own split; BLAS itself stays single-threaded).
    /// The first call also picks OpenBLAS's AVX-512 kernels when the CPU has them and OpenBLAS chose
    /// AVX2 ones (unless MCVD_BLAS_CORE names a core, or is "default" to keep OpenBLAS's choice).
    public static func setThreads(_ n: Int) {
        precondition(n == 1 || n == 2, "threads must be 1 or 2")
        if !configured {
            configured = true
            setBLASThreads(1)
            let env = ProcessInfo.processInfo.environment["MCVD_BLAS_CORE"]
            if let env, env != "default" { selectBLASCore(env) }
            else if env == nil, hasAVX512, ["haswell", "zen"].contains(blasCoreName.lowercased()) { selectBLASCore("SkylakeX") }
        }
        Parallel.shared.threads = n
    }

    /// AVX-512 F/CD/BW/DQ/VL (from /proc/cpuinfo): what OpenBLAS's SkylakeX kernels and our own
    /// ConvKernels module (built for skylake-avx512) need.
    public static let hasAVX512: Bool = {
        guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let flags = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return false }
        let set = Set(flags.split(separator: " ").map(String.init))
        return ["avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"].allSatisfy(set.contains)
    }()

    /// Which code runs the 3x3 stride-1 convolutions and the 1x1 ones (conv and NIN) in forwards.
    public enum ConvKernel: String, Sendable { case avx512, openblas }
    /// ConvKernels' AVX-512 tiles when the CPU has AVX-512, else OpenBLAS sgemms; MCVD_CONV=openblas
    /// forces the latter. Both give the same results to rounding; settable between forwards (tests).
    nonisolated(unsafe) public static var convKernel: ConvKernel =
        hasAVX512 && ProcessInfo.processInfo.environment["MCVD_CONV"] != "openblas" ? .avx512 : .openblas
    /// Whether convolutions run on the AVX-512 tiles now.
    public static var convTiles: Bool { convKernel == .avx512 && hasAVX512 }
}
