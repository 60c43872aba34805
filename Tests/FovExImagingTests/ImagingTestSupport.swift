import Foundation
import XCTest
@testable import FovExImaging

/// A fixture file written by tools/make_image_fixtures.py.
func fixtureURL(_ name: String) throws -> URL {
    let dir = try XCTUnwrap(Bundle.module.url(forResource: "Fixtures", withExtension: nil), "test fixtures missing")
    return dir.appendingPathComponent(name)
}

/// The shared data folder: $FOVEX_DATA, or ../shared/data next to the package root.
func dataDirectory() -> URL {
    if let env = ProcessInfo.processInfo.environment["FOVEX_DATA"], !env.isEmpty {
        return URL(fileURLWithPath: env)
    }
    let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    return packageRoot.appendingPathComponent("../shared/data").standardizedFileURL
}

/// A fresh empty directory for files a test writes, removed at the end of the test.
func temporaryDirectory(for test: XCTestCase) throws -> URL {
    let url = FileManager.default.temporaryDirectory
        .appendingPathComponent("fovex-imaging-\(UUID().uuidString)", isDirectory: true)
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(at: url) }
    return url
}

/// Largest and mean absolute difference of two equally long byte arrays.
func byteDifference(_ a: [UInt8], _ b: [UInt8]) -> (max: Int, mean: Double) {
    precondition(a.count == b.count, "comparing \(a.count) bytes with \(b.count)")
    var worst = 0, total = 0
    for (x, y) in zip(a, b) {
        let d = abs(Int(x) - Int(y))
        worst = max(worst, d)
        total += d
    }
    return (worst, a.isEmpty ? 0 : Double(total) / Double(a.count))
}

/// A smooth, colourful test picture (gradients plus a soft blob), like photographic content.
func syntheticPhoto(width: Int, height: Int) -> RGBImage {
    var pixels = [UInt8](repeating: 0, count: 3 * width * height)
    for y in 0..<height {
        for x in 0..<width {
            let u = Float(x) / Float(max(width - 1, 1)), v = Float(y) / Float(max(height - 1, 1))
            let blob = exp(-((u - 0.6) * (u - 0.6) + (v - 0.4) * (v - 0.4)) * 12)
            let i = 3 * (y * width + x)
            pixels[i] = UInt8(255 * (0.2 + 0.6 * u))
            pixels[i + 1] = UInt8(255 * (0.1 + 0.5 * v + 0.3 * blob))
            pixels[i + 2] = UInt8(255 * (0.7 - 0.5 * u * v))
        }
    }
    return RGBImage(width: width, height: height, pixels: pixels)
}

/// Pixels that differ between two images of one size, as (x, y).
func changedPixels(_ a: RGBImage, _ b: RGBImage) -> [(x: Int, y: Int)] {
    precondition(a.width == b.width && a.height == b.height)
    var out: [(Int, Int)] = []
    for y in 0..<a.height {
        for x in 0..<a.width where a[x, y] != b[x, y] { out.append((x, y)) }
    }
    return out
}
