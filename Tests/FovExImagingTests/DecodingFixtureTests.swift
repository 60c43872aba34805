import Foundation
import XCTest
@testable import FovExImaging

/// Decoding checked against PIL's decode of the same files (fixtures from tools/make_image_fixtures.py).
final class DecodingFixtureTests: XCTestCase {
    private func decode(_ name: String, background: RGBColor = .white) throws -> RGBImage {
        try RGBImage(contentsOf: try fixtureURL(name), options: ImageDecodingOptions(background: background))
    }

    func testGrayscaleJPEGBecomesNeutralRGB() throws {
        let image = try decode("gray.jpg")
        let expected = try decode("gray.expected.png")
        XCTAssertEqual(image.width, 16)
        XCTAssertEqual(image.height, 12)
        XCTAssertLessThanOrEqual(byteDifference(image.pixels, expected.pixels).max, 1)
        for y in 0..<image.height {
            for x in 0..<image.width {
                let p = image[x, y]
                XCTAssertTrue(p.red == p.green && p.green == p.blue, "pixel (\(x), \(y)) = \(p) is not grey")
            }
        }
    }

    func testAdobeCMYKJPEGMatchesPIL() throws {
        let image = try decode("cmyk.jpg")
        let expected = try decode("cmyk.expected.png")
        XCTAssertEqual(image.width, expected.width)
        XCTAssertEqual(image.height, expected.height)
        let diff = byteDifference(image.pixels, expected.pixels)
        XCTAssertLessThanOrEqual(diff.max, 2, "mean difference \(diff.mean)")
    }

    func testPNGTransparencyIsCompositedOntoTheBackground() throws {
        for name in ["rgba8", "gray-alpha8", "palette-trns", "rgba16"] {
            for (background, suffix) in [(RGBColor.white, "on-white"), (.black, "on-black")] {
                let image = try decode("\(name).png", background: background)
                let expected = try decode("\(name).\(suffix).png")
                XCTAssertEqual(image.width, 16, name)
                XCTAssertEqual(image.height, 12, name)
                let diff = byteDifference(image.pixels, expected.pixels)
                XCTAssertLessThanOrEqual(diff.max, 1, "\(name) \(suffix): mean difference \(diff.mean)")
            }
        }
        // The fully transparent pixel (1, 0) takes the background colour.
        XCTAssertEqual(try decode("rgba8.png", background: .white)[1, 0], .white)
        XCTAssertEqual(try decode("rgba8.png", background: .black)[1, 0], .black)
    }

    func testOpaquePNGsOfEveryDepthAndColourType() throws {
        for name in ["gray1", "palette4", "gray16", "rgb16"] {
            let image = try decode("\(name).png")
            let expected = try decode("\(name).on-white.png")
            let diff = byteDifference(image.pixels, expected.pixels)
            XCTAssertLessThanOrEqual(diff.max, 1, "\(name): mean difference \(diff.mean)")
        }
        // Sanity of the reference itself: the 1-bit image holds only black and white.
        XCTAssertEqual(Set(try decode("gray1.png").pixels), [0, 255])
    }

    func testSixteenBitGrayReadsAsFloatMapWithFullPrecision() throws {
        let map = try FloatMap(contentsOf: try fixtureURL("gray16.png"))
        let eight = try FloatMap(contentsOf: try fixtureURL("gray16.on-white.png"))
        XCTAssertEqual(map.width, 16)
        // The 16-bit values agree with their 8-bit rounding but are finer than 1/255 steps.
        for (a, b) in zip(map.values, eight.values) { XCTAssertEqual(a, b, accuracy: 0.5 / 255 + 1e-6) }
        XCTAssertTrue(map.values.contains { v in abs(v * 255 - (v * 255).rounded()) > 0.05 })
    }

    func testGrayJPEGReadsAsFloatMap() throws {
        let map = try FloatMap(contentsOf: try fixtureURL("gray.jpg"))
        let rgb = try decode("gray.jpg")
        for i in 0..<map.values.count {
            XCTAssertEqual(map.values[i], Float(rgb.pixels[3 * i]) / 255, accuracy: 1e-6)
        }
    }

    func testDimensionsComeFromHeaders() throws {
        for name in ["gray.jpg", "cmyk.jpg", "rgba16.png", "palette4.png"] {
            let size = try ImageFile.dimensions(of: try fixtureURL(name))
            XCTAssertEqual(size.width, 16, name)
            XCTAssertEqual(size.height, 12, name)
        }
        let dir = try temporaryDirectory(for: self)
        let url = dir.appendingPathComponent("cut.png")
        try Data(Array(try syntheticPhoto(width: 30, height: 20).pngData().prefix(60))).write(to: url)
        XCTAssertEqual(try ImageFile.dimensions(of: url).width, 30)  // the header alone suffices
        XCTAssertThrowsError(try ImageFile.dimensions(of: dir.appendingPathComponent("missing.jpg")))
    }

    func testLumaOfAPixel() throws {
        let image = try decode("gray.jpg")
        XCTAssertEqual(image.luma(x: 3, y: 2), Float(image[3, 2].red), accuracy: 0.01)
        XCTAssertEqual(RGBImage(width: 1, height: 1, color: RGBColor(red: 255, green: 0, blue: 0)).luma(x: 0, y: 0),
                       0.299 * 255, accuracy: 1e-3)
    }

    func testSamplePhotosDecodeLikePIL() throws {
        let folder = dataDirectory().appendingPathComponent("samples")
        guard FileManager.default.fileExists(atPath: folder.path) else {
            print("skipping sample photos: \(folder.path) is absent (set FOVEX_DATA)")
            throw XCTSkip("sample photos absent at \(folder.path)")
        }
        let reference = try JSONDecoder().decode([String: SampleStats].self,
                                                 from: Data(contentsOf: try fixtureURL("samples.json")))
        XCTAssertEqual(reference.count, 4)
        for (name, stats) in reference {
            let image = try RGBImage(contentsOf: folder.appendingPathComponent(name))
            XCTAssertEqual(image.width, stats.width, name)
            XCTAssertEqual(image.height, stats.height, name)
            let n = Double(image.width * image.height)
            for c in 0..<3 {
                let mean = stride(from: c, to: image.pixels.count, by: 3).reduce(0.0) { $0 + Double(image.pixels[$1]) } / n
                XCTAssertEqual(mean, stats.mean[c], accuracy: 0.05, "\(name) channel \(c)")
            }
        }
    }

    private struct SampleStats: Decodable {
        var width: Int
        var height: Int
        var mean: [Double]
    }
}
