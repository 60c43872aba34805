import Foundation
import XCTest
@testable import FovExImaging

/// Issue 14, items 15 and 16: inputs are read only from regular files, and the decompression budget
/// (pixels and bytes) is checked from the header before any pixel memory is allocated.
final class DecodingBudgetTests: XCTestCase {
    private func problem(_ body: () throws -> Any) -> ImageDecodingError.Problem? {
        do {
            _ = try body()
            return nil
        } catch {
            return (error as? ImageDecodingError)?.problem
        }
    }

    // MARK: Regular files only

    func testDevZeroIsRefusedInsteadOfReadForever() {
        XCTAssertEqual(problem { try RGBImage(contentsOf: URL(fileURLWithPath: "/dev/zero")) },
                       .notRegularFile(kind: "a character device"))
        XCTAssertEqual(problem { try ImageFile.dimensions(of: URL(fileURLWithPath: "/dev/zero")) },
                       .notRegularFile(kind: "a character device"))
    }

    func testAFIFONamedLikeAnImageIsRefusedInsteadOfHanging() throws {
        let fifo = try temporaryDirectory(for: self).appendingPathComponent("b.jpg")
        XCTAssertEqual(mkfifo(fifo.path, 0o600), 0)
        XCTAssertEqual(problem { try RGBImage(contentsOf: fifo) }, .notRegularFile(kind: "a FIFO (named pipe)"))
        XCTAssertThrowsError(try FloatMap(contentsOf: fifo)) { error in
            XCTAssertEqual("\(error)", "cannot decode image '\(fifo.path)': it is a FIFO (named pipe), not a regular file")
        }
    }

    // MARK: Byte budget

    func testFilesOverTheByteBudgetAreRefusedBeforeReading() throws {
        let png = try syntheticPhoto(width: 64, height: 48).pngData()
        let url = try temporaryDirectory(for: self).appendingPathComponent("photo.png")
        try Data(png).write(to: url)
        let options = ImageDecodingOptions(maximumFileBytes: png.count - 1)
        XCTAssertEqual(problem { try RGBImage(contentsOf: url, options: options) },
                       .fileTooLarge(bytes: png.count, limit: png.count - 1))
        XCTAssertEqual(problem { try RGBImage(decoding: png, options: options) },
                       .fileTooLarge(bytes: png.count, limit: png.count - 1))
        XCTAssertNoThrow(try RGBImage(contentsOf: url, options: ImageDecodingOptions(maximumFileBytes: png.count)))
    }

    // MARK: Pixel budget

    /// A PNG whose IHDR claims `width`×`height` 8-bit RGB, followed by one tiny IDAT (a zlib stream of
    /// a few zero bytes) and IEND: the "header-only claim" of the issue.
    private func headerOnlyPNG(width: UInt32, height: UInt32) -> [UInt8] {
        func chunk(_ type: String, _ body: [UInt8]) -> [UInt8] {
            let typed = Array(type.utf8) + body
            return bigEndian(UInt32(body.count)) + typed + bigEndian(crc32(typed))
        }
        let ihdr = bigEndian(width) + bigEndian(height) + [8, 2, 0, 0, 0]
        // zlib: CMF/FLG, a stored block of 4 zero bytes, Adler-32 of them (= 0x00040001).
        let zlib: [UInt8] = [0x78, 0x01, 0x01, 0x04, 0x00, 0xfb, 0xff, 0, 0, 0, 0, 0x00, 0x04, 0x00, 0x01]
        return [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a] + chunk("IHDR", ihdr) + chunk("IDAT", zlib) + chunk("IEND", [])
    }

    func testHeaderClaimOverThePixelBudgetIsRefusedFromTheHeader() {
        let png = headerOnlyPNG(width: 16384, height: 16384)
        XCTAssertEqual(problem { try RGBImage(decoding: png) },
                       .tooLarge(width: 16384, height: 16384, limit: ImageDecodingOptions.defaultMaximumPixelCount))
        XCTAssertEqual(problem { try FloatMap(decoding: png) },
                       .tooLarge(width: 16384, height: 16384, limit: ImageDecodingOptions.defaultMaximumPixelCount))
    }

