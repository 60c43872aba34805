import Foundation
import FovExImaging
import FovExMetrics

/// The scanpath part of a report: which observer each method matches best per image, a figure of the
/// means with their bootstrap intervals, and animations of FovEx's scanpath beside the best-matching
/// human observer's.
public struct ScanpathReport {
    /// One record per image, from every run merged.
    public var records: [ScanpathRecord]

    /// Reads `scanpaths.jsonl` from each run directory (the first run holding an image wins).
    public init(runs: [URL]) throws {
        var seen = Set<String>()
        var out: [ScanpathRecord] = []
        for run in runs {
            for r in try ScanpathEvaluator.readRecords(run) where seen.insert(r.image).inserted { out.append(r) }
        }
        records = out.sorted { $0.image < $1.image }
    }

    /// The generated methods (those that have a best-matching observer), in `methods` order.
    func matched(_ methods: [String]) -> [String] {
        methods.filter { m in records.contains { $0.bestObserver[m] != nil } }
    }

    /// A Markdown table: per image, each method's best-matching observer and its score on the primary metric.
    public func markdown(methods: [String]) -> String {
        guard let primary = records.first?.primaryMetric else { return "" }
        let shown = matched(methods)
        var out = "\n## Best-matching observer per image (by \(primary))\n\n| image | observers | "
        out += shown.joined(separator: " | ") + " |\n|---|---:|" + shown.map { _ in "---|" }.joined() + "\n"
        for r in records {
            out += "| \(r.image) | \(r.observers.count) | "
            out += shown.map { m -> String in
                guard let o = r.bestObserver[m], let i = r.observers.firstIndex(of: o),
                      let v = r.perObserver[m]?[primary]?[i] ?? nil else { return "–" }
                return "\(o) (\(EvaluationReport.format(v)))"
            }.joined(separator: " | ") + " |\n"
        }
        return out
    }

    /// A Markdown table describing the scanpaths themselves: per method (and for the observers) the
    /// median saccade amplitude and the median distance of fixations from the image centre, in pixels.
    public func geometryMarkdown(methods: [String]) -> String {
        func median(_ v: [Double]) -> String {
            guard !v.isEmpty else { return "–" }
            let s = v.sorted()
            return String(format: "%.0f", s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2)
        }
        func amplitudes(_ p: [ScanpathPoint]) -> [Double] { zip(p, p.dropFirst()).map { hypot($1.x - $0.x, $1.y - $0.y) } }
        var out = "\n## Scanpath geometry (medians, pixels)\n\n| scanpaths | saccade amplitude | distance from centre | fixations |\n|---|---:|---:|---:|\n"
        let rows: [(String, [(ScanpathRecord, [ScanpathPoint])])] = matched(methods).map { m in
            (m, records.compactMap { r in r.paths[m].map { (r, $0) } })
        } + [("human observers", records.flatMap { r in r.observerPaths.map { (r, $0) } })]
        for (name, paths) in rows {
            let amp = paths.flatMap { amplitudes($0.1) }
            let centre = paths.flatMap { r, p in p.map { hypot($0.x - Double(r.width - 1) / 2, $0.y - Double(r.height - 1) / 2) } }
            let count = paths.isEmpty ? 0 : Double(paths.map(\.1.count).reduce(0, +)) / Double(paths.count)
            out += "| \(name) | \(median(amp)) | \(median(centre)) | \(String(format: "%.1f", count)) |\n"
        }
        return out
    }

