// Process-wide engine settings: thread count and the kernel path. Call `Engine.setThreads` once before
// the first forward (and again between forwards to change it).
import Foundation
import Synchronization

public enum Engine {

    /// The thread count of every op (our own split; BLAS itself stays single-threaded), for the whole
    /// process; `threadsInTask` overrides it for one task. Any count >= 1 works; more than the CPU's
    /// cores only adds switching. The first call also picks OpenBLAS's AVX-512 kernels when the CPU has
    /// them and OpenBLAS chose AVX2 ones (unless MCVD_BLAS_CORE names a core, or is "default" to keep
    /// OpenBLAS's choice).
    public static func setThreads(_ n: Int) {
        precondition(n >= 1, "threads must be >= 1 (got \(n))")
        configure()
        Parallel.shared.threads = n
    }

    /// The one-time set-up of `setThreads` without touching the thread count: BLAS single-threaded and
    /// its core chosen as above. Every entry that runs models calls it (MCVDKit's Generator, the
    /// element), so a forward gives the same bits in every process whoever called first.
    public static func configure() {
        configureOnce.withLock { done in
            guard !done else { return }
            done = true
            setBLASThreads(1)
            let env = ProcessInfo.processInfo.environment["MCVD_BLAS_CORE"]
            if let env, env != "default" { selectBLASCore(env) }
            else if env == nil, hasAVX512, ["haswell", "zen"].contains(blasCoreName.lowercased()) { selectBLASCore("SkylakeX") }
        }
    }
    private static let configureOnce = Mutex(false)
    /// The thread count for code running in the current task only (a test runs one case with 1, 2 and
    /// 3 threads while tests in other tasks keep theirs). Ops read it on the calling thread.
    @TaskLocal public static var threadsInTask: Int?
    /// The thread count ops use now.
    public static var threads: Int { Parallel.shared.threads }

    /// The CPU's feature flags (the `flags` line of /proc/cpuinfo; empty where there is none).
    public static let cpuFlags: Set<String> = {
        guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let flags = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") })
        else { return [] }
        return Set(flags.split(separator: " ").map(String.init))
    }()

    /// The flags each path needs: AVX-512 F/CD/BW/DQ/VL (what OpenBLAS's SkylakeX kernels and our
    /// AVX512Kernels module, built for skylake-avx512, use), and AVX2 + FMA (+ the rest of x86-64-v3
    /// that the haswell target assumes: BMI1/2, F16C, MOVBE, LZCNT).
    public static let avx512Flags = ["avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"]
    public static let avx2Flags = ["avx2", "fma", "bmi1", "bmi2", "f16c", "movbe", "abm"]

    #if arch(x86_64)
    public static let hasAVX512 = avx512Flags.allSatisfy(cpuFlags.contains)
    public static let hasAVX2 = avx2Flags.allSatisfy(cpuFlags.contains)
    #else
    public static let hasAVX512 = false
    public static let hasAVX2 = false
    #endif

    /// Which code runs the hot loops.
    /// - avx512: ConvKernels' tiles built for AVX-512 (3x3 stride-1 and 1x1 convs, NINs, their input
    ///   gradients) and VectorMath's norm, SiLU and softmax loops built for AVX-512 (AVX512Kernels);
    /// - avx2: the same tiles built for AVX2 + FMA (AVX2Kernels), VectorMath as built in Tensor;
    /// - portable: the same tiles built for the baseline of the architecture (SIMD4: SSE2 or NEON);
    /// - openblas: OpenBLAS sgemm for the convolutions (im2col or shifted-slab products).
    /// All give the same results to rounding.
    public enum KernelSet: String, Sendable, CaseIterable {
        case avx512, avx2, portable, openblas
        /// Whether this CPU can run it.
        public var runs: Bool {
            switch self {
            case .avx512: Engine.hasAVX512
            case .avx2: Engine.hasAVX2
            case .portable, .openblas: true
            }
        }
        /// Whether the convolutions run on our own tiles (not OpenBLAS).
        public var tiles: Bool { self != .openblas }
    }
    /// The paths this CPU runs, fastest first.
    public static var available: [KernelSet] { KernelSet.allCases.filter(\.runs) }
    /// The fastest path the CPU runs (avx512 > avx2 > portable), unless MCVD_KERNELS names another one
    /// it runs (avx512, avx2, portable, openblas; "baseline" is openblas). Settable between forwards.
    nonisolated(unsafe) public static var kernels: KernelSet = {
        let env = ProcessInfo.processInfo.environment["MCVD_KERNELS"].map { $0 == "baseline" ? "openblas" : $0 }
        if let env {
            if let k = KernelSet(rawValue: env), k.runs { return k }
            FileHandle.standardError.write(Data(("mcvd: MCVD_KERNELS=\(env) is not a path this CPU runs ("
                + available.map(\.rawValue).joined(separator: ", ") + "); using \(available[0].rawValue)\n").utf8))
        }
        return available[0]
    }()
    /// Overrides `kernels` for code running in the current task only (tests run one case under each set
    /// while other tests, in other tasks, keep the process-wide choice). Ops read it on the calling thread.
    @TaskLocal public static var kernelsInTask: KernelSet?
    /// The path that runs now (a choice the CPU cannot run falls back: the task's to `kernels`, that to
    /// the fastest available).
    public static var path: KernelSet {
        if let k = kernelsInTask, k.runs { return k }
        return kernels.runs ? kernels : available[0]
    }
    /// Whether the AVX-512 kernels run now.
    public static var avx512: Bool { path == .avx512 }
    /// One line for `mcvd bench` and `mcvd info`: the path and the CPU flags that chose it.
    public static var pathDescription: String {
        let shown = (avx512Flags + avx2Flags).filter(cpuFlags.contains)
        return "kernels: \(path.rawValue) (available: \(available.map(\.rawValue).joined(separator: ", "))"
            + (ProcessInfo.processInfo.environment["MCVD_KERNELS"].map { "; MCVD_KERNELS=\($0)" } ?? "")
            + "); cpu flags: \(shown.isEmpty ? "none of avx2/fma/avx512" : shown.joined(separator: " "))"
            + (hasAVX512 ? "" : avx512Flags.contains(where: cpuFlags.contains) ? " (partial avx512)" : ", no avx512")
    }
}
