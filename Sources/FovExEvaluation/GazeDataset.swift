import Foundation
import FovExImaging
import FovExMetrics

/// Human fixations on one image, in 0-based pixels of the stored image.
public struct GazeImage: Sendable, Equatable {
    /// The path relative to the data set's root: the image's identity in runs.
    public var id: String
    /// The image file.
    public var file: URL
    /// Its width in pixels.
    public var width: Int
    /// Its height in pixels.
    public var height: Int
    /// Every recorded fixation, pooled over observers, in file order (coordinates as recorded).
    public var fixations: [HumanFixation]
    /// Each observer's fixations in viewing order; nil where the layout records no observers and order.
    public var scanpaths: [ObserverScanpath]?

    /// The distinct pixels nearest to the fixations, in recording order, and how many fixations
    /// have their nearest pixel off the image (those are left out, not moved to the edge).
    public var fixatedPixels: (pixels: [PixelPoint], offImage: Int) {
        var seen = Set<PixelPoint>(), out: [PixelPoint] = [], off = 0
        for f in fixations {
            // Compared as floats first: a huge coordinate must not reach an Int conversion.
            let x = f.x.rounded(), y = f.y.rounded()
            guard x >= 0, y >= 0, x <= Float(width - 1), y <= Float(height - 1) else { off += 1; continue }
            let p = PixelPoint(x: Int(x), y: Int(y))
            if seen.insert(p).inserted { out.append(p) }
        }
        return (out, off)
    }
}

/// An eye-tracking data set.
///
/// Recognised layouts:
/// - `images/` + `fixations.csv` (image,subject,order,x,y,duration_ms; x, y in 0-based pixels; subject,
///   order and duration_ms optional), as OSIE is stored in the project's data folder;
/// - MIT1003: `ALLSTIMULI/*.jpeg` + `ALLFIXATIONMAPS/<stem>_fixPts.jpg` binary point maps (a pixel brighter than
///   half is a fixation; no observers or order).
///
/// A coordinate that is not a finite number is an error naming the file and line. A fixation whose
/// nearest pixel is off the image is left out of the sample with a warning.
public struct GazeDataset: EvaluationDataset, Sendable {
    /// The images with their fixations, in file-name order.
    public var items: [GazeImage]
    /// The directory the set was read from.
    public var root: URL
    private var index: [String: Int] = [:]
    /// Each image's distinct fixated pixels, computed once (shuffled AUC reads every image's).
    private var pixels: [[PixelPoint]] = []

    /// Reads the set at `root`; throws ``DatasetError`` naming the file and line of any problem.
    public init(root: URL) throws {
        self.root = root
        let fm = FileManager.default
        if fm.fileExists(atPath: root.appendingPathComponent("fixations.csv").path) {
            items = try GazeDataset.loadCSVLayout(root)
        } else if fm.fileExists(atPath: root.appendingPathComponent("ALLSTIMULI").path) {
            items = try GazeDataset.loadMIT1003(root)
        } else {
            throw DatasetError.layoutNotRecognised(root, "expected fixations.csv + images/, or ALLSTIMULI/ + ALLFIXATIONMAPS/")
        }
        items.sort { $0.id < $1.id }
        guard !items.isEmpty else { throw DatasetError.empty(root) }
        for (i, item) in items.enumerated() { index[item.id] = i }
        pixels = items.map(\.fixatedPixels.pixels)
    }

    public var kind: String { "gaze" }
    public var imageIDs: [String] { items.map(\.id) }

    public var provides: MetricNeeds {
        var p: MetricNeeds = [.model, .fixations, .otherImagesFixations]
        if items.allSatisfy({ $0.scanpaths != nil }) { p.insert(.observerScanpaths) }
        return p
    }

    public var identity: DatasetIdentity {
        DatasetIdentity.make(kind: kind, root: root, lines: items.map { item in
            ([item.id, "\(item.width)x\(item.height)"] + (item.scanpaths.map { paths in
                paths.flatMap { p in p.fixations.map { "\(p.observer) \($0.x) \($0.y) \($0.durationMs.map { "\($0)" } ?? "-")" } }
            } ?? item.fixations.map { "\($0.x) \($0.y)" })).joined(separator: "\t")
        })
    }

    public func file(of id: String) -> URL? { index[id].map { items[$0].file } }
    public func label(of id: String) -> Int? { nil }

