import Foundation
import XCTest
@testable import FovExCheckpoints

final class TorchCheckpointTests: XCTestCase {
    func testReadsZipFormat() throws {
        try assertMatchesExpected(TorchCheckpointReader.read(url: Fixtures.url("state_zip.pt")))
    }

    func testReadsLegacyFormat() throws {
        try assertMatchesExpected(TorchCheckpointReader.read(url: Fixtures.url("state_legacy.pt")))
    }

    func testTransposedAndOffsetViewsAreMaterialisedRowMajor() throws {
        let checkpoint = try TorchCheckpointReader.read(url: Fixtures.url("state_zip.pt"))
        let base = try XCTUnwrap(checkpoint["shared.base"]).values
        let view = try XCTUnwrap(checkpoint["shared.view"])
        XCTAssertEqual(view.shape, [3, 4])
        XCTAssertEqual(view.values, Array(base[6..<18]), "a view is its storage window, not the storage start")
        let safetensors = try SafetensorsReader(url: Fixtures.url("state.safetensors"))
        // The safetensors fixture was written from `.contiguous()` tensors, so it is an independent row-major reference.
        XCTAssertEqual(checkpoint["fc.weight_t"]?.values, try safetensors.tensor(named: "fc.weight_t").values)
    }

    func testUnwrapsStateDictWrapperAndKeepsPrefixUntilLoad() throws {
        let raw = try TorchCheckpointReader.read(url: Fixtures.url("wrapped_zip.pt"))
        XCTAssertTrue(raw.names.allSatisfy { $0.hasPrefix("module.") })
        XCTAssertNil(raw["epoch"], "non-tensor entries are skipped")
        try assertMatchesExpected(raw.strippingPrefix("module."))
    }

    func testUnwrapsModelWrapperInLegacyFormat() throws {
        try assertMatchesExpected(Checkpoint.load(Fixtures.url("wrapped_legacy.pt")))
    }

    func testForbiddenGlobalInZipIsRefusedByName() {
        assertCheckpointError(try TorchCheckpointReader.read(url: Fixtures.url("forbidden_zip.pt")),
                              mentions: ["forbidden pickle global os.system", "forbidden_zip.pt"])
    }

    func testCompressedEntriesGiveAClearError() {
        assertCheckpointError(try TorchCheckpointReader.read(url: Fixtures.url("deflated.zip")),
                              mentions: ["deflated.zip", "compressed", "data.pkl"])
    }

    func testEmptyFile() {
        assertCheckpointError(try TorchCheckpointReader.read(data: Data(), fileName: "empty.pt"), mentions: ["empty.pt", "empty"])
    }

    func testEveryTruncationOfTheZipFixtureFailsCleanly() throws {
        let whole = try Fixtures.data("state_zip.pt")
        for length in stride(from: 0, to: whole.count, by: 37) {
            assertCheckpointError(try TorchCheckpointReader.read(data: whole.prefix(length), fileName: "cut.pt"),
                                  mentions: ["cut.pt"])
        }
    }

    func testEveryTruncationOfTheLegacyFixtureFailsCleanly() throws {
        let whole = try Fixtures.data("state_legacy.pt")
        for length in stride(from: 1, to: whole.count, by: 13) {
            assertCheckpointError(try TorchCheckpointReader.read(data: whole.prefix(length), fileName: "cut.pt"),
                                  mentions: ["cut.pt"])
        }
        assertCheckpointError(try TorchCheckpointReader.read(data: whole.prefix(whole.count - 1), fileName: "cut.pt"),
                              mentions: ["cut.pt", "ends early"])
    }

    func testCorruptedStorageLengthInLegacyFile() throws {
        var data = try Fixtures.data("state_legacy.pt")
        // The first storage record directly follows the key-list pickle; find its end by reading the pickles in order.
        var reader = PickleReader(data: data, fileName: "x")
        for _ in 0..<3 { _ = try reader.readValue() }
        var main = PickleReader(data: data, fileName: "x", offset: reader.position) { _ in
            .storage(TorchStorage(buffer: StorageBuffer(key: "", dtype: .float32, count: 0), elementOffset: 0, count: 0))
        }
        _ = try main.readValue()
        var keys = PickleReader(data: data, fileName: "x", offset: main.position)
        _ = try keys.readValue()
        data[keys.position] &+= 1
        assertCheckpointError(try TorchCheckpointReader.read(data: data, fileName: "bad.pt"),
                              mentions: ["bad.pt", "records", "elements"])
    }

    /// The EfficientNet-Lite0 weights (legacy format) when a copy is available: FOVEX_LITE0_PTH names the file.
    func testRealEfficientNetLite0WhenAvailable() throws {
        guard let path = ProcessInfo.processInfo.environment["FOVEX_LITE0_PTH"] else {
            throw XCTSkip("set FOVEX_LITE0_PTH to efficientnet-lite0-57934424.pth to check the real file")
        }
        let checkpoint = try Checkpoint.load(URL(fileURLWithPath: path))
        XCTAssertEqual(checkpoint["_conv_stem.weight"]?.shape, [32, 3, 3, 3])
        XCTAssertEqual(checkpoint["_conv_head.weight"]?.shape, [1280, 320, 1, 1])
        XCTAssertEqual(checkpoint["_fc.weight"]?.shape, [1000, 1280])
        XCTAssertNil(checkpoint["_blocks.0._expand_conv.weight"])
        XCTAssertNotNil(checkpoint["_blocks.15._project_conv.weight"])
        XCTAssertTrue(checkpoint["_fc.weight"]!.values.allSatisfy(\.isFinite))
    }
}