    /// An SVG figure: for each metric, every method's mean with its 95 % bootstrap interval, on a
    /// shared axis per metric; the ceiling and floors are drawn in grey, models in colour.
    public static func figure(_ report: EvaluationReport, metrics: [String], title: String) -> String {
        let methods = report.methods
        let palette = ["fovex": "#d62728", "fovex-refined": "#ff7f0e", ScanpathEvaluator.ceilingName: "#2ca02c"]
        let (rowH, left, plotW, top) = (16.0, 130.0, 190.0, 40.0)
        let panelW = left + plotW + 24
        let cols = min(3, metrics.count), rowsOfPanels = (metrics.count + cols - 1) / cols
        let panelH = rowH * Double(methods.count) + 44
        let (width, height) = (panelW * Double(cols) + 10, top + panelH * Double(rowsOfPanels))
        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" font-family=\"sans-serif\" font-size=\"11\">"
        s += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>"
        s += "<text x=\"10\" y=\"20\" font-size=\"14\" font-weight=\"bold\">\(htmlEscaped(title))</text>"
        for (k, metric) in metrics.enumerated() {
            let x0 = 10 + panelW * Double(k % cols), y0 = top + panelH * Double(k / cols)
            let sums = methods.compactMap { report.summaries[metric]?[$0] }
            guard let lo = sums.map(\.low).min(), let hi = sums.map(\.high).max() else { continue }
            let pad = max(1e-9, (hi - lo) * 0.08)
            let (a, b) = (lo - pad, hi + pad)
            let xOf = { (v: Double) in x0 + left + plotW * (v - a) / (b - a) }
            s += "<text x=\"\(x0 + left)\" y=\"\(y0 + 12)\" font-weight=\"bold\">\(htmlEscaped(metric)) \(report.arrow(metric))</text>"
            s += "<rect x=\"\(x0 + left)\" y=\"\(y0 + 18)\" width=\"\(plotW)\" height=\"\(rowH * Double(methods.count))\" fill=\"none\" stroke=\"#bbb\"/>"
            for (i, m) in methods.enumerated() {
                let y = y0 + 18 + rowH * (Double(i) + 0.5)
                s += "<text x=\"\(x0 + left - 6)\" y=\"\(y + 4)\" text-anchor=\"end\">\(htmlEscaped(m))</text>"
                guard let v = report.summaries[metric]?[m] else { continue }
                let color = palette[m] ?? "#777"
                s += String(format: "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%@\" stroke-width=\"2\"/>",
                            xOf(v.low), y, xOf(v.high), y, color)
                s += String(format: "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"%@\"/>", xOf(v.mean), y, color)
            }
            let yAxis = y0 + 18 + rowH * Double(methods.count) + 12
            s += "<text x=\"\(x0 + left)\" y=\"\(yAxis)\">\(EvaluationReport.format(a))</text>"
            s += "<text x=\"\(x0 + left + plotW)\" y=\"\(yAxis)\" text-anchor=\"end\">\(EvaluationReport.format(b))</text>"
        }
        return s + "</svg>\n"
    }

    /// Writes, for the first `images` images, FovEx's animated scanpath and the best-matching observer's
    /// (played with their recorded durations) into `directory/animations/`, and returns the HTML section
    /// that shows them side by side.
    public func writeAnimations(to directory: URL, method: String = "fovex", images: Int = 4, maxSide: Int = 480) throws -> String {
        let dir = directory.appendingPathComponent("animations")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        var html = "<h2>Scanpaths: \(htmlEscaped(method)) beside the best-matching observer</h2>"
        html += "<table class=\"gallery\"><tr><th>image</th><th>\(htmlEscaped(method))</th><th>human observer</th></tr>"
        var shown = 0
        for r in records where shown < images {
            guard let path = r.paths[method], let o = r.bestObserver[method], let i = r.observers.firstIndex(of: o) else { continue }
            let photo: RGBImage
            do { photo = try RGBImage(contentsOf: URL(fileURLWithPath: r.file)) } catch { continue }
            // Image ids are paths below the data set's root: the file name alone names the animations.
            let stem = ((r.image as NSString).lastPathComponent as NSString).deletingPathExtension
            var model = ScanpathAnimation(fixations: path.map { (Float($0.x), Float($0.y)) }, title: "\(r.image): \(method)")
            model.embeddedMaxSide = maxSide
            let human = r.observerPaths[i]
            var person = ScanpathAnimation(fixations: human.map { (Float($0.x), Float($0.y)) },
                                           durations: human.allSatisfy { $0.duration != nil } ? human.map { $0.duration! / 1000 } : nil,
                                           title: "\(r.image): observer \(o)")
            person.embeddedMaxSide = maxSide
            person.color = "#00dcff"
            let (a, b) = ("\(stem).\(method).svg", "\(stem).observer-\(o).svg")
            try model.write(photo: photo, to: dir.appendingPathComponent(a))
            try person.write(photo: photo, to: dir.appendingPathComponent(b))
            html += "<tr><td>\(htmlEscaped(r.image))</td><td><img style=\"width:360px\" src=\"animations/\(htmlEscaped(a))\" alt=\"\(htmlEscaped(method))\"></td>"
            html += "<td><img style=\"width:360px\" src=\"animations/\(htmlEscaped(b))\" alt=\"observer \(htmlEscaped(o))\"><br>observer \(htmlEscaped(o))</td></tr>"
            shown += 1
        }
        return html + "</table>"
    }
}
