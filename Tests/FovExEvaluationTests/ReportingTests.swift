import XCTest
@testable import FovExEvaluation
import FovExExplainers
import FovExImaging
import FovExModels
import FovExTensor

final class CSVTableTests: XCTestCase {
    var tmp: URL!
    override func setUpWithError() throws {
        tmp = FileManager.default.temporaryDirectory.appendingPathComponent("fovex-csv-\(UUID().uuidString).csv")
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: tmp) }

    func table(_ text: String) throws -> CSVTable {
        try Data(text.utf8).write(to: tmp)
        return try CSVTable(url: tmp)
    }

    func testQuotedFieldsLineEndingsAndBlankLines() throws {
        let t = try table("file,\"name, with comma\" ,n\r\n\"a,b.jpg\", x ,1\r\n\nc.jpg,\"\",2\n")
        XCTAssertEqual(t.header, ["file", "name, with comma", "n"])
        XCTAssertEqual(t.rows, [["a,b.jpg", "x", "1"], ["c.jpg", "", "2"]])
        XCTAssertEqual(try t.column("n"), 2)
    }

    func testErrorsNameTheFileTheLineAndTheColumns() throws {
        XCTAssertThrowsError(try table("a,b\n1,2\n3\n")) { error in
            XCTAssertEqual("\(error)", "\(self.tmp.path): line 3 has 1 fields, the header has 2")
        }
        XCTAssertThrowsError(try table("a,b\n").column("c")) { error in
            XCTAssertEqual("\(error)", "\(self.tmp.path): missing column 'c' (columns: a, b)")
        }
        XCTAssertThrowsError(try table("")) { error in XCTAssertTrue("\(error)".hasSuffix("empty file"), "\(error)") }
        try Data([0x61, 0xFF, 0x0A]).write(to: tmp)
        XCTAssertThrowsError(try CSVTable(url: tmp)) { error in XCTAssertTrue("\(error)".contains("not UTF-8"), "\(error)") }
    }
}

final class OutputNamesTests: XCTestCase {
    func testNamesNeverCollide() {
        let files = ["d/a.jpg", "d/a.png", "d/cat.jpg", "e/a.png", "d/a.jpg.png"].map { URL(fileURLWithPath: $0) }
        XCTAssertEqual(OutputNames.stems(for: files), ["a.jpg", "a.png", "cat", "a.png-2", "a.jpg-2"])
        XCTAssertEqual(OutputNames.stems(for: [URL(fileURLWithPath: "x/cat.jpg")]), ["cat"])
    }
}

final class ExplanationWriterTests: XCTestCase {
    final class OneClass: ImageClassifier {
        var identity: ModelIdentity { ModelIdentity(architecture: "one", weights: "none") }
        var preprocessing: Preprocessing {
            Preprocessing(geometry: .direct(size: 4), interpolation: .bilinear, antialias: false, mean: [0, 0, 0], std: [1, 1, 1])
        }
        var classNames: [String] { ["tabby <cat>", "dog"] }
        var innerPoints: [String] { [] }
        var defaultCAMPoint: String { "" }
        func forward(_ pixels: Tensor, capturing points: Set<String>) -> ClassifierOutput {
            ClassifierOutput(logits: Tensor(zeros: [pixels.shape[0], 2]), captured: [:])
        }
    }

    /// `OneClass` with a settable precision, as the built-in and ONNX models have.
    final class Selectable: ImageClassifier, PrecisionSelectable {
        let base = OneClass()
        var precision: Precision = .fp32
        var identity: ModelIdentity { base.identity }
        var preprocessing: Preprocessing { base.preprocessing }
        var classNames: [String] { base.classNames }
        var innerPoints: [String] { [] }
        var defaultCAMPoint: String { "" }
        func forward(_ pixels: Tensor, capturing points: Set<String>) -> ClassifierOutput { base.forward(pixels, capturing: points) }
    }

