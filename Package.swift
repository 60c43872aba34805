// swift-tools-version:6.0
import PackageDescription

// Numeric code is compiled (in release, -O: preconditions stay on) with AVX2/FMA code generation: the stdlib SIMD paths and
// transcendental kernels are 1.5–2× faster with it (see the project notes).
let fast: [SwiftSetting] = [.unsafeFlags(["-target-cpu", "haswell"])]

let package = Package(
    name: "FovEx",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "fovex", targets: ["fovex"]),
        .library(name: "FovEx", targets: ["FovExTensor", "FovExCheckpoints", "FovExImaging", "FovExModels",
                                         "FovExExplainers", "FovExMetrics", "FovExEvaluation"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
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
                swiftSettings: fast),
        .target(name: "FovExExplainers", dependencies: ["FovExModels"], swiftSettings: fast),
        .target(name: "FovExMetrics", dependencies: ["FovExModels"], swiftSettings: fast),
        .target(name: "FovExEvaluation", dependencies: ["FovExExplainers", "FovExMetrics"], swiftSettings: fast),
        // The command line's option groups, a library so that their parsing and validation can be tested.
        .target(name: "FovExCommandLine", dependencies: [
            "FovExExplainers",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], swiftSettings: fast),
        .executableTarget(name: "fovex", dependencies: [
            "FovExEvaluation",
            "FovExCommandLine",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], swiftSettings: fast),

        .testTarget(name: "FovExTensorTests", dependencies: ["FovExTensor", "FovExCheckpoints"],
                    resources: [.copy("Fixtures")], swiftSettings: fast),
        .testTarget(name: "FovExCheckpointsTests", dependencies: ["FovExCheckpoints"],
                    resources: [.copy("Fixtures")], swiftSettings: fast),
        .testTarget(name: "FovExImagingTests", dependencies: ["FovExImaging"],
                    resources: [.copy("Fixtures")], swiftSettings: fast),
        .testTarget(name: "FovExModelsTests", dependencies: ["FovExModels", "FovExCheckpoints"],
                    resources: [.copy("Fixtures")], swiftSettings: fast),
        .testTarget(name: "FovExExplainersTests", dependencies: ["FovExExplainers", "FovExCheckpoints"],
                    resources: [.copy("Fixtures")], swiftSettings: fast),
        .testTarget(name: "FovExMetricsTests", dependencies: ["FovExMetrics", "FovExCheckpoints"],
                    resources: [.copy("Fixtures")], swiftSettings: fast),
        .testTarget(name: "FovExEvaluationTests", dependencies: ["FovExEvaluation"],
                    resources: [.copy("Fixtures")], swiftSettings: fast),
        // Parses the option groups directly and runs the built `fovex` for the commands' own checks.
        .testTarget(name: "FovExCommandLineTests", dependencies: ["FovExCommandLine"], swiftSettings: fast),
    ],
    swiftLanguageModes: [.v5]
)
