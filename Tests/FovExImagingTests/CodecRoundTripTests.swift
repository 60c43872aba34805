import Foundation
import XCTest
import FovExTensor
@testable import FovExImaging

final class CodecRoundTripTests: XCTestCase {
    func testRGBPNGRoundTripIsExact() throws {
        var generator = SeededGenerator(seed: 1)
        let bytes = (0..<(3 * 37 * 23)).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
        let image = RGBImage(width: 37, height: 23, pixels: bytes)
        let png = try image.pngData()
        XCTAssertEqual(ImageFormat.detect(png), .png)
        XCTAssertEqual(try RGBImage(decoding: png), image)
    }

    func testGrayPNG8RoundTripKeepsEveryLevel() throws {
        let values = (0..<256).map { Float($0) / 255 }
        let map = FloatMap(width: 16, height: 16, values: values)
        let decoded = try FloatMap(decoding: try map.pngData(bitDepth: .eight))
        XCTAssertEqual(decoded.width, 16)
        XCTAssertEqual(decoded.height, 16)
        for (a, b) in zip(decoded.values, values) { XCTAssertEqual(a, b, accuracy: 1e-6) }
        // As an RGB image each level becomes a neutral grey of the same byte value.
        let rgb = try RGBImage(decoding: try map.pngData())
        XCTAssertEqual(rgb[5, 3], RGBColor(red: 53, green: 53, blue: 53))
    }

    func testGrayPNG16RoundTripHasSixteenBitPrecision() throws {
        var generator = SeededGenerator(seed: 2)
        let map = FloatMap(width: 20, height: 10, values: (0..<200).map { _ in generator.nextUniform() })
        let png = try map.pngData(bitDepth: .sixteen)
        let decoded = try FloatMap(decoding: png)
        let worst = zip(decoded.values, map.values).map { abs($0 - $1) }.max()!
        XCTAssertLessThanOrEqual(worst, 0.5 / 65535 + 1e-7)
        // The 8-bit view of the same file is the value rounded to a byte (no gamma applied).
        let rgb = try RGBImage(decoding: png)
        XCTAssertLessThanOrEqual(abs(Int(rgb[7, 4].red) - Int((map[7, 4] * 255).rounded())), 1)
    }

    func testSixteenBitMapCarriesNoGammaChunk() throws {
        let png = try FloatMap(width: 4, height: 4, repeating: 0.25).pngData(bitDepth: .sixteen)
        let text = String(decoding: png, as: UTF8.self)
        XCTAssertFalse(text.contains("gAMA"))
        XCTAssertTrue(text.contains("IHDR") && text.contains("IDAT") && text.contains("IEND"))
    }

    func testMapValuesOutsideUnitRangeAreClamped() throws {
        let map = FloatMap(width: 3, height: 1, values: [-0.5, .nan, 1.7])
        let decoded = try FloatMap(decoding: try map.pngData(bitDepth: .sixteen))
        XCTAssertEqual(decoded.values, [0, 0, 1])
    }

    func testJPEGRoundTripIsClose() throws {
        let image = syntheticPhoto(width: 96, height: 64)
        let jpeg = try image.jpegData(quality: 95)
        XCTAssertEqual(ImageFormat.detect(jpeg), .jpeg)
        let decoded = try RGBImage(decoding: jpeg)
        XCTAssertEqual(decoded.width, 96)
        XCTAssertEqual(decoded.height, 64)
        let diff = byteDifference(decoded.pixels, image.pixels)
        XCTAssertLessThan(diff.mean, 1.5)
        XCTAssertLessThan(diff.max, 16)
        // Lower quality means a smaller file and a larger error.
        let small = try image.jpegData(quality: 30)
        XCTAssertLessThan(small.count, jpeg.count)
        XCTAssertGreaterThan(byteDifference(try RGBImage(decoding: small).pixels, image.pixels).mean, diff.mean)
    }

    func testTensorConversionRoundTrip() throws {
        let image = syntheticPhoto(width: 5, height: 4)
        let t = image.tensor()
        XCTAssertEqual(t.shape, [1, 3, 4, 5])
        XCTAssertEqual(t[0, 0, 2, 3], Float(image[3, 2].red) / 255, accuracy: 1e-7)
        XCTAssertEqual(t[0, 1, 2, 3], Float(image[3, 2].green) / 255, accuracy: 1e-7)
        XCTAssertEqual(t[0, 2, 2, 3], Float(image[3, 2].blue) / 255, accuracy: 1e-7)
        XCTAssertEqual(RGBImage(t), image)
        XCTAssertEqual(RGBImage(t.reshaped([3, 4, 5])), image)
        // A non-contiguous (channels-last) view converts the same.
        XCTAssertEqual(RGBImage(t.channelsLast()), image)
        let batch = RGBImage.batchTensor([image, image])
        XCTAssertEqual(batch.shape, [2, 3, 4, 5])
        XCTAssertEqual(batch[1, 2, 3, 4], t[0, 2, 3, 4])
    }

