// swift-tools-version:6.0
import PackageDescription

// Explaining a network you write yourself with FovEx's tensor operations (see README.md and the
// "Explaining your own network" article).
let package = Package(
    name: "CustomModelExample",
    platforms: [.macOS(.v13)],
    dependencies: [
        .package(name: "FovEx", path: "../.."),
    ],
    targets: [
        .executableTarget(name: "custom-model", dependencies: [
            .product(name: "FovEx", package: "FovEx"),
        ], path: "Sources/CustomModel"),
    ],
    swiftLanguageModes: [.v5]
)
