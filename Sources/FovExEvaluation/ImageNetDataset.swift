import Foundation
import FovExMetrics

/// One labelled image of an ImageNet-style data set.
public struct LabelledImage: Sendable, Equatable {
    /// The path relative to the data set's root: the image's identity in runs.
    public var id: String
    /// The image file.
    public var file: URL
    /// ImageNet-1k class index (torchvision / Caffe order).
    public var classIndex: Int
    /// Boxes of the image's class, in pixels of the stored image, as recorded (not yet checked).
    public var boxes: [BoxRegion]
}

/// ImageNet-style validation data: a folder of images with labels and boxes.
///
/// Recognised layouts:
/// - `images/` + `labels.csv` (file,class_index,synset) + optional `boxes.csv` (file,synset,x0,y0,x1,y1,…);
/// - the official one: `val/*.JPEG` with ILSVRC2012 bounding-box XML files (in `val/`, `bbox/` or
///   `Annotations/`), class from the XML's synset;
/// - `LOC_val_solution.csv` (ImageId,PredictionString "synset x0 y0 x1 y1 …") beside `val/` or images.
///
/// Boxes are checked against each image's decoded size when a sample is built: a box with a
/// coordinate that is not finite, an inverted or empty box, or one entirely off the image is left
/// out with a warning, and an image left with no box has no box metrics (a missing value with
/// that reason), never a 0.
public struct ImageNetDataset: EvaluationDataset, Sendable {
    /// The labelled images, in file-name order.
    public var items: [LabelledImage]
    /// The directory the set was read from.
    public var root: URL
    /// Whether the layout records boxes at all (`labels.csv` without `boxes.csv` does not).
    public var hasBoxes: Bool
    private var index: [String: Int] = [:]

    /// Loads `root`; `synsets` maps WordNet ids to class indices (for the official layouts).
    public init(root: URL, synsets: [String: Int]) throws {
        self.root = root
        let fm = FileManager.default
        let labels = root.appendingPathComponent("labels.csv")
        if fm.fileExists(atPath: labels.path) {
            (items, hasBoxes) = try ImageNetDataset.loadSharedLayout(root)
        } else if fm.fileExists(atPath: root.appendingPathComponent("LOC_val_solution.csv").path) {
            (items, hasBoxes) = (try ImageNetDataset.loadLOCSolution(root, synsets: synsets), true)
        } else if fm.fileExists(atPath: root.appendingPathComponent("val").path) {
            (items, hasBoxes) = (try ImageNetDataset.loadXMLLayout(root, synsets: synsets), true)
        } else {
            throw DatasetError.layoutNotRecognised(root, "expected labels.csv, LOC_val_solution.csv or a val/ folder")
        }
        items.sort { $0.id < $1.id }
        for (i, item) in items.enumerated() {
            if let first = index.updateValue(i, forKey: item.id) {
                throw DatasetError.malformed(root, "image \(item.id) is listed twice (entries \(first + 1) and \(i + 1))")
            }
        }
        guard !items.isEmpty else { throw DatasetError.empty(root) }
    }

    public var kind: String { "imagenet" }
    public var imageIDs: [String] { items.map(\.id) }
    public var provides: MetricNeeds { hasBoxes ? [.model, .boxes] : .model }

    public var identity: DatasetIdentity {
        DatasetIdentity.make(kind: kind, root: root, lines: items.map { item in
            ([item.id, "\(item.classIndex)"] + item.boxes.map { "\($0.x0) \($0.y0) \($0.x1) \($0.y1)" }).joined(separator: "\t")
        })
    }

    public func file(of id: String) -> URL? { index[id].map { items[$0].file } }
    public func label(of id: String) -> Int? { index[id].map { items[$0].classIndex } }

    public func annotations(of id: String, imageWidth: Int, imageHeight: Int, inputSize: Int,
                            needs: MetricNeeds) -> (annotations: SampleAnnotations, warnings: [String]) {
        guard hasBoxes, let i = index[id] else { return (SampleAnnotations(), []) }
        let recorded = items[i].boxes
        var kept: [BoxRegion] = [], warnings: [String] = []
        for (k, box) in recorded.enumerated() {
            if let problem = box.problem(width: imageWidth, height: imageHeight) {
                warnings.append("box \(k + 1) of \(recorded.count) left out: \(problem)")
            } else {
                kept.append(box.scaled(x: Float(inputSize) / Float(imageWidth), y: Float(inputSize) / Float(imageHeight)))
            }
        }
        let unavailable = recorded.isEmpty ? "no ground-truth box is recorded for the image"
            : kept.isEmpty ? "none of the image's \(recorded.count) boxes is usable (see the warnings)" : nil
        return (SampleAnnotations(boxes: kept, boxesUnavailable: unavailable), warnings)
    }

