import Foundation
import FovExImaging

/// Human fixations on one image, in 0-based pixels of the stored image.
public struct GazeImage: Sendable, Equatable {
    public var file: URL
    public var width: Int
    public var height: Int
    /// (x, y) pixel positions pooled over observers, in recording order.
    public var fixations: [(x: Float, y: Float)]
    public var id: String { file.lastPathComponent }

    public static func == (a: GazeImage, b: GazeImage) -> Bool {
        a.file == b.file && a.width == b.width && a.height == b.height
            && a.fixations.elementsEqual(b.fixations) { $0.x == $1.x && $0.y == $1.y }
    }

    /// Distinct fixated pixels (rounded, clamped to the image), each once.
    public var fixatedPixels: [(x: Int, y: Int)] {
        var seen = Set<Int>()
        var out: [(x: Int, y: Int)] = []
        for f in fixations {
            let x = Swift.min(Swift.max(Int(f.x.rounded()), 0), width - 1)
            let y = Swift.min(Swift.max(Int(f.y.rounded()), 0), height - 1)
            if seen.insert(y * width + x).inserted { out.append((x, y)) }
        }
        return out
    }
}

/// An eye-tracking data set.
///
/// Recognised layouts:
/// - `images/` + `fixations.csv` (image,subject,order,x,y,duration_ms; x, y in 0-based pixels), as OSIE is stored
///   in the project's data folder;
/// - MIT1003: `ALLSTIMULI/*.jpeg` + `ALLFIXATIONMAPS/<stem>_fixPts.jpg` binary point maps (a pixel brighter than
///   half is a fixation).
public struct GazeDataset: Sendable {
    public var items: [GazeImage]
    public var root: URL

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
    }

    static func loadCSVLayout(_ root: URL) throws -> [GazeImage] {
        let url = root.appendingPathComponent("fixations.csv")
        let table = try CSVTable(url: url)
        let (ic, xc, yc) = (try table.column("image"), try table.column("x"), try table.column("y"))
        var byImage: [String: [(x: Float, y: Float)]] = [:]
        var order: [String] = []
        for (i, r) in table.rows.enumerated() {
            guard let x = Float(r[xc]), let y = Float(r[yc]) else {
                throw DatasetError.malformed(url, "line \(i + 2): x, y are not numbers")
            }
            if byImage[r[ic]] == nil { order.append(r[ic]) }
            byImage[r[ic], default: []].append((x, y))
        }
        let images = root.appendingPathComponent("images")
        return try order.map { name in
            let file = images.appendingPathComponent(name)
            let (w, h) = try ImageFile.dimensions(of: file)
            return GazeImage(file: file, width: w, height: h, fixations: byImage[name]!)
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
            var fixations: [(x: Float, y: Float)] = []
            for y in 0..<image.height { for x in 0..<image.width where image.luma(x: x, y: y) > 127.5 {
                fixations.append((Float(x), Float(y)))
            }}
            return GazeImage(file: stimuli.appendingPathComponent(name), width: image.width, height: image.height, fixations: fixations)
        }
    }
}
