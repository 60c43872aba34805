// swift-tools-version:6.0
import PackageDescription

// libFuzzer targets for FovEx's parsers; a separate package so that the normal build never sees them.
// Build and run with `make fuzz` from the repository root (see fuzz/README.md). `FovEx` is a symbolic link
// to the repository root, so the dependency has the same identity wherever the repository is cloned.
let targets = ["safetensors", "pickle", "image", "imagenet-csv", "fixations", "onnx"]

let package = Package(
    name: "FovExFuzz",
    platforms: [.macOS(.v13)],
    dependencies: [.package(path: "FovEx")],
    targets: [
        .target(name: "FuzzSupport", dependencies: [.product(name: "FovEx", package: "FovEx")]),
    ] + targets.map { name in
        .executableTarget(name: "fuzz-\(name)", dependencies: ["FuzzSupport"])
    },
    swiftLanguageModes: [.v5]
)