    func testTensorValuesAreClampedAndRounded() {
        let t = Tensor(shape: [3, 1, 2], scalars: [-0.2, 1.4, 0.5, 0.998, .nan, 0.0019])
        let image = RGBImage(t)
        XCTAssertEqual(image[0, 0], RGBColor(red: 0, green: 128, blue: 0))
        XCTAssertEqual(image[1, 0], RGBColor(red: 255, green: 254, blue: 0))
    }

    func testFloatMapTensorConversion() {
        let t = Tensor(shape: [1, 1, 2, 3], scalars: [1, 2, 3, 4, 5, 6])
        let map = FloatMap(t)
        XCTAssertEqual(map.width, 3)
        XCTAssertEqual(map.height, 2)
        XCTAssertEqual(map[2, 1], 6)
        XCTAssertEqual(map.tensor().shape, [2, 3])
        XCTAssertEqual(map.tensor().scalars, t.scalars)
    }

    func testWritesAreAtomicAndLeaveNoTemporaryFiles() throws {
        let dir = try temporaryDirectory(for: self)
        let url = dir.appendingPathComponent("picture.png")
        let first = syntheticPhoto(width: 8, height: 8)
        try first.writePNG(to: url)
        XCTAssertEqual(try RGBImage(contentsOf: url), first)
        let second = RGBImage(width: 3, height: 2, color: .yellow)
        try second.writePNG(to: url)  // replaces the first file
        XCTAssertEqual(try RGBImage(contentsOf: url), second)
        let attributes = try FileManager.default.attributesOfItem(atPath: url.path)
        XCTAssertEqual((attributes[.posixPermissions] as? NSNumber)?.intValue, 0o644)

        try first.write(to: dir.appendingPathComponent("photo.JPG"), jpegQuality: 90)
        try FloatMap(width: 4, height: 4, repeating: 0.5).writePNG(to: dir.appendingPathComponent("map16.png"),
                                                                   bitDepth: .sixteen)
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        XCTAssertEqual(names, ["map16.png", "photo.JPG", "picture.png"])
        XCTAssertEqual(try RGBImage(contentsOf: dir.appendingPathComponent("photo.JPG")).width, 8)
    }

    func testWriteErrorsNameTheDestination() throws {
        let dir = try temporaryDirectory(for: self)
        let image = RGBImage(width: 2, height: 2)
        let missing = dir.appendingPathComponent("no-such-dir/out.png")
        XCTAssertThrowsError(try image.writePNG(to: missing)) { error in
            let text = String(describing: error)
            XCTAssertTrue(text.contains(missing.path), text)
            XCTAssertTrue(text.contains("No such file or directory"), text)
        }
        XCTAssertThrowsError(try image.write(to: dir.appendingPathComponent("out.gif"))) { error in
            XCTAssertTrue(String(describing: error).contains("unknown extension '.gif'"))
        }
        XCTAssertThrowsError(try RGBImage(width: 0, height: 5).pngData())
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), [])
    }

    func testLargeJPEGDecodesEveryBlockOfThePicture() throws {
        // A full-size photo spans many MCU rows and columns: every 64×64 block of the decoded picture must
        // hold its own part of the original (a decoder that stopped early, or placed rows or blocks wrongly,
        // fails here), not just have the right size.
        let (width, height) = (1024, 768)
        let image = syntheticPhoto(width: width, height: height)
        let decoded = try RGBImage(decoding: try image.jpegData(quality: 90))
        XCTAssertEqual(decoded.width, width)
        XCTAssertEqual(decoded.height, height)
        var worst = 0.0
        for by in stride(from: 0, to: height, by: 64) {
            for bx in stride(from: 0, to: width, by: 64) {
                var sum = 0.0
                for y in by..<(by + 64) {
                    for x in bx..<(bx + 64) {
                        for c in 0..<3 {
                            let i = 3 * (y * width + x) + c
                            sum += abs(Double(decoded.pixels[i]) - Double(image.pixels[i]))
                        }
                    }
                }
                worst = max(worst, sum / Double(64 * 64 * 3))
            }
        }
        XCTAssertLessThan(worst, 2, "mean absolute error of the worst 64×64 block, in levels")
    }
}
