import Foundation
import XCTest
import FovExTensor
@testable import FovExImaging

final class DecodingErrorTests: XCTestCase {
    private func problem(decoding bytes: [UInt8], options: ImageDecodingOptions = .init(),
                         file: StaticString = #filePath, line: UInt = #line) -> ImageDecodingError.Problem? {
        do {
            _ = try RGBImage(decoding: bytes, source: "test-input", options: options)
            XCTFail("decoding succeeded", file: file, line: line)
            return nil
        } catch let error as ImageDecodingError {
            XCTAssertEqual(error.source, "test-input", file: file, line: line)
            XCTAssertTrue(error.description.hasPrefix("cannot decode image 'test-input': "), error.description,
                          file: file, line: line)
            return error.problem
        } catch {
            XCTFail("unexpected error \(error)", file: file, line: line)
            return nil
        }
    }

    private func jpeg() throws -> [UInt8] { try syntheticPhoto(width: 64, height: 48).jpegData(quality: 90) }
    private func png() throws -> [UInt8] { try syntheticPhoto(width: 64, height: 48).pngData() }

    func testEmptyFileIsReportedWithItsPath() throws {
        let url = try temporaryDirectory(for: self).appendingPathComponent("empty.jpg")
        XCTAssertTrue(FileManager.default.createFile(atPath: url.path, contents: Data()))
        XCTAssertThrowsError(try RGBImage(contentsOf: url)) { error in
            XCTAssertEqual((error as? ImageDecodingError)?.problem, .empty)
            XCTAssertEqual(String(describing: error), "cannot decode image '\(url.path)': the file is empty (0 bytes)")
        }
    }

    func testMissingFileAndDirectoryAreUnreadable() throws {
        let dir = try temporaryDirectory(for: self)
        let missing = dir.appendingPathComponent("nope.png")
        XCTAssertThrowsError(try RGBImage(contentsOf: missing)) { error in
            XCTAssertEqual((error as? ImageDecodingError)?.problem, .unreadable("No such file or directory"))
            XCTAssertTrue(String(describing: error).contains(missing.path))
        }
        XCTAssertThrowsError(try FloatMap(contentsOf: dir)) { error in
            XCTAssertEqual((error as? ImageDecodingError)?.problem, .notRegularFile(kind: "a directory"))
        }
    }

    func testFormatComesFromMagicBytesNotTheExtension() throws {
        let dir = try temporaryDirectory(for: self)
        let url = dir.appendingPathComponent("actually-a-png.jpg")
        let image = syntheticPhoto(width: 9, height: 7)
        try Data(try image.pngData()).write(to: url)
        XCTAssertEqual(try RGBImage(contentsOf: url), image)
    }

    func testUnknownAndUnsupportedFormats() throws {
        let text = Array("hello, world".utf8)
        guard case .unknownFormat(let first, nil) = problem(decoding: text) else { return XCTFail() }
        XCTAssertEqual(first, Array(text.prefix(8)))
        let gif = Array("GIF89a".utf8) + [1, 0, 1, 0, 0, 0, 0]
        XCTAssertEqual(problem(decoding: gif), .unknownFormat(firstBytes: Array(gif.prefix(8)), knownAs: "GIF"))
        let message = ImageDecodingError(source: "x", problem: .unknownFormat(firstBytes: [0x68, 0x0A], knownAs: nil))
        XCTAssertTrue(message.description.contains("(68 0A)"), message.description)
    }

    func testCorruptJPEGHeader() throws {
        var generator = SeededGenerator(seed: 5)
        let bytes: [UInt8] = [0xFF, 0xD8, 0xFF, 0xE0] + (0..<300).map { _ in UInt8.random(in: 0...255, using: &generator) }
            + [0xFF, 0xD9]
        guard case .corrupt(.jpeg, let detail) = problem(decoding: bytes) else { return XCTFail() }
        XCTAssertTrue(detail.hasPrefix("libjpeg-turbo: "), detail)
    }

    func testJPEGWithMissingScanDataIsCorruptUnlessDamageIsAccepted() throws {
        let full = try jpeg()
        // Half of the entropy-coded data is cut out; the end-of-image marker stays.
        let scan = try XCTUnwrap((0..<full.count - 1).first { full[$0] == 0xFF && full[$0 + 1] == 0xDA })
        let bytes = Array(full[..<(scan + (full.count - scan) / 2)]) + [0xFF, 0xD9]
        guard case .corrupt(.jpeg, let detail) = problem(decoding: bytes) else { return XCTFail() }
        XCTAssertTrue(detail.hasPrefix("libjpeg-turbo: "), detail)
        let damaged = try RGBImage(decoding: bytes, options: ImageDecodingOptions(acceptsDamagedJPEG: true))
        XCTAssertEqual(damaged.width, 64)
        XCTAssertEqual(damaged.height, 48)
    }

    func testTruncatedJPEG() throws {
        let bytes = Array(try jpeg().prefix(700))
        guard case .truncated(.jpeg, let detail) = problem(decoding: bytes) else { return XCTFail() }
        XCTAssertFalse(detail.isEmpty)
        // A header cut short is truncated too.
        guard case .truncated(.jpeg, _) = problem(decoding: Array(try jpeg().prefix(30))) else { return XCTFail() }
        // Accepting damage returns the decodable part, the rest filled in.
        let partial = try RGBImage(decoding: bytes, options: ImageDecodingOptions(acceptsDamagedJPEG: true))
        XCTAssertEqual(partial.height, 48)
    }

    func testTruncatedPNG() throws {
        let full = try png()
        for length in [full.count - 20, full.count / 2, 40, 8] {
            guard case .truncated(.png, let detail) = problem(decoding: Array(full.prefix(length))) else {
                return XCTFail("length \(length)")
            }
            XCTAssertTrue(detail.hasPrefix("libpng: "), detail)
        }
    }

    func testCorruptPNGData() throws {
        var bytes = try png()
        // Flip bytes inside the IDAT chunk: its CRC no longer matches.
        let idat = try XCTUnwrap((0..<bytes.count - 4).first { Array(bytes[$0..<$0 + 4]) == Array("IDAT".utf8) })
        for i in idat + 10..<idat + 20 { bytes[i] ^= 0x5A }
        guard case .corrupt(.png, let detail) = problem(decoding: bytes) else { return XCTFail() }
        XCTAssertTrue(detail.lowercased().contains("crc") || detail.contains("IDAT"), detail)
    }

    func testOversizedImagesAreRefused() throws {
        let options = ImageDecodingOptions(maximumPixelCount: 1000)
        XCTAssertEqual(problem(decoding: try jpeg(), options: options), .tooLarge(width: 64, height: 48, limit: 1000))
        XCTAssertEqual(problem(decoding: try png(), options: options), .tooLarge(width: 64, height: 48, limit: 1000))
    }

    func testMapDecodingReportsTheSameErrors() throws {
        XCTAssertThrowsError(try FloatMap(decoding: Array(try png().prefix(100)), source: "map.png")) { error in
            guard case .truncated(.png, _)? = (error as? ImageDecodingError)?.problem else { return XCTFail("\(error)") }
            XCTAssertTrue(String(describing: error).contains("'map.png'"))
        }
    }
}