    func testHeaderClaimingMoreThanItsDataCanHoldIsRefusedBeforeAllocating() {
        // Within a raised pixel budget, 16384² still cannot come out of a 70-byte file at deflate's 1032:1.
        let png = headerOnlyPNG(width: 16384, height: 16384)
        let options = ImageDecodingOptions(maximumPixelCount: 1 << 30)
        XCTAssertEqual(problem { try RGBImage(decoding: png, options: options) },
                       .implausibleSize(width: 16384, height: 16384, dataBytes: png.count))
        // A claim that the data could hold goes on to libpng, which reports the missing rows.
        switch problem({ try RGBImage(decoding: headerOnlyPNG(width: 40, height: 30), options: options) }) {
        case .corrupt(.png, _)?, .truncated(.png, _)?: break
        case let other: XCTFail("expected libpng's error, got \(String(describing: other))")
        }
    }

    func testHeaderReadingIgnoresTheBudget() throws {
        let url = try temporaryDirectory(for: self).appendingPathComponent("huge.png")
        try Data(headerOnlyPNG(width: 16384, height: 16384)).write(to: url)
        let size = try ImageFile.dimensions(of: url)
        XCTAssertEqual(size.width, 16384)
        XCTAssertEqual(size.height, 16384)
    }

    func testJPEGHeaderClaimOverThePixelBudgetIsRefusedFromTheHeader() throws {
        var jpeg = try syntheticPhoto(width: 64, height: 48).jpegData(quality: 90)
        // SOF0: FF C0, length (2), precision (1), height (2), width (2).
        let sof = try XCTUnwrap((0..<jpeg.count - 1).first { jpeg[$0] == 0xFF && jpeg[$0 + 1] == 0xC0 })
        jpeg.replaceSubrange(sof + 5..<sof + 9, with: [0x40, 0x00, 0x40, 0x00])
        XCTAssertEqual(problem { try RGBImage(decoding: jpeg) },
                       .tooLarge(width: 16384, height: 16384, limit: ImageDecodingOptions.defaultMaximumPixelCount))
        let original = try syntheticPhoto(width: 64, height: 48).jpegData(quality: 90)
        XCTAssertEqual(problem { try RGBImage(decoding: original, options: ImageDecodingOptions(maximumPixelCount: 64 * 47)) },
                       .tooLarge(width: 64, height: 48, limit: 64 * 47))
        XCTAssertNoThrow(try RGBImage(decoding: original, options: ImageDecodingOptions(maximumPixelCount: 64 * 48)))
    }

    // MARK: Environment overrides

    func testEnvironmentOverridesTheBudgetAndInvalidValuesAreReported() throws {
        let png = try syntheticPhoto(width: 64, height: 48).pngData()
        defer { unsetenv("FOVEX_MAX_PIXELS"); unsetenv("FOVEX_MAX_IMAGE_BYTES") }
        setenv("FOVEX_MAX_PIXELS", "3000", 1)
        XCTAssertEqual(ImageDecodingOptions().maximumPixelCount, 3000)
        XCTAssertEqual(problem { try RGBImage(decoding: png) }, .tooLarge(width: 64, height: 48, limit: 3000))
        XCTAssertEqual(ImageDecodingOptions(maximumPixelCount: 5000).maximumPixelCount, 5000, "an explicit limit wins")
        setenv("FOVEX_MAX_PIXELS", "abc", 1)
        XCTAssertEqual(problem { try RGBImage(decoding: png) },
                       .invalidBudget("FOVEX_MAX_PIXELS='abc' is not a positive whole number"))
        unsetenv("FOVEX_MAX_PIXELS")
        setenv("FOVEX_MAX_IMAGE_BYTES", "0", 1)
        XCTAssertEqual(problem { try RGBImage(decoding: png) },
                       .invalidBudget("FOVEX_MAX_IMAGE_BYTES='0' is not a positive whole number"))
        setenv("FOVEX_MAX_IMAGE_BYTES", "100", 1)
        XCTAssertEqual(problem { try RGBImage(decoding: png) }, .fileTooLarge(bytes: png.count, limit: 100))
    }
}

private func bigEndian(_ v: UInt32) -> [UInt8] { withUnsafeBytes(of: v.bigEndian, Array.init) }

/// CRC-32 (ISO 3309, as PNG chunks use), bit by bit.
private func crc32(_ bytes: [UInt8]) -> UInt32 {
    var crc: UInt32 = 0xFFFF_FFFF
    for b in bytes {
        crc ^= UInt32(b)
        for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
    }
    return ~crc
}
