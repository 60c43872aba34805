import XCTest
@testable import FovExEvaluation
import FovExImaging
import FovExMetrics

final class DatasetLoaderTests: XCTestCase {
    var tmp: URL!
    let synsets = ["n01440764": 0, "n01443537": 1, "n01751748": 19]

    override func setUpWithError() throws {
        tmp = FileManager.default.temporaryDirectory.appendingPathComponent("fovex-datasets-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: tmp) }

    func sharedLayout() throws -> ImageNetDataset {
        let root = try DatasetFixtures.layout("imagenet-csv", in: tmp, images: [
            "images/a/x.png": (16, 16), "images/b/x.png": (16, 16), "images/c.png": (20, 10),
        ])
        return try ImageNetDataset(root: root, synsets: [:])
    }

    func testSharedLayoutIdentifiesImagesByTheirPathBelowTheRoot() throws {
        let d = try sharedLayout()
        // Two files named x.png in different folders are two images.
        XCTAssertEqual(d.imageIDs, ["images/a/x.png", "images/b/x.png", "images/c.png"])
        XCTAssertEqual(d.label(of: "images/a/x.png"), 3)
        XCTAssertEqual(d.label(of: "images/b/x.png"), 1)
        XCTAssertEqual(d.file(of: "images/c.png")?.lastPathComponent, "c.png")
        XCTAssertNil(d.file(of: "c.png"), "an image is known by its path below the root only")
        XCTAssertEqual(d.items[0].boxes, [BoxRegion(x0: 2, y0: 3, x1: 10, y1: 12), BoxRegion(x0: 20, y0: 20, x1: 30, y1: 30)])
        XCTAssertEqual(d.provides, [.model, .boxes])
    }

    /// A data-set table that is a FIFO (or a device) is refused by name before it is opened: opening a
    /// FIFO for reading would block until a writer came.
    func testATableThatIsNotARegularFileIsRefused() throws {
        let root = tmp.appendingPathComponent("fifo-data")
        try FileManager.default.createDirectory(at: root.appendingPathComponent("images"), withIntermediateDirectories: true)
        XCTAssertEqual(mkfifo(root.appendingPathComponent("labels.csv").path, 0o600), 0)
        XCTAssertThrowsError(try ImageNetDataset(root: root, synsets: synsets)) { error in
            XCTAssertTrue(error is DatasetError, "\(error)")
            XCTAssertTrue("\(error)".contains("labels.csv"), "\(error)")
            XCTAssertTrue("\(error)".contains("a FIFO (named pipe), not a regular file"), "\(error)")
        }
        let gaze = tmp.appendingPathComponent("fifo-gaze")
        try FileManager.default.createDirectory(at: gaze.appendingPathComponent("images"), withIntermediateDirectories: true)
        XCTAssertEqual(mkfifo(gaze.appendingPathComponent("fixations.csv").path, 0o600), 0)
        XCTAssertThrowsError(try GazeDataset(root: gaze)) { error in
            XCTAssertTrue("\(error)".contains("a FIFO (named pipe), not a regular file"), "\(error)")
        }
    }

    func testBoxesAreCheckedAndScaledWhenASampleIsBuilt() throws {
        let d = try sharedLayout()
        // a/x.png: the second box lies entirely off the 16×16 image; the first is scaled to the 32² input.
        let (a, aWarnings) = d.annotations(of: "images/a/x.png", imageWidth: 16, imageHeight: 16, inputSize: 32, needs: .boxes)
        XCTAssertEqual(a.boxes, [BoxRegion(x0: 4, y0: 6, x1: 20, y1: 24)])
        XCTAssertNil(a.boxesUnavailable)
        XCTAssertEqual(aWarnings.count, 1)
        XCTAssertTrue(aWarnings[0].contains("box 2 of 2") && aWarnings[0].contains("off the 16×16 image"), aWarnings[0])
        // b/x.png: one inverted box and one NaN box leave none.
        let (b, bWarnings) = d.annotations(of: "images/b/x.png", imageWidth: 16, imageHeight: 16, inputSize: 32, needs: .boxes)
        XCTAssertEqual(b.boxes, [])
        XCTAssertEqual(bWarnings.count, 2)
        XCTAssertTrue(bWarnings[0].contains("inverted"), bWarnings[0])
        XCTAssertTrue(bWarnings[1].contains("not a finite number"), bWarnings[1])
        XCTAssertTrue(b.boxesUnavailable?.contains("none of the image's 2 boxes") == true)
        // c.png has no box recorded.
        let (c, _) = d.annotations(of: "images/c.png", imageWidth: 20, imageHeight: 10, inputSize: 32, needs: .boxes)
        XCTAssertEqual(c.boxes, [])
        XCTAssertEqual(c.boxesUnavailable, "no ground-truth box is recorded for the image")
    }

    func testLabelsWithoutBoxesProvideNoBoxes() throws {
        let root = try DatasetFixtures.layout("imagenet-csv", in: tmp, images: ["images/c.png": (4, 4)])
        try FileManager.default.removeItem(at: root.appendingPathComponent("boxes.csv"))
        let d = try ImageNetDataset(root: root, synsets: [:])
        XCTAssertEqual(d.provides, .model)
        XCTAssertNil(d.annotations(of: "images/c.png", imageWidth: 4, imageHeight: 4, inputSize: 32, needs: .boxes).annotations.boxes)
    }

    func testILSVRCXMLLayout() throws {
        let root = try DatasetFixtures.layout("imagenet-xml", in: tmp, images: [
            "val/ILSVRC2012_val_00000001.JPEG": (16, 12), "val/ILSVRC2012_val_00000002.JPEG": (8, 8),
        ])
        let d = try ImageNetDataset(root: root, synsets: synsets)
        XCTAssertEqual(d.imageIDs, ["val/ILSVRC2012_val_00000001.JPEG", "val/ILSVRC2012_val_00000002.JPEG"])
        XCTAssertEqual(d.items.map(\.classIndex), [19, 0])
        // Only the boxes of the first object's synset count.
        XCTAssertEqual(d.items[0].boxes, [BoxRegion(x0: 1, y0: 2, x1: 9, y1: 11), BoxRegion(x0: 4, y0: 0, x1: 15, y1: 6)])
        XCTAssertEqual(d.items[1].boxes, [BoxRegion(x0: 0, y0: 1, x1: 7, y1: 8)])
    }

    func testLOCValSolutionGivesTheSameDataAsTheXMLFiles() throws {
        let images: [String: (Int, Int)] = ["val/ILSVRC2012_val_00000001.JPEG": (16, 12), "val/ILSVRC2012_val_00000002.JPEG": (8, 8)]
        let loc = try ImageNetDataset(root: try DatasetFixtures.layout("imagenet-loc", in: tmp, images: images), synsets: synsets)
        let xml = try ImageNetDataset(root: try DatasetFixtures.layout("imagenet-xml", in: tmp, images: images), synsets: synsets)
        XCTAssertEqual(loc.imageIDs, xml.imageIDs)
        XCTAssertEqual(loc.items.map(\.classIndex), xml.items.map(\.classIndex))
        XCTAssertEqual(loc.items.map(\.boxes), xml.items.map(\.boxes))
        // The same images and annotations under two layouts and roots: one data set.
        XCTAssertEqual(loc.identity.digest, xml.identity.digest)
        XCTAssertNotEqual(loc.identity.path, xml.identity.path)
    }

    func testAnUnknownSynsetIsAnErrorNamingTheFileAndLine() throws {
        let root = try DatasetFixtures.layout("imagenet-loc", in: tmp, images: [:])
        XCTAssertThrowsError(try ImageNetDataset(root: root, synsets: ["n01440764": 0])) { error in
            XCTAssertTrue("\(error)".contains("LOC_val_solution.csv: line 3"), "\(error)")
        }
    }

    func testAnEmptyDataSetIsRefused() throws {
        let root = tmp.appendingPathComponent("empty")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        try Data("file,class_index,synset\n".utf8).write(to: root.appendingPathComponent("labels.csv"))
        XCTAssertThrowsError(try ImageNetDataset(root: root, synsets: [:])) { error in
            XCTAssertTrue("\(error)".contains("lists no images"), "\(error)")
        }
    }

    func osie() throws -> GazeDataset {
        try GazeDataset(root: try DatasetFixtures.layout("osie", in: tmp, images: ["images/p.png": (16, 12), "images/q.png": (8, 8)]))
    }

    func testOSIEFixationsKeepObserversAndViewingOrder() throws {
        let d = try osie()
        XCTAssertEqual(d.imageIDs, ["images/p.png", "images/q.png"])
        XCTAssertEqual(d.provides, [.model, .fixations, .otherImagesFixations, .observerScanpaths])
        let p = d.items[0]
        XCTAssertEqual([p.width, p.height], [16, 12])
        XCTAssertEqual(p.scanpaths?.map(\.observer), ["0", "1"])
        // Rows are out of order in the file; the scanpath follows the order column.
        XCTAssertEqual(p.scanpaths?[0].fixations, [HumanFixation(x: 1, y: 1, durationMs: 200), HumanFixation(x: 5.4, y: 2.6, durationMs: 120)])
        XCTAssertEqual(p.scanpaths?[1].fixations.map(\.durationMs), [90, 80])
    }

    func testOffImageFixationsAreLeftOutAndReportedNotClamped() throws {
        let d = try osie()
        // p: (5.4, 2.6) → (5, 3) twice, (1, 1), and x 16.2 rounds to column 16 of a 16-wide image.
        let (p, pWarnings) = d.annotations(of: "images/p.png", imageWidth: 16, imageHeight: 12, inputSize: 32,
                                           needs: [.fixations, .otherImagesFixations])
        XCTAssertEqual(p.gaze?.fixatedPixels, [PixelPoint(x: 5, y: 3), PixelPoint(x: 1, y: 1)])
        XCTAssertEqual(pWarnings, ["1 of 4 fixations lie off the 16×12 image; left out"])
        // q's pixels (3, 4) and (0, 7) in p's 16×12 grid are p's negatives; q's ±1e30 fixation is not among them.
        XCTAssertEqual(Set(p.gaze?.otherImagesFixatedPixels ?? []), [PixelPoint(x: 6, y: 6), PixelPoint(x: 0, y: 10)])
        let (q, qWarnings) = d.annotations(of: "images/q.png", imageWidth: 8, imageHeight: 8, inputSize: 32, needs: .fixations)
        XCTAssertEqual(q.gaze?.fixatedPixels, [PixelPoint(x: 3, y: 4), PixelPoint(x: 0, y: 7)])
        XCTAssertEqual(q.gaze?.otherImagesFixatedPixels, [], "negatives are built only when a metric needs them")
        XCTAssertEqual(qWarnings.count, 1)
    }

    func testNonFiniteFixationsAreAnErrorNamingTheFileAndLine() throws {
        let root = try DatasetFixtures.layout("osie-nonfinite", in: tmp, images: ["images/p.png": (16, 12)])
        XCTAssertThrowsError(try GazeDataset(root: root)) { error in
            XCTAssertTrue("\(error)".contains("fixations.csv: line 3") && "\(error)".contains("finite"), "\(error)")
        }
        for bad in ["inf", "-inf", "+infinity"] {
            try Data("image,x,y\np.png,1,\(bad)\n".utf8).write(to: root.appendingPathComponent("fixations.csv"))
            XCTAssertThrowsError(try GazeDataset(root: root), bad) { error in
                XCTAssertTrue("\(error)".contains("line 2"), "\(error)")
            }
        }
    }

    func testFixationsWithoutObserversHaveNoScanpaths() throws {
        let root = try DatasetFixtures.layout("osie-nonfinite", in: tmp, images: ["images/p.png": (16, 12)])
        try Data("image,x,y\np.png,1,2\np.png,3,4\n".utf8).write(to: root.appendingPathComponent("fixations.csv"))
        let d = try GazeDataset(root: root)
        XCTAssertNil(d.items[0].scanpaths)
        XCTAssertFalse(d.provides.contains(.observerScanpaths))
        XCTAssertEqual(d.items[0].fixatedPixels.pixels, [PixelPoint(x: 1, y: 2), PixelPoint(x: 3, y: 4)])
    }

    func testMIT1003PointMaps() throws {
        let root = tmp.appendingPathComponent("mit1003")
        for (stem, w, h) in [("i1", 12, 9), ("i2", 10, 10)] {
            try DatasetFixtures.drawImage(width: w, height: h, seed: w, to: root.appendingPathComponent("ALLSTIMULI/\(stem).jpeg"))
        }
        // Point maps: black with white fixated pixels, as PNG bytes under the layout's .jpg names
        // (decoding goes by content) so that no JPEG ringing blurs the points.
        func pointMap(_ w: Int, _ h: Int, _ points: [(Int, Int)], _ name: String) throws {
            var image = RGBImage(width: w, height: h)
            for (x, y) in points { image[x, y] = .white }
            try FileManager.default.createDirectory(at: root.appendingPathComponent("ALLFIXATIONMAPS"), withIntermediateDirectories: true)
            try image.writePNG(to: root.appendingPathComponent("ALLFIXATIONMAPS/\(name)_fixPts.jpg"))
        }
        try pointMap(12, 9, [(2, 3), (11, 8)], "i1")
        try pointMap(10, 10, [(0, 0)], "i2")
        let d = try GazeDataset(root: root)
        XCTAssertEqual(d.imageIDs, ["ALLSTIMULI/i1.jpeg", "ALLSTIMULI/i2.jpeg"])
        XCTAssertEqual(d.items[0].fixatedPixels.pixels, [PixelPoint(x: 2, y: 3), PixelPoint(x: 11, y: 8)])
        XCTAssertEqual([d.items[0].width, d.items[0].height], [12, 9])
        XCTAssertNil(d.items[0].scanpaths)
        XCTAssertEqual(d.items[1].fixatedPixels.pixels, [PixelPoint(x: 0, y: 0)])
    }

    func testTheDigestChangesWithTheAnnotations() throws {
        let d = try sharedLayout()
        let boxes = d.root.appendingPathComponent("boxes.csv")
        let before = d.identity
        try (String(contentsOf: boxes, encoding: .utf8) + "c.png,n01484850,0,0,5,5\n").write(to: boxes, atomically: true, encoding: .utf8)
        let after = try ImageNetDataset(root: d.root, synsets: [:]).identity
        XCTAssertEqual(before.path, after.path)
        XCTAssertNotEqual(before.digest, after.digest)
        XCTAssertEqual(before.digest.count, 64)
    }
}
