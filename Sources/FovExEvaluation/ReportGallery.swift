import Foundation
import FovExImaging

/// The report's gallery, drawn from the maps the runs kept (`RUN_DIR/maps/`).
public enum ReportGallery {
    /// Draws each kept map over its image, found through the data set's recorded path, and writes
    /// the pictures under `outDir/gallery/`, mirroring the images' paths. Where the image is not
    /// there (the report runs on another machine) the map is shown alone, in colour.
    /// - Returns: per image, method → path of the picture relative to `outDir`, for
    ///   ``EvaluationReport/html(gallery:extra:)``.
    public static func draw(_ report: EvaluationReport, into outDir: URL) throws -> [(image: String, overlays: [String: String])] {
        let fm = FileManager.default
        var gallery: [(image: String, overlays: [String: String])] = []
        let dataRoot = report.configuration.dataset.map { URL(fileURLWithPath: $0.path) }
        for image in Array(Set(report.rows.map(\.image))).sorted() {
            var overlays: [String: String] = [:]
            // Decoded once per image, on its first kept map.
            lazy var photo: RGBImage? = dataRoot.flatMap { try? RGBImage(contentsOf: $0.appendingPathComponent(image)) }
            for method in report.methods {
                guard let source = report.runDirectories.map({ RunStore.mapURL(in: $0, image: image, method: method) })
                    .first(where: { fm.fileExists(atPath: $0.path) }) else { continue }
                let map = try FloatMap(contentsOf: source)
                let picture: RGBImage
                if let p = photo {
                    picture = overlay(heatmap: map.resized(width: p.width, height: p.height), on: p)
                } else {
                    picture = Colormap.jet.apply(to: map)
                }
                let relative = "gallery/\(image).\(method).png"
                let url = outDir.appendingPathComponent(relative)
                do { try fm.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true) } catch {
                    throw RunStoreError.io(url.deletingLastPathComponent(), "cannot create: \(error.localizedDescription)")
                }
                try picture.writePNG(to: url)
                overlays[method] = relative
            }
            if !overlays.isEmpty { gallery.append((image, overlays)) }
        }
        return gallery
    }
}
