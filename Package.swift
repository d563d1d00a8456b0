// swift-tools-version:6.0
// gst-mcvd: a GStreamer element (C shim + Swift) running Masked Conditional Video Diffusion on the CPU.
// Targets in dependency order: C system modules, the C shim, the engine, the model, diffusion, the
// element, the CLI; then the tests.
import Foundation
import PackageDescription

// GStreamer's header and library folders, passed as flags to the targets that import it. The systemLibrary
// targets carry no `pkgConfig`: SwiftPM would then also read glib's -pthread (gmodule-no-export-2.0's
// Cflags, reached through gstreamer-1.0's Requires.private) and warn "prohibited flag(s): -pthread" for
// every target. pkg-config's -I and -L flags only; without pkg-config, Debian's folders with the
// multiarch one (x86_64-linux-gnu, aarch64-linux-gnu, ...) found on disk.
let gstModules = ["gstreamer-video-1.0", "gstreamer-app-1.0", "gstreamer-check-1.0"]
func pkgConfigFlags(_ option: String) -> [String]? {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = ["pkg-config", option] + gstModules
    let out = Pipe()
    p.standardOutput = out
    p.standardError = FileHandle.nullDevice
    guard (try? p.run()) != nil else { return nil }
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    guard p.terminationStatus == 0, let text = String(data: data, encoding: .utf8) else { return nil }
    return text.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init)
}
let gstIncludeFlags: [String] = pkgConfigFlags("--cflags-only-I") ?? {
    let libs = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib")) ?? []
    let glibConfig = libs.sorted().map { "/usr/lib/\($0)/glib-2.0/include" }
        .filter { FileManager.default.fileExists(atPath: $0 + "/glibconfig.h") }
    return (["/usr/include/gstreamer-1.0", "/usr/include/glib-2.0"] + glibConfig).map { "-I" + $0 }
}()
let gstLibraryFlags: [String] = pkgConfigFlags("--libs-only-L") ?? []
/// For Swift targets that import a GStreamer module, directly or through another module.
let gstSwiftSettings: [SwiftSetting] = [.unsafeFlags(gstIncludeFlags.flatMap { ["-Xcc", $0] })]
let gstLinkerSettings: [LinkerSetting] = gstLibraryFlags.isEmpty ? [] : [.unsafeFlags(gstLibraryFlags)]

// The plugin's origin URL (gst-inspect-1.0's "Origin URL"): the checkout it is built from, as a file://
// URL, or MCVD_ORIGIN_URL at build time (packagers: the project's public address).
let originURL = Context.environment["MCVD_ORIGIN_URL"].flatMap { $0.isEmpty ? nil : $0 }
    ?? URL(fileURLWithPath: Context.packageDirectory, isDirectory: true).absoluteString
let originDefine = "\"" + originURL.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""

/// Compiler flags for x86-64 hosts only (-target-cpu names an x86 CPU).
func x86Only(_ flags: [String]) -> [SwiftSetting] {
    #if arch(x86_64)
    return [.unsafeFlags(flags)]
    #else
    return []
    #endif
}
/// Kernel modules: -Ounchecked in release (inner loops only; their callers check shapes).
func kernelSettings(_ extra: [SwiftSetting] = []) -> [SwiftSetting] {
    [.unsafeFlags(["-Ounchecked", "-wmo"], .when(configuration: .release)), .unsafeFlags(["-O"], .when(configuration: .debug))] + extra
}
/// Tensor, UNet, Training: optimised in both configurations, preconditions kept.
func engineSettings(_ extra: [SwiftSetting] = []) -> [SwiftSetting] {
    [.unsafeFlags(["-O", "-wmo"], .when(configuration: .release)), .unsafeFlags(["-O"], .when(configuration: .debug))] + extra
}