    static func loadSharedLayout(_ root: URL) throws -> (items: [LabelledImage], hasBoxes: Bool) {
        let table = try CSVTable(url: root.appendingPathComponent("labels.csv"))
        let (f, c) = (try table.column("file"), try table.column("class_index"))
        var boxes: [String: [BoxRegion]] = [:]
        let boxesURL = root.appendingPathComponent("boxes.csv")
        let hasBoxes = FileManager.default.fileExists(atPath: boxesURL.path)
        if hasBoxes {
            let b = try CSVTable(url: boxesURL)
            let cols = try ["file", "x0", "y0", "x1", "y1"].map { try b.column($0) }
            for (i, r) in b.rows.enumerated() {
                guard let x0 = Float(r[cols[1]]), let y0 = Float(r[cols[2]]), let x1 = Float(r[cols[3]]), let y1 = Float(r[cols[4]]) else {
                    throw DatasetError.malformed(boxesURL, "line \(i + 2): box coordinates are not numbers")
                }
                boxes[r[cols[0]], default: []].append(BoxRegion(x0: x0, y0: y0, x1: x1, y1: y1))
            }
        }
        let images = root.appendingPathComponent("images")
        let items = try table.rows.enumerated().map { i, r in
            guard let k = Int(r[c]), (0..<1000).contains(k) else {
                throw DatasetError.malformed(table.url, "line \(i + 2): class_index '\(r[c])' is not in 0..<1000")
            }
            return labelled(images.appendingPathComponent(r[f]), root: root, classIndex: k, boxes: boxes[r[f]] ?? [])
        }
        return (items, hasBoxes)
    }

    static func labelled(_ file: URL, root: URL, classIndex: Int, boxes: [BoxRegion]) -> LabelledImage {
        LabelledImage(id: file.path(relativeTo: root), file: file, classIndex: classIndex, boxes: boxes)
    }

    static func imageFolder(_ root: URL) -> URL {
        let val = root.appendingPathComponent("val")
        return FileManager.default.fileExists(atPath: val.path) ? val : root.appendingPathComponent("images")
    }

    static func loadLOCSolution(_ root: URL, synsets: [String: Int]) throws -> [LabelledImage] {
        let url = root.appendingPathComponent("LOC_val_solution.csv")
        let table = try CSVTable(url: url)
        let (idCol, predCol) = (try table.column("ImageId"), try table.column("PredictionString"))
        let folder = imageFolder(root)
        return try table.rows.enumerated().map { i, r in
            let parts = r[predCol].split(separator: " ").map(String.init)
            guard parts.count >= 5, parts.count % 5 == 0, let k = synsets[parts[0]] else {
                throw DatasetError.malformed(url, "line \(i + 2): PredictionString must be 'synset x0 y0 x1 y1 …' with a known synset")
            }
            var boxes: [BoxRegion] = []
            for j in stride(from: 0, to: parts.count, by: 5) where parts[j] == parts[0] {
                let v = parts[(j + 1)...(j + 4)].compactMap(Float.init)
                guard v.count == 4 else { throw DatasetError.malformed(url, "line \(i + 2): box is not numeric") }
                boxes.append(BoxRegion(x0: v[0], y0: v[1], x1: v[2], y1: v[3]))
            }
            return labelled(folder.appendingPathComponent(r[idCol] + ".JPEG"), root: root, classIndex: k, boxes: boxes)
        }
    }

    static func loadXMLLayout(_ root: URL, synsets: [String: Int]) throws -> [LabelledImage] {
        let val = root.appendingPathComponent("val")
        let fm = FileManager.default
        let xmlDirs = [val, root.appendingPathComponent("bbox"), root.appendingPathComponent("Annotations")]
            .filter { fm.fileExists(atPath: $0.path) }
        let files = try fm.contentsOfDirectory(atPath: val.path).filter { $0.uppercased().hasSuffix(".JPEG") }.sorted()
        return try files.map { name in
            let stem = (name as NSString).deletingPathExtension
            guard let xml = xmlDirs.map({ $0.appendingPathComponent(stem + ".xml") }).first(where: { fm.fileExists(atPath: $0.path) }) else {
                throw DatasetError.malformed(val.appendingPathComponent(name), "no bounding-box XML file \(stem).xml found")
            }
            let (synset, boxes) = try ILSVRCAnnotation.parse(xml)
            guard let k = synsets[synset] else { throw DatasetError.malformed(xml, "unknown synset \(synset)") }
            return labelled(val.appendingPathComponent(name), root: root, classIndex: k, boxes: boxes)
        }
    }
}

/// The ILSVRC2012 bounding-box XML format (PASCAL VOC style).
enum ILSVRCAnnotation {
    static func parse(_ url: URL) throws -> (synset: String, boxes: [BoxRegion]) {
        guard let text = try? String(contentsOf: url, encoding: .utf8) else { throw DatasetError.unreadable(url, "not readable as text") }
        func values(_ tag: String, in s: Substring) -> [Substring] {
            var out: [Substring] = []
            var rest = s[...]
            while let open = rest.range(of: "<\(tag)>"), let close = rest.range(of: "</\(tag)>", range: open.upperBound..<rest.endIndex) {
                out.append(rest[open.upperBound..<close.lowerBound])
                rest = rest[close.upperBound...]
            }
            return out
        }
        var synset: String?
        var boxes: [BoxRegion] = []
        for object in values("object", in: text[...]) {
            guard let name = values("name", in: object).first.map({ $0.trimmingCharacters(in: .whitespacesAndNewlines) }),
                  let b = values("bndbox", in: object).first else { continue }
            let v = ["xmin", "ymin", "xmax", "ymax"].compactMap { values($0, in: b).first.flatMap { Float($0.trimmingCharacters(in: .whitespacesAndNewlines)) } }
            guard v.count == 4 else { throw DatasetError.malformed(url, "a bndbox lacks xmin/ymin/xmax/ymax") }
            if synset == nil { synset = name }
            if name == synset { boxes.append(BoxRegion(x0: v[0], y0: v[1], x1: v[2], y1: v[3])) }
        }
        guard let synset else { throw DatasetError.malformed(url, "no <object> with a <name>") }
        return (synset, boxes)
    }
}