    /// Fixations in pixels of the image as stored; the image is expected at its recorded size
    /// (a decoded size that differs is reported, and the fixations are scaled to it).
    public func annotations(of id: String, imageWidth: Int, imageHeight: Int, inputSize: Int,
                            needs: MetricNeeds) -> (annotations: SampleAnnotations, warnings: [String]) {
        guard let i = index[id] else { return (SampleAnnotations(), []) }
        let item = items[i]
        var warnings: [String] = []
        let off = item.fixatedPixels.offImage
        if off > 0 {
            warnings.append("\(off) of \(item.fixations.count) fixations lie off the \(item.width)×\(item.height) image; left out")
        }
        var others: [PixelPoint] = []
        if needs.contains(.otherImagesFixations) {
            // Other images' fixated pixels in this image's grid, scaled by the ratio of the sizes.
            for (j, other) in items.enumerated() where j != i {
                for p in pixels[j] {
                    let x = Swift.min(item.width - 1, Int((Float(p.x) * Float(item.width) / Float(other.width)).rounded(.down)))
                    let y = Swift.min(item.height - 1, Int((Float(p.y) * Float(item.height) / Float(other.height)).rounded(.down)))
                    others.append(PixelPoint(x: x, y: y))
                }
            }
        }
        if (imageWidth, imageHeight) != (item.width, item.height) {
            warnings.append("the image decodes at \(imageWidth)×\(imageHeight) but its fixations are for \(item.width)×\(item.height)")
        }
        let gaze = HumanGaze(width: item.width, height: item.height, fixatedPixels: pixels[i],
                             otherImagesFixatedPixels: others, scanpaths: item.scanpaths)
        return (SampleAnnotations(gaze: gaze), warnings)
    }

    /// A fixation of `fixations.csv` with its observer and place in that observer's scanpath, where
    /// the file records them.
    struct RecordedFixation {
        var fixation: HumanFixation
        var observer: (subject: String, order: Int)?
    }

    static func loadCSVLayout(_ root: URL) throws -> [GazeImage] {
        let url = root.appendingPathComponent("fixations.csv")
        let table = try CSVTable(url: url)
        let (ic, xc, yc) = (try table.column("image"), try table.column("x"), try table.column("y"))
        let (sc, oc, dc) = (table.header.firstIndex(of: "subject"), table.header.firstIndex(of: "order"),
                            table.header.firstIndex(of: "duration_ms"))
        var byImage: [String: [RecordedFixation]] = [:]
        var order: [String] = []
        for (i, r) in table.rows.enumerated() {
            let line = i + 2
            guard let x = Float(r[xc]), let y = Float(r[yc]) else {
                throw DatasetError.malformed(url, "line \(line): x, y ('\(r[xc])', '\(r[yc])') are not numbers")
            }
            guard x.isFinite, y.isFinite else {
                throw DatasetError.malformed(url, "line \(line): x, y ('\(r[xc])', '\(r[yc])') must be finite numbers")
            }
            var duration: Float?
            if let dc, !r[dc].isEmpty {
                guard let d = Float(r[dc]), d.isFinite, d >= 0 else {
                    throw DatasetError.malformed(url, "line \(line): duration_ms '\(r[dc])' is not a finite number ≥ 0")
                }
                duration = d
            }
            var observer: (subject: String, order: Int)?
            if let sc, let oc {
                guard let o = Int(r[oc]) else { throw DatasetError.malformed(url, "line \(line): order '\(r[oc])' is not a whole number") }
                observer = (r[sc], o)
            }
            if byImage[r[ic]] == nil { order.append(r[ic]) }
            byImage[r[ic], default: []].append(RecordedFixation(fixation: HumanFixation(x: x, y: y, durationMs: duration), observer: observer))
        }
        let images = root.appendingPathComponent("images")
        return try order.map { name in
            let file = images.appendingPathComponent(name)
            let (w, h) = try ImageFile.dimensions(of: file)
            let recorded = byImage[name] ?? []
            return GazeImage(id: file.path(relativeTo: root), file: file, width: w, height: h,
                             fixations: recorded.map(\.fixation), scanpaths: scanpaths(recorded))
        }
    }

    /// Each observer's fixations sorted by their order (ties keep file order), observers in order of
    /// first appearance; nil when the file records no observers.
    static func scanpaths(_ recorded: [RecordedFixation]) -> [ObserverScanpath]? {
        var subjects: [String] = []
        var bySubject: [String: [(order: Int, position: Int, fixation: HumanFixation)]] = [:]
        for (position, r) in recorded.enumerated() {
            guard let observer = r.observer else { return nil }
            if bySubject[observer.subject] == nil { subjects.append(observer.subject) }
            bySubject[observer.subject, default: []].append((observer.order, position, r.fixation))
        }
        return subjects.map { s in
            ObserverScanpath(observer: s, fixations: (bySubject[s] ?? []).sorted { ($0.order, $0.position) < ($1.order, $1.position) }
                .map(\.fixation))
        }
    }

    static func loadMIT1003(_ root: URL) throws -> [GazeImage] {
        let stimuli = root.appendingPathComponent("ALLSTIMULI"), maps = root.appendingPathComponent("ALLFIXATIONMAPS")
        let names = try FileManager.default.contentsOfDirectory(atPath: stimuli.path)
            .filter { ["jpeg", "jpg", "png"].contains(($0 as NSString).pathExtension.lowercased()) }
        return try names.map { name in
            let stem = (name as NSString).deletingPathExtension
            let pts = maps.appendingPathComponent(stem + "_fixPts.jpg")
            let image = try RGBImage(contentsOf: pts)
            var fixations: [HumanFixation] = []
            for y in 0..<image.height { for x in 0..<image.width where image.luma(x: x, y: y) > 127.5 {
                fixations.append(HumanFixation(x: Float(x), y: Float(y)))
            }}
            let file = stimuli.appendingPathComponent(name)
            return GazeImage(id: file.path(relativeTo: root), file: file, width: image.width, height: image.height,
                             fixations: fixations)
        }
    }
}
