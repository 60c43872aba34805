import Foundation
import XCTest

/// `fovex sanity`: what it refuses before loading anything, and the files a small run writes.
final class SanityCommandLineTests: XCTestCase {
    private let base = ["sanity", "--model", "resnet18", "--random-weights", "1", "--methods", "gradcam",
                        "--data", "imagenet:nowhere", "--out", "run"]

    func testRefusesONNXModelsAndBadStepsAndThresholds() throws {
        let onnx = try FovexProcess.run(["sanity", "--model", "model.onnx", "--methods", "gradcam", "--data", "imagenet:x", "--out", "o"])
        XCTAssertEqual(onnx.status, 64, onnx.stderr)
        XCTAssertTrue(onnx.stderr.contains("ONNX models are not supported"), onnx.stderr)
        for (option, message) in [(["--depths", "0"], "--depths"), (["--depths", "2,2"], "repeated"), (["--depths", "x"], "--depths"),
                                  (["--threshold", "1.5"], "--threshold"), (["--limit", "0"], "--limit"), (["--out", ""], "--out")] {
            let r = try FovexProcess.run(base + option)
            XCTAssertEqual(r.status, 64, "\(option): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains(message), "\(option): \(r.stderr)")
        }
        // A step beyond the model's layers is refused once the model is known (ResNet-18 has 10).
        let tmp = try temporaryDataSet()
        let r = try FovexProcess.run(["sanity", "--model", "resnet18", "--random-weights", "1", "--methods", "gradcam",
                                      "--data", "imagenet:data", "--depths", "11", "--out", "run"], in: tmp)
        XCTAssertEqual(r.status, 64, r.stderr)
        XCTAssertTrue(r.stderr.contains("in 1…10"), r.stderr)
    }

    /// Two images (the imaging tests' JPEGs) in the ImageNet CSV layout, in a fresh directory.
    private func temporaryDataSet() throws -> URL {
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("fovex-sanity-cli-\(UUID().uuidString)")
        addTeardownBlock { try? FileManager.default.removeItem(at: tmp) }
        let images = tmp.appendingPathComponent("data/images")
        try FileManager.default.createDirectory(at: images, withIntermediateDirectories: true)
        let fixtures = FovexProcess.packageRoot.appendingPathComponent("Tests/FovExImagingTests/Fixtures")
        for name in ["gray.jpg", "cmyk.jpg"] {
            try FileManager.default.copyItem(at: fixtures.appendingPathComponent(name), to: images.appendingPathComponent(name))
        }
        try "file,class_index,synset\ngray.jpg,3,n01491361\ncmyk.jpg,1,n01443537\n"
            .write(to: tmp.appendingPathComponent("data/labels.csv"), atomically: true, encoding: .utf8)
        try "file,synset,x0,y0,x1,y1\ngray.jpg,n01491361,0,0,5,5\ncmyk.jpg,n01443537,1,1,6,6\n"
            .write(to: tmp.appendingPathComponent("data/boxes.csv"), atomically: true, encoding: .utf8)
        return tmp
    }

    func testWritesTheTablesPlotsAndGalleryAndResumes() throws {
        let tmp = try temporaryDataSet()
        let arguments = ["sanity", "--model", "resnet18", "--random-weights", "1", "--methods", "gradcam,uniform",
                         "--data", "imagenet:data", "--depths", "1,10", "--out", "run"]
        let r = try FovexProcess.run(arguments, in: tmp)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("| uniform | 1.000 [1.000, 1.000] (n 2) | fail |"), r.stdout)
        XCTAssertEqual(r.stderr, "", "no progress lines when standard error is not a terminal")
        let run = tmp.appendingPathComponent("run")
        for file in ["config.json", "results.jsonl", "similarities.csv", "similarities.json", "sanity.md", "sanity.html",
                     "spearman_abs.svg", "spearman.svg", "ssim.svg", "hog.svg"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: run.appendingPathComponent(file).path), file)
        }
        let csv = try String(contentsOf: run.appendingPathComponent("similarities.csv"), encoding: .utf8)
        XCTAssertEqual(csv.split(separator: "\n").count, 1 + 2 * 2 * 2, csv)
        XCTAssertTrue(csv.contains(",gradcam,10,conv1,"), csv)
        let rows = try String(contentsOf: run.appendingPathComponent("results.jsonl"), encoding: .utf8)
        // Running again finds every row written and computes nothing.
        let again = try FovexProcess.run(arguments, in: tmp)
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertEqual(try String(contentsOf: run.appendingPathComponent("results.jsonl"), encoding: .utf8), rows)
        // Other settings in the same directory are refused.
        let other = try FovexProcess.run(arguments.map { $0 == "1,10" ? "1,2" : $0 }, in: tmp)
        XCTAssertEqual(other.status, 1, other.stderr)
        XCTAssertTrue(other.stderr.contains("other settings"), other.stderr)
    }
}
