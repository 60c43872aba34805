import Foundation
import FovExCheckpoints
import FovExEvaluation
import FovExImaging
import FovExONNX

/// What each fuzz target feeds its input to. The same public entry points are replayed over the committed
/// corpora by `FuzzCorpusReplayTests` in `make test` (which cannot import this package, so it calls them itself).
public enum FuzzEntries {
    /// Fails the run (a crash libFuzzer records) when a parser throws anything but its own typed error.
    static func expect<E: Error>(_ type: E.Type, _ body: () throws -> Void) {
        do { try body() } catch is E {} catch { fatalError("untyped error \(Swift.type(of: error)): \(error)") }
    }

    public static func safetensors(_ data: Data) {
        expect(CheckpointError.self) { _ = try SafetensorsReader(data: data, fileName: "input").checkpoint() }
    }

    public static func pickle(_ data: Data) {
        expect(CheckpointError.self) { _ = try TorchCheckpointReader.read(data: data, fileName: "input") }
    }

    /// The ONNX `ModelProto` parser: protobuf decoding, then the graph, initializers (raw and typed data) and
    /// attributes read into ``ONNXModel``. External data is not followed (no directory is given).
    public static func onnx(_ data: Data) {
        expect(ONNXError.self) { _ = try ONNXModel(serializedBytes: data, file: "input") }
    }

    /// A 1-megapixel budget keeps each decode fast; the budget check itself is part of what is fuzzed.
    public static func image(_ data: Data) {
        let options = ImageDecodingOptions(maximumPixelCount: 1 << 20, maximumFileBytes: 1 << 22)
        let bytes = [UInt8](data)
        expect(ImageDecodingError.self) { _ = try RGBImage(decoding: bytes, source: "input", options: options) }
        expect(ImageDecodingError.self) { _ = try FloatMap(decoding: bytes, source: "input", options: options) }
    }

    /// The input is `labels.csv`, optionally followed by a NUL byte and `boxes.csv`, or — when it starts
    /// with "ImageId" — `LOC_val_solution.csv`; the data set loader reads them from a scratch folder.
    public static func imageNetCSV(_ data: Data) {
        let folder = scratch.appendingPathComponent("imagenet")
        reset(folder)
        let parts = data.split(separator: 0, maxSplits: 1, omittingEmptySubsequences: false)
        if data.starts(with: Data("ImageId".utf8)) {
            write(data, to: folder.appendingPathComponent("LOC_val_solution.csv"))
        } else {
            write(parts[0], to: folder.appendingPathComponent("labels.csv"))
            if parts.count > 1 { write(parts[1], to: folder.appendingPathComponent("boxes.csv")) }
        }
        expect(DatasetError.self) { _ = try ImageNetDataset(root: folder, synsets: ["n01440764": 0, "n02951358": 472]) }
    }

    /// The input is `fixations.csv` beside `images/a.png` (a 4×3 PNG), read by the gaze data set loader.
    public static func fixations(_ data: Data) {
        let folder = scratch.appendingPathComponent("gaze")
        reset(folder)
        let images = folder.appendingPathComponent("images")
        try! FileManager.default.createDirectory(at: images, withIntermediateDirectories: true)
        write(Data(tinyPNG), to: images.appendingPathComponent("a.png"))
        write(data, to: folder.appendingPathComponent("fixations.csv"))
        do {
            let dataset = try GazeDataset(root: folder)
            for item in dataset.items { _ = item.fixatedPixels }
        } catch is DatasetError {
        } catch is ImageDecodingError {
        } catch {
            fatalError("untyped error \(type(of: error)): \(error)")
        }
    }

    private static let tinyPNG: [UInt8] = try! RGBImage(width: 4, height: 3, pixels: [UInt8](repeating: 128, count: 36))
        .pngData()

    /// A per-process scratch folder (in /dev/shm when it exists, to spare the disk).
    private static let scratch: URL = {
        let base = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
        return URL(fileURLWithPath: base).appendingPathComponent("fovex-fuzz-\(getpid())")
    }()

    private static func reset(_ folder: URL) {
        try? FileManager.default.removeItem(at: folder)
        try! FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    private static func write(_ data: Data, to url: URL) { try! data.write(to: url) }
}