    func testTwoImagesWithOneStemKeepTheirOwnFilesAndGalleryRows() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fovex-writer-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let writer = try ExplanationWriter(directory: dir)
        let files = [URL(fileURLWithPath: "in/a.jpg"), URL(fileURLWithPath: "in/a.png")]
        let stems = OutputNames.stems(for: files)
        let photos = [RGBImage(width: 8, height: 6, color: .red), RGBImage(width: 6, height: 6, color: .cyan)]
        let maps = [Tensor(shape: [4, 4], scalars: (0..<16).map { Float($0) / 15 }), Tensor(zeros: [4, 4])]
        var written: [WrittenExplanation] = []
        for i in 0..<2 {
            let e = Explanation(method: "gradcam", map: maps[i], classIndex: 0, probability: 0.25, settings: ["point": "x"])
            written.append(try writer.write(e, photo: photos[i], imageName: files[i].relativePath, stem: stems[i], model: OneClass()))
        }
        XCTAssertEqual(written.map(\.overlay), ["a.jpg.gradcam.overlay.png", "a.png.gradcam.overlay.png"])
        let overlays = try written.map { try RGBImage(contentsOf: dir.appendingPathComponent($0.overlay)) }
        XCTAssertEqual(overlays.map(\.width), [8, 6], "each overlay is drawn on its own photo")
        let map = try FloatMap(contentsOf: dir.appendingPathComponent(written[0].map))
        XCTAssertEqual(map.values[15], 1, accuracy: 1e-4)
        XCTAssertEqual(map.values[5], 5 / 15, accuracy: 1e-4)
        let record = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent(written[1].record))) as? [String: Any]
        XCTAssertEqual(record?["image"] as? String, "in/a.png")
        XCTAssertEqual(record?["className"] as? String, "tabby <cat>")
        XCTAssertEqual(record?["imageWidth"] as? Int, 6)
        XCTAssertEqual(record?["precision"] as? String, "fp32", "a model without a precision setting computes in fp32")
        let selectable = Selectable()
        selectable.precision = .bf16Backward
        let e = Explanation(method: "gradcam", map: maps[0], classIndex: 0, probability: 0.25, settings: [:])
        let bf16 = try writer.write(e, photo: photos[0], imageName: "b.png", model: selectable)
        let bf16Record = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent(bf16.record))) as? [String: Any]
        XCTAssertEqual(bf16Record?["precision"] as? String, "bf16-backward")

        try writer.writeGallery(written, inputs: ["in/a.jpg": "a.jpg.input.png"], title: "t & <u>")
        let page = try String(contentsOf: dir.appendingPathComponent("index.html"), encoding: .utf8)
        XCTAssertTrue(page.contains("<title>t &amp; &lt;u&gt;</title>"), page)
        XCTAssertTrue(page.contains("<img src=\"a.jpg.gradcam.overlay.png\""), page)
        XCTAssertTrue(page.contains("<img src=\"a.png.gradcam.overlay.png\""), page)
        XCTAssertTrue(page.contains("<b>tabby &lt;cat&gt;</b> (25.0 %)"), page)
        XCTAssertEqual(page.components(separatedBy: "<tr><td>").count - 1, 2, "one row per image")
    }

    func testAMapWithNaNIsRefusedNamingTheImage() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fovex-writer-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let e = Explanation(method: "rise", map: Tensor(shape: [2, 2], scalars: [0, .nan, 1, 0]), classIndex: 1, probability: 0.5, settings: [:])
        XCTAssertThrowsError(try ExplanationWriter(directory: dir).write(e, photo: RGBImage(width: 2, height: 2), imageName: "p.png",
                                                                         model: OneClass())) { error in
            XCTAssertTrue("\(error)".contains("rise") && "\(error)".contains("p.png"), "\(error)")
        }
    }
}

final class ReportHTMLTests: XCTestCase {
    func testThePageHasTheTableTheCurvesAndTheMissingValues() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fovex-html-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let cfg = RunConfiguration(model: "toy<1>", weights: "random", weightsSHA256: nil, dataKind: "imagenet",
                                   methods: ["a", "b"], metrics: ["deletion", "ebpg"], limit: nil, seed: 1,
                                   correctOnly: false, options: [:], codeVersion: "t")
        let store = try RunStore(directory: dir, configuration: cfg)
        try store.append([
            ResultRow(image: "i1", method: "a", classIndex: 0, probability: 1, metrics: ["deletion": 0.2, "ebpg": 40],
                      curves: ["deletion": [1, 0.5, 0]], seconds: 0),
            ResultRow(image: "i1", method: "b", classIndex: 0, probability: 1, metrics: ["deletion": 0.4],
                      curves: ["deletion": [1, 0.9, 0]], missing: ["ebpg": "the map has no energy"], seconds: 0),
        ])
        let report = try EvaluationReport(runs: [dir], higherIsBetter: ["deletion": false, "ebpg": true])
        let html = report.html(gallery: [(image: "i1", overlays: ["a": "gallery/i1.a.png"])])
        XCTAssertTrue(html.contains("<h1>toy&lt;1&gt; on imagenet</h1>"), html)
        XCTAssertTrue(html.contains("<td class=\"best\">0.200<br>"), html)
        XCTAssertTrue(html.contains("<polyline"), "the mean deletion curve is drawn")
        XCTAssertTrue(html.contains("<li>ebpg, b: 1 image: the map has no energy</li>"), html)
        XCTAssertTrue(html.contains("<td><img src=\"gallery/i1.a.png\" alt=\"a\"></td><td>–</td>"), html)
        // ebpg of b has no value: its cell is empty rather than 0.
        XCTAssertTrue(html.contains("<tr><td>ebpg ↑</td><td class=\"\">40.000"), html)
        XCTAssertNil(report.summaries["ebpg"]?["b"])
    }

    func testNoRunDirectoriesIsAnError() {
        XCTAssertThrowsError(try EvaluationReport(runs: [], higherIsBetter: [:]))
    }
}
