import Foundation
import FovExExplainers
import FovExImaging
import FovExModels
import FovExTensor

/// The files written for one explanation.
public struct WrittenExplanation: Sendable, Codable {
    /// The image's file name.
    public var image: String
    /// The method.
    public var method: String
    /// The class explained.
    public var classIndex: Int
    /// That class's name.
    public var className: String
    /// Its softmax probability on the clean image.
    public var probability: Float
    /// The overlay PNG's file name.
    public var overlay: String
    /// The 16-bit map PNG's file name.
    public var map: String
    /// The JSON record's file name.
    public var record: String
    /// The animated scanpath (SVG), for methods that have a scanpath.
    public var animation: String?
}

/// Writes explanations as a person and a program want them: an overlay PNG at the photo's own
/// resolution (heat map, and for FovEx the numbered scanpath), the map as a 16-bit grayscale PNG,
/// a JSON record, and an HTML gallery of everything in the directory.
public struct ExplanationWriter {
    /// Where the files go.
    public var directory: URL
    /// The colour map of the overlays.
    public var colormap: Colormap = .jet
    /// The heat map's opacity in the overlays.
    public var alpha: Float = 0.5

    /// A writer into `directory`, created if needed.
    public init(directory: URL) throws {
        self.directory = directory
        do { try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true) } catch {
            throw RunStoreError.io(directory, "cannot create the output directory: \(error.localizedDescription)")
        }
    }

    /// One JSON record per explanation.
    struct Record: Codable {
        struct Point: Codable { var row, col, x, y, loss: Float }
        var image: String
        var method: String
        var model: ModelIdentity
        /// The precision of the model's products (``Precision``): fp32 unless the model was set otherwise.
        var precision: String
        var classIndex: Int
        var className: String
        var probability: Float
        var imageWidth: Int
        var imageHeight: Int
        var inputSize: Int
        var scanpath: [Point]
        var settings: [String: String]
        var overlay: String
        var map: String
    }

    /// Writes the files of one explanation of `photo` (the original image, before resizing), named
    /// `<stem>.<method>.overlay.png`, `.map.png` and `.json`; `stem` defaults to the image's name
    /// without its extension (``OutputNames`` makes stems that never collide).
    public func write(_ e: Explanation, photo: RGBImage, imageName: String, stem: String? = nil,
                      model: ImageClassifier) throws -> WrittenExplanation {
        let stem = stem ?? (imageName as NSString).deletingPathExtension
        let size = e.map.shape[0]
        let mapValues = e.map.scalars
        guard !mapValues.contains(where: { !$0.isFinite }) else {
            throw ExplainerError.badInput("\(e.method) produced a map with NaN or infinite values for \(imageName)")
        }
        let map = FloatMap(width: size, height: size, values: mapValues)
        var picture = overlay(heatmap: map.resized(width: photo.width, height: photo.height), on: photo, alpha: alpha, colormap: colormap)
        let points = (e.attachment(Scanpath.self)?.fixations ?? []).map { f -> Record.Point in
            let p = f.pixel(width: photo.width, height: photo.height, inputSize: size)
            return Record.Point(row: f.row, col: f.col, x: p.x, y: p.y, loss: f.loss)
        }
        if !points.isEmpty { picture.drawScanpath(points.map { ImagePoint(x: $0.x, y: $0.y) }) }
        let overlayName = "\(stem).\(e.method).overlay.png", mapName = "\(stem).\(e.method).map.png"
        let recordName = "\(stem).\(e.method).json"
        try picture.writePNG(to: directory.appendingPathComponent(overlayName))
        var animationName: String?
        if !points.isEmpty {
            animationName = "\(stem).\(e.method).scanpath.svg"
            try animation(of: e, points: points.map { ($0.x, $0.y) }, title: "\(imageName): \(e.method) scanpath")
                .write(photo: photo, to: directory.appendingPathComponent(animationName!))
        }
        try map.writePNG(to: directory.appendingPathComponent(mapName), bitDepth: .sixteen)
        let className = e.classIndex < model.classNames.count ? model.classNames[e.classIndex] : "class \(e.classIndex)"
        let precision = (model as? any PrecisionSelectable)?.precision ?? .fp32
        let record = Record(image: imageName, method: e.method, model: model.identity, precision: precision.rawValue,
                            classIndex: e.classIndex, className: className, probability: e.probability,
                            imageWidth: photo.width, imageHeight: photo.height, inputSize: size, scanpath: points,
                            settings: e.settings, overlay: overlayName, map: mapName)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try RunStore.atomicWrite(try encoder.encode(record), to: directory.appendingPathComponent(recordName))
        return WrittenExplanation(image: imageName, method: e.method, classIndex: e.classIndex, className: className,
                                  probability: e.probability, overlay: overlayName, map: mapName, record: recordName,
                                  animation: animationName)
    }

    /// The animated scanpath of an explanation, with the fovea, memory and blur of its own settings.
    func animation(of e: Explanation, points: [(x: Float, y: Float)], title: String) -> ScanpathAnimation {
        var a = ScanpathAnimation(fixations: points, title: title)
        a.inputSize = e.map.shape[0]
        if let v = e.settings["fovea_sigma"].flatMap(Float.init) { a.foveaSigma = v }
        if let v = e.settings["forgetting"].flatMap(Float.init) { a.forgetting = v }
        if let v = e.settings["blur_sigma"].flatMap(Float.init) { a.blurSigma = v }
        return a
    }

    /// Writes `index.html`: one row per image (the input, then each method's overlay) with the class explained.
    public func writeGallery(_ written: [WrittenExplanation], inputs: [String: String], title: String) throws {
        let methods = written.reduce(into: [String]()) { if !$0.contains($1.method) { $0.append($1.method) } }
        let images = written.reduce(into: [String]()) { if !$0.contains($1.image) { $0.append($1.image) } }
        var page = """
        <!doctype html><html><head><meta charset="utf-8"><title>\(htmlEscaped(title))</title>
        <style>body{font-family:sans-serif;margin:24px;color:#222}table{border-collapse:collapse}
        td,th{border:1px solid #ddd;padding:6px;text-align:center;vertical-align:top;font-size:90%}
        img{width:260px;height:auto}</style></head><body><h1>\(htmlEscaped(title))</h1><table><tr><th>input</th>
        """
        page += methods.map { "<th>\(htmlEscaped($0))</th>" }.joined() + "</tr>"
        for image in images {
            let row = written.filter { $0.image == image }
            page += "<tr><td>"
            if let src = inputs[image] { page += "<img src=\"\(htmlEscaped(src))\" alt=\"input\"><br>" }
            page += htmlEscaped(image)
            if let first = row.first {
                page += "<br><b>\(htmlEscaped(first.className))</b> (\(String(format: "%.1f", first.probability * 100)) %)"
            }
            page += "</td>"
            for m in methods {
                if let w = row.first(where: { $0.method == m }) {
                    page += "<td><a href=\"\(htmlEscaped(w.record))\"><img src=\"\(htmlEscaped(w.overlay))\" alt=\"\(htmlEscaped(m))\"></a>"
                    if let a = w.animation {
                        page += "<br><img src=\"\(htmlEscaped(a))\" alt=\"\(htmlEscaped(m)) scanpath, animated\">"
                    }
                    page += "</td>"
                } else {
                    page += "<td>–</td>"
                }
            }
            page += "</tr>"
        }
        page += "</table></body></html>\n"
        try RunStore.atomicWrite(Data(page.utf8), to: directory.appendingPathComponent("index.html"))
    }
}
