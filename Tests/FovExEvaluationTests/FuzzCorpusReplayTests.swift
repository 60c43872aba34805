import Foundation
import XCTest
import FovExCheckpoints
import FovExImaging
@testable import FovExEvaluation

/// Replays every seed of fuzz/Corpus through the entry points the libFuzzer targets call (fuzz/Sources/
/// FuzzSupport/Entries.swift), without the fuzzer: each must give a result or its parser's typed error.
/// A regression seed added after a crash is fixed therefore stays checked on every `make test`.
final class FuzzCorpusReplayTests: XCTestCase {
    private static let corpus = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("fuzz/Corpus")

    private func seeds(_ target: String) throws -> [(String, Data)] {
        let folder = Self.corpus.appendingPathComponent(target)
        let names = try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted()
        XCTAssertFalse(names.isEmpty, "no seeds in \(folder.path)")
        return try names.map { ($0, try Data(contentsOf: folder.appendingPathComponent($0))) }
    }

    /// Runs `body` and fails unless it succeeds or throws `E`.
    private func expect<E: Error>(_ type: E.Type, _ seed: String, _ body: () throws -> Void) {
        do { try body() } catch is E {} catch { XCTFail("\(seed): untyped error \(Swift.type(of: error)): \(error)") }
    }

    func testSafetensorsSeeds() throws {
        var outcomes: [String: Bool] = [:]
        for (name, data) in try seeds("safetensors") {
            expect(CheckpointError.self, name) { _ = try SafetensorsReader(data: data, fileName: name).checkpoint() }
            outcomes[name] = (try? SafetensorsReader(data: data, fileName: name)) != nil
        }
        XCTAssertEqual(outcomes["state.safetensors"], true)
        XCTAssertEqual(outcomes["overlapping.safetensors"], false)
    }

    func testPickleSeeds() throws {
        for (name, data) in try seeds("pickle") {
            expect(CheckpointError.self, name) { _ = try TorchCheckpointReader.read(data: data, fileName: name) }
        }
        XCTAssertNoThrow(try TorchCheckpointReader.read(data: try seeds("pickle").first { $0.0 == "state_zip.pt" }!.1,
                                                        fileName: "state_zip.pt"))
    }

    func testImageSeeds() throws {
        let options = ImageDecodingOptions(maximumPixelCount: 1 << 20, maximumFileBytes: 1 << 22)
        for (name, data) in try seeds("image") {
            let bytes = [UInt8](data)
            expect(ImageDecodingError.self, name) { _ = try RGBImage(decoding: bytes, source: name, options: options) }
            expect(ImageDecodingError.self, name) { _ = try FloatMap(decoding: bytes, source: name, options: options) }
        }
    }

    func testImageNetCSVSeeds() throws {
        let folder = try scratch("imagenet")
        for (name, data) in try seeds("imagenet-csv") {
            try reset(folder)
            if data.starts(with: Data("ImageId".utf8)) {
                try data.write(to: folder.appendingPathComponent("LOC_val_solution.csv"))
            } else {
                let parts = data.split(separator: 0, maxSplits: 1, omittingEmptySubsequences: false)
                try parts[0].write(to: folder.appendingPathComponent("labels.csv"))
                if parts.count > 1 { try parts[1].write(to: folder.appendingPathComponent("boxes.csv")) }
            }
            expect(DatasetError.self, name) {
                _ = try ImageNetDataset(root: folder, synsets: ["n01440764": 0, "n02951358": 472])
            }
        }
    }

    func testFixationSeeds() throws {
        let folder = try scratch("gaze")
        let png = try RGBImage(width: 4, height: 3, pixels: [UInt8](repeating: 128, count: 36)).pngData()
        for (name, data) in try seeds("fixations") {
            try reset(folder)
            let images = folder.appendingPathComponent("images")
            try FileManager.default.createDirectory(at: images, withIntermediateDirectories: true)
            try Data(png).write(to: images.appendingPathComponent("a.png"))
            try data.write(to: folder.appendingPathComponent("fixations.csv"))
            do {
                let dataset = try GazeDataset(root: folder)
                for item in dataset.items { _ = item.fixatedPixels }
            } catch is DatasetError {
            } catch is ImageDecodingError {
            } catch {
                XCTFail("\(name): untyped error \(type(of: error)): \(error)")
            }
        }
    }

    private func scratch(_ name: String) throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("fovex-replay-\(name)-\(UUID().uuidString)")
        addTeardownBlock { try? FileManager.default.removeItem(at: folder) }
        return folder
    }

    private func reset(_ folder: URL) throws {
        try? FileManager.default.removeItem(at: folder)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }
}
