// swift-tools-version:6.0
// gst-mcvd: a GStreamer element (C shim + Swift) running Masked Conditional Video Diffusion on the CPU.
// Targets in dependency order: C system modules, the C shim, the engine, the model, diffusion, the
// element, the CLI; then the tests.
import PackageDescription

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
        .systemLibrary(name: "CGStreamer", path: "CShims/CGStreamer", pkgConfig: "gstreamer-video-1.0",
                       providers: [.apt(["libgstreamer1.0-dev", "libgstreamer-plugins-base1.0-dev"])]),
        .systemLibrary(name: "CGStreamerApp", path: "CShims/CGStreamerApp", pkgConfig: "gstreamer-app-1.0",
                       providers: [.apt(["libgstreamer-plugins-base1.0-dev"])]),
        .systemLibrary(name: "CGstCheck", path: "CShims/CGstCheck", pkgConfig: "gstreamer-check-1.0",
                       providers: [.apt(["libgstreamer1.0-dev"])]),
        .systemLibrary(name: "COpenBLAS", path: "CShims/COpenBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .target(name: "CGstMcvd", dependencies: ["CGStreamer"], path: "CShims/CGstMcvd",
                cSettings: [.define("PACKAGE", to: "\"gst-mcvd\""), .unsafeFlags(["-Wall"])]),

        // The engine is optimised in debug builds too: its loops are 20-200x slower at -Onone, which
        // would make parity and memory tests (real forwards) take many minutes. Tensor's SIMD16 code
        // (exp, norms, softmax) targets AVX2 + FMA ("haswell", x86-64-v3): 1.7x over the SSE2 baseline.
        // VectorMath: elementwise kernels as @inlinable code, compiled by each caller for its own CPU.
        // AVX512Kernels: the convolution tiles and VectorMath's kernels built for skylake-avx512
        // (AVX-512 F/CD/BW/DQ/VL); Tensor calls them only when the CPU has AVX-512 (`Engine.kernels`).
        .target(name: "VectorMath",
                swiftSettings: [.unsafeFlags(["-Ounchecked", "-wmo"], .when(configuration: .release)),
                                .unsafeFlags(["-O"], .when(configuration: .debug))]),
        .target(name: "AVX512Kernels", dependencies: ["VectorMath"],
                swiftSettings: [.unsafeFlags(["-Ounchecked", "-wmo"], .when(configuration: .release)),
                                .unsafeFlags(["-O"], .when(configuration: .debug)),
                                .unsafeFlags(["-target-cpu", "skylake-avx512"])]),
        .target(name: "Tensor", dependencies: ["COpenBLAS", "VectorMath", "AVX512Kernels"],
                swiftSettings: [.unsafeFlags(["-Ounchecked", "-wmo"], .when(configuration: .release)),
                                .unsafeFlags(["-O"], .when(configuration: .debug)),
                                .unsafeFlags(["-target-cpu", "haswell"])]),
        .target(name: "UNet", dependencies: ["Tensor"],
                swiftSettings: [.unsafeFlags(["-Ounchecked", "-wmo"], .when(configuration: .release)),
                                .unsafeFlags(["-O"], .when(configuration: .debug))]),
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
        .target(name: "Training", dependencies: ["UNet", "Tensor", "Diffusion", "MotionBase"],
                swiftSettings: [.unsafeFlags(["-Ounchecked", "-wmo"], .when(configuration: .release)),
                                .unsafeFlags(["-O"], .when(configuration: .debug))]),
        .target(name: "VideoData", dependencies: ["CGStreamer", "CGStreamerApp", "Diffusion", "Motion"],
                swiftSettings: [.swiftLanguageMode(.v5)]),
        .target(name: "Element", dependencies: ["CGStreamer", "CGstMcvd", "Motion"],
                swiftSettings: [.swiftLanguageMode(.v5),
                                .unsafeFlags(["-Ounchecked", "-wmo"], .when(configuration: .release))],
                linkerSettings: [.linkedLibrary("m"), .unsafeFlags(["-Xlinker", "-z", "-Xlinker", "defs"])]),
        // Run a model on frames (load, frame <-> tensor for every element format, conditioning, sampling):
        // what the CLI, the element and examples/ call. No GStreamer, no command-line parsing.
        .target(name: "MCVDKit", dependencies: ["UNet", "Diffusion", "Tensor", "MotionBase"]),
        .executableTarget(name: "CLI", dependencies: [
            "Tensor", "UNet", "Diffusion", "Training", "VideoData", "Element", "CGStreamer",
            "MCVDKit", "MotionBase",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        // examples/: small programs on MCVDKit (swift run example-interpolate|example-extend|example-generate).
        .executableTarget(name: "example-interpolate", dependencies: ["MCVDKit"], path: "examples/interpolate"),
        .executableTarget(name: "example-extend", dependencies: ["MCVDKit"], path: "examples/extend"),
        .executableTarget(name: "example-generate", dependencies: ["MCVDKit"], path: "examples/generate"),
        // Frame mapping speed per format (swift build -c release --product mcvdkit-bench).
        .executableTarget(name: "mcvdkit-bench", dependencies: ["MCVDKit"], path: "bench/mcvdkit"),
        // The motion residual base's cost per training batch (swift build -c release --product motionbase-bench).
        .executableTarget(name: "motionbase-bench", dependencies: ["MotionBase", "Motion", "Diffusion"], path: "bench/motionbase"),

        .testTarget(name: "ElementTests", dependencies: ["Element", "CGstMcvd", "CGStreamer", "CGStreamerApp", "CGstCheck"],
                    swiftSettings: [.swiftLanguageMode(.v5)]),
        .testTarget(name: "TensorTests", dependencies: ["Tensor", "VectorMath"]),
        .testTarget(name: "UNetTests", dependencies: ["UNet", "Tensor"], resources: [.copy("Fixtures")]),
        .testTarget(name: "DiffusionTests", dependencies: ["Diffusion"]),
        .testTarget(name: "MotionTests", dependencies: ["Motion"]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "UNet", "Tensor", "Diffusion", "MCVDKit", "MotionBase", "Motion"]),
        // Runs the built `mcvd` executable (a dependency, so `swift test` builds it) on videos it makes.
        .testTarget(name: "CLITests", dependencies: ["CLI", "VideoData", "UNet"],
                    swiftSettings: [.swiftLanguageMode(.v5)]),
        // Reads the parity fixtures of UNetTests (tiny-concat) by path; runs the built `mcvd` and examples
        // (dependencies, so `swift test` builds them).
        .testTarget(name: "MCVDKitTests", dependencies: ["MCVDKit", "MotionBase", "UNet", "Diffusion", "Tensor", "VideoData", "CLI",
                                                         "example-interpolate", "example-extend", "example-generate"]),
        .testTarget(name: "VideoDataTests", dependencies: ["VideoData", "Diffusion"], resources: [.copy("Fixtures")],
                    swiftSettings: [.swiftLanguageMode(.v5)]),
    ]
)
