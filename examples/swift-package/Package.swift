// swift-tools-version:6.0
import PackageDescription

// A package of your own that uses FovEx as a library. In this repository it depends on the checkout it
// sits in; in your project, depend on a released version instead (see README.md):
//
//     .package(url: "https://github.com/OWNER/fovex-swift", from: "1.0.0"),
let package = Package(
    name: "ExplainPhotoExample",
    platforms: [.macOS(.v13)],
    dependencies: [
        .package(name: "FovEx", path: "../.."),
    ],
    targets: [
        .executableTarget(name: "explain-photo", dependencies: [
            .product(name: "FovEx", package: "FovEx"),
        ], path: "Sources/ExplainPhoto"),
    ],
    swiftLanguageModes: [.v5]
)
