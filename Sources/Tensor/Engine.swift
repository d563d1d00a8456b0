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
    /// AVX512Kernels module (built for skylake-avx512) need.
    public static let hasAVX512: Bool = {
        guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let flags = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return false }
        let set = Set(flags.split(separator: " ").map(String.init))
        return ["avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"].allSatisfy(set.contains)
    }()

    /// Which code runs the hot loops: AVX512Kernels (convolution tiles for 3x3 stride-1 and 1x1 convs,
    /// NINs and their input gradients; VectorMath's norm, SiLU and softmax loops built for AVX-512), or
    /// the baseline (OpenBLAS for the convolutions, VectorMath built for AVX2 in this module).
    public enum KernelSet: String, Sendable { case avx512, baseline }
    /// .avx512 when the CPU has AVX-512, unless MCVD_KERNELS=baseline. Both give the same results to
    /// rounding; settable between forwards.
    nonisolated(unsafe) public static var kernels: KernelSet =
        hasAVX512 && ProcessInfo.processInfo.environment["MCVD_KERNELS"] != "baseline" ? .avx512 : .baseline
    /// Overrides `kernels` for code running in the current task only (tests run one case under each set
    /// while other tests, in other tasks, keep the process-wide choice). Ops read it on the calling thread.
    @TaskLocal public static var kernelsInTask: KernelSet?
    /// Whether the AVX-512 kernels run now.
    public static var avx512: Bool { (kernelsInTask ?? kernels) == .avx512 && hasAVX512 }
}