let package = Package(
    name: "gst-mcvd",
    products: [
        // libgstmcvd.so: GST_PLUGIN_PATH=<dir with it> gst-inspect-1.0 mcvd
        .library(name: "gstmcvd", type: .dynamic, targets: ["Element"]),
        .executable(name: "mcvd", targets: ["CLI"]),
        .library(name: "MCVDKit", targets: ["MCVDKit"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // GStreamer's folders come from gstIncludeFlags / gstSwiftSettings on the targets that import these.
        .systemLibrary(name: "CGStreamer", path: "CShims/CGStreamer",
                       providers: [.apt(["libgstreamer1.0-dev", "libgstreamer-plugins-base1.0-dev"])]),
        .systemLibrary(name: "CGStreamerApp", path: "CShims/CGStreamerApp",
                       providers: [.apt(["libgstreamer-plugins-base1.0-dev"])]),
        .systemLibrary(name: "CGstCheck", path: "CShims/CGstCheck",
                       providers: [.apt(["libgstreamer1.0-dev"])]),
        .systemLibrary(name: "COpenBLAS", path: "CShims/COpenBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .target(name: "CGstMcvd", dependencies: ["CGStreamer"], path: "CShims/CGstMcvd",
                cSettings: [.define("PACKAGE", to: "\"gst-mcvd\""), .define("GST_MCVD_ORIGIN", to: originDefine),
                            .unsafeFlags(["-Wall"] + gstIncludeFlags)],
                linkerSettings: gstLinkerSettings),
        // Test-only: counts malloc-family calls (per thread and in total) for the allocation tests.
        .target(name: "CMallocCounter", path: "CShims/CMallocCounter"),

        // The engine is optimised in debug builds too: its loops are 20-200x slower at -Onone, which
        // would make parity and memory tests (real forwards) take many minutes.
        // ConvKernels: the convolution tiles written once as @inlinable code generic over the SIMD width,
        // plus their portable instantiation (SIMD4, no CPU flags). VectorMath: elementwise kernels as
        // @inlinable code. Each module that calls them compiles them for its own CPU: AVX512Kernels for
        // skylake-avx512 (AVX-512 F/CD/BW/DQ/VL), AVX2Kernels for haswell (AVX2 + FMA, x86-64-v3), Tensor
        // (whose own SIMD16 code, exp, norms, softmax, runs 1.7x faster on AVX2 + FMA than on SSE2) for
        // haswell too. Tensor picks a path at run time from the CPU's flags (`Engine.kernels`).
        // Only x86-64 gets -target-cpu flags (`x86Only`): elsewhere (arm64: NEON) every module builds for
        // the baseline of the host and the portable path runs.
        // Release: -Ounchecked only in the kernel modules (inner loops over pointers the callers have
        // checked); Tensor, UNet and Training keep their checks (-O): built -Ounchecked they gave
        // forwards 0-5% faster (fastest of 32 at 1 thread, 64x64, AMD EPYC Zen 3 AVX2, thread CPU
        // time on a shared machine: tiny-concat 37.6 vs 39.7 ms, smmnist-small5 49.6 vs 51.6, spatin
        // 79.1 vs 78.5), within the noise (docs/engine-benchmark.md).
        .target(name: "ConvKernels", swiftSettings: kernelSettings()),
        .target(name: "VectorMath", swiftSettings: kernelSettings()),
        .target(name: "AVX512Kernels", dependencies: ["VectorMath", "ConvKernels"],
                swiftSettings: kernelSettings(x86Only(["-target-cpu", "skylake-avx512"]))),
        .target(name: "AVX2Kernels", dependencies: ["VectorMath", "ConvKernels"],
                swiftSettings: kernelSettings(x86Only(["-target-cpu", "haswell"]))),
        .target(name: "Tensor", dependencies: ["COpenBLAS", "VectorMath", "ConvKernels", "AVX512Kernels", "AVX2Kernels"],
                swiftSettings: engineSettings(x86Only(["-target-cpu", "haswell"]))),
        .target(name: "UNet", dependencies: ["Tensor"], swiftSettings: engineSettings()),
        .target(name: "Diffusion"),
        // Motion-compensated interpolation (the `motion` method): pure Swift, optimised in debug builds too
        // (its per-pixel loops run on every frame of the element tests).
        .target(name: "Motion",
                swiftSettings: [.swiftLanguageMode(.v5),
                                .unsafeFlags(["-Ounchecked", "-wmo", "-enforce-exclusivity=unchecked"], .when(configuration: .release)),
                                .unsafeFlags(["-O"], .when(configuration: .debug))]),
        // The residual bases (blend, motion, last, first, zeros) as Diffusion's baseline hook: shared by
        // training and sampling; the motion base calls Motion.
        .target(name: "MotionBase", dependencies: ["Diffusion", "Motion"]),
        // Optimised in debug builds like the engine: the trainer's per-parameter loops run every step.
        .target(name: "Training", dependencies: ["UNet", "Tensor", "Diffusion", "MotionBase"], swiftSettings: engineSettings()),
        .target(name: "VideoData", dependencies: ["CGStreamer", "CGStreamerApp", "Diffusion", "Motion"],
                swiftSettings: [.swiftLanguageMode(.v5)] + gstSwiftSettings, linkerSettings: gstLinkerSettings),
        // Element runs models through MCVDKit (method=diffusion); MCVDKit and the engine keep their own
        // build settings (MCVDKit's input checks are throws, not preconditions, so -Ounchecked here
        // removes none of them).
        .target(name: "Element", dependencies: ["CGStreamer", "CGstMcvd", "Motion", "MCVDKit", "Diffusion", "Tensor"],
                swiftSettings: [.swiftLanguageMode(.v5),
                                .unsafeFlags(["-Ounchecked", "-wmo"], .when(configuration: .release))] + gstSwiftSettings,
                linkerSettings: [.linkedLibrary("m"), .unsafeFlags(["-Xlinker", "-z", "-Xlinker", "defs"])] + gstLinkerSettings),
        // Run a model on frames (load, frame <-> tensor for every element format, conditioning, sampling):
        // what the CLI, the element and examples/ call. No GStreamer, no command-line parsing.
        .target(name: "MCVDKit", dependencies: ["UNet", "Diffusion", "Tensor", "MotionBase"]),
        .executableTarget(name: "CLI", dependencies: [
            "Tensor", "UNet", "Diffusion", "Training", "VideoData", "Element", "CGStreamer",
            "MCVDKit", "MotionBase",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], swiftSettings: gstSwiftSettings),

        // examples/: small programs on MCVDKit (swift run example-interpolate|example-extend|example-generate).
        .executableTarget(name: "example-interpolate", dependencies: ["MCVDKit"], path: "examples/interpolate"),
        .executableTarget(name: "example-extend", dependencies: ["MCVDKit"], path: "examples/extend"),
        .executableTarget(name: "example-generate", dependencies: ["MCVDKit"], path: "examples/generate"),
        // Frame mapping speed per format (swift build -c release --product mcvdkit-bench).
        .executableTarget(name: "mcvdkit-bench", dependencies: ["MCVDKit"], path: "bench/mcvdkit"),
        // The motion residual base's cost per training batch (swift build -c release --product motionbase-bench).
        .executableTarget(name: "motionbase-bench", dependencies: ["MotionBase", "Motion", "Diffusion"], path: "bench/motionbase"),

        .testTarget(name: "ElementTests", dependencies: ["Element", "CGstMcvd", "CGStreamer", "CGStreamerApp", "CGstCheck",
                                                        "MCVDKit", "Diffusion", "UNet", "Training", "Tensor", "Motion"],
                    swiftSettings: [.swiftLanguageMode(.v5)] + gstSwiftSettings),
        .testTarget(name: "TensorTests", dependencies: ["Tensor", "VectorMath"]),
        .testTarget(name: "UNetTests", dependencies: ["UNet", "Tensor"], resources: [.copy("Fixtures")]),
        .testTarget(name: "DiffusionTests", dependencies: ["Diffusion"]),
        .testTarget(name: "MotionTests", dependencies: ["Motion", "CMallocCounter"]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "UNet", "Tensor", "Diffusion", "MCVDKit", "MotionBase", "Motion"]),
        // Runs the built `mcvd` executable (a dependency, so `swift test` builds it) on videos it makes.
        .testTarget(name: "CLITests", dependencies: ["CLI", "VideoData", "UNet"],
                    swiftSettings: [.swiftLanguageMode(.v5)] + gstSwiftSettings),
        // Reads the parity fixtures of UNetTests (tiny-concat) by path; runs the built `mcvd` and examples
        // (dependencies, so `swift test` builds them).
        .testTarget(name: "MCVDKitTests", dependencies: ["MCVDKit", "MotionBase", "UNet", "Diffusion", "Tensor", "VideoData", "CLI",
                                                         "example-interpolate", "example-extend", "example-generate"],
                    swiftSettings: gstSwiftSettings),
        .testTarget(name: "VideoDataTests", dependencies: ["VideoData", "Diffusion"], resources: [.copy("Fixtures")],
                    swiftSettings: [.swiftLanguageMode(.v5)] + gstSwiftSettings),
    ]
)
