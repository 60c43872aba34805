import Foundation
import XCTest
@testable import FovExCheckpoints

final class ZipArchiveTests: XCTestCase {
    func testReadsZip64CentralDirectory() throws {
        let archive = try ZipArchive(data: Fixtures.data("zip64.zip"), fileName: "zip64.zip")
        XCTAssertEqual(archive.entries.map(\.name), ["z64/hello.txt"])
        let entry = try XCTUnwrap(archive.entry { $0.hasSuffix("hello.txt") })
        XCTAssertEqual(String(decoding: try archive.contents(of: entry), as: UTF8.self), "hello zip64")
    }

    func testListsTorchEntriesAndSharesStorageBytes() throws {
        let data = try Fixtures.data("state_zip.pt")
        let archive = try ZipArchive(data: data, fileName: "state_zip.pt")
        XCTAssertTrue(archive.entries.contains { $0.name == "state_zip/data.pkl" })
        let storage = try archive.contents(of: XCTUnwrap(archive.entry { $0 == "state_zip/data/0" }))
        XCTAssertEqual(storage.count, 4 * 108, "conv.weight holds 4·3·3·3 float32 values")
    }

    func testMissingEndRecord() throws {
        let data = try Fixtures.data("zip64.zip")
        assertCheckpointError(try ZipArchive(data: data.prefix(data.count - 22), fileName: "z.zip"),
                              mentions: ["z.zip", "end-of-central-directory"])
        assertCheckpointError(try ZipArchive(data: Data(count: 5), fileName: "z.zip"), mentions: ["too short"])
    }

    func testCentralDirectoryPointingOutsideTheFile() throws {
        var data = try Fixtures.data("state_zip.pt")
        let eocd = data.count - 22
        data.replaceSubrange(eocd + 16 ..< eocd + 20, with: [0xf0, 0xff, 0xff, 0x7f])
        assertCheckpointError(try ZipArchive(data: data, fileName: "z.zip"), mentions: ["z.zip", "beyond the file"])
    }
}
