import Foundation
import FovExImaging
import XCTest

/// #14: one policy for bad inputs across commands, unique output names, and clear errors, checked by
/// running the built `fovex`.
final class BadInputPolicyTests: XCTestCase {
    var tmp: URL!

    override func setUpWithError() throws {
        tmp = FileManager.default.temporaryDirectory.appendingPathComponent("fovex-policy-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: tmp) }

    private func run(_ arguments: [String]) throws -> (status: Int32, stderr: String) {
        let r = try FovexProcess.run(arguments, in: tmp)
        return (r.status, r.stderr)
    }

    /// #14 items 7 and 14: a.jpg and a.png keep their own outputs, a bad file is reported, the others are
    /// explained, the gallery is written, and the exit status says something failed.
    func testExplainGoesOnPastABadFileAndKeepsImagesWithOneNameApart() throws {
        let photos = tmp.appendingPathComponent("photos")
        try FileManager.default.createDirectory(at: photos, withIntermediateDirectories: true)
        try RGBImage(width: 40, height: 30, color: .red).writeJPEG(to: photos.appendingPathComponent("a.jpg"))
        try RGBImage(width: 30, height: 40, color: .cyan).writePNG(to: photos.appendingPathComponent("a.png"))
        try Data("not an image".utf8).write(to: photos.appendingPathComponent("bad.jpg"))
        let r = try run(["explain", "photos", "--model", "resnet18", "--random-weights", "1", "--method", "gradcam", "--out", "out"])
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("1 of 3 images could not be read") && r.stderr.contains("photos/bad.jpg"), r.stderr)
        let out = tmp.appendingPathComponent("out")
        let jpg = try RGBImage(contentsOf: out.appendingPathComponent("a.jpg.gradcam.overlay.png"))
        let png = try RGBImage(contentsOf: out.appendingPathComponent("a.png.gradcam.overlay.png"))
        XCTAssertEqual([jpg.width, jpg.height, png.width, png.height], [40, 30, 30, 40], "each overlay is drawn on its own photo")
        let page = try String(contentsOf: out.appendingPathComponent("index.html"), encoding: .utf8)
        for src in ["a.jpg.input.png", "a.png.input.png", "a.jpg.gradcam.overlay.png", "a.png.gradcam.overlay.png"] {
            XCTAssertTrue(page.contains("src=\"\(src)\""), src)
        }
    }

    func testReportIntoAFileIsAClearError() throws {
        let runDir = tmp.appendingPathComponent("run")
        try FileManager.default.createDirectory(at: runDir, withIntermediateDirectories: true)
        try Data("""
        {"codeVersion":"t","correctOnly":false,"dataKind":"imagenet","limit":null,"methods":["gradcam"],"metrics":["ebpg"],\
        "model":"m","options":{},"seed":1,"weights":"w"}
        """.utf8).write(to: runDir.appendingPathComponent("config.json"))
        try Data("x".utf8).write(to: tmp.appendingPathComponent("file"))
        let r = try run(["report", "run", "--out", "file"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("Error: --out file: exists and is not a directory"), r.stderr)
        XCTAssertFalse(r.stderr.contains("NSCocoaErrorDomain"), r.stderr)
    }

    func testEvaluateRefusesAnEmptyDataSetAndMetricsTheDataCannotFeed() throws {
        let data = tmp.appendingPathComponent("data")
        try FileManager.default.createDirectory(at: data.appendingPathComponent("images"), withIntermediateDirectories: true)
        try Data("file,class_index,synset\n".utf8).write(to: data.appendingPathComponent("labels.csv"))
        let base = ["evaluate", "--model", "resnet18", "--random-weights", "1", "--methods", "gradcam", "--data", "imagenet:data"]
        let empty = try run(base + ["--out", "run1"])
        XCTAssertEqual(empty.status, 1, empty.stderr)
        XCTAssertTrue(empty.stderr.contains("data: the data set lists no images"), empty.stderr)

        try RGBImage(width: 8, height: 8, color: .red).writePNG(to: data.appendingPathComponent("images/x.png"))
        try Data("file,class_index,synset\nx.png,3,n01491361\n".utf8).write(to: data.appendingPathComponent("labels.csv"))
        let nss = try run(base + ["--metrics", "nss", "--out", "run2"])
        XCTAssertNotEqual(nss.status, 0)
        XCTAssertTrue(nss.stderr.contains("metric 'nss' needs human fixations, which imagenet data does not have"), nss.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: tmp.appendingPathComponent("run2").path), "refused before any work")
    }
}
