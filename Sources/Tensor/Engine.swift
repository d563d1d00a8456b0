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

    /// AVX-512 F/BW/DQ/VL, which OpenBLAS's SkylakeX kernels need (from /proc/cpuinfo).
    public static var hasAVX512: Bool {
        guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let flags = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return false }
        let set = Set(flags.split(separator: " ").map(String.init))
        return ["avx512f", "avx512bw", "avx512dq", "avx512vl"].allSatisfy(set.contains)
    }
}
