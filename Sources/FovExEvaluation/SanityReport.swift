import Foundation
import FovExImaging
import FovExMetrics
import FovExTensor

/// The sanity check's outputs from a run directory: every similarity (`similarities.csv`,
/// `similarities.json`), their means with 95 % bootstrap intervals against the cascade step
/// (`sanity.md`, one SVG plot per similarity) and the gallery of maps (`sanity.html`: rows are methods,
/// columns the trained model and each step).
///
/// A method fails when its maps at full randomisation (every layer re-initialised) keep a mean
/// Spearman rank correlation of the absolute maps with the trained model's maps of at least
/// ``threshold``: its explanations then barely depend on what the model learned.
public struct SanityReport {
    /// The run's record.
    public var configuration: SanityConfiguration
    /// Every row.
    public var rows: [SanityRow]
    /// Similarity name → method → step → summary over images.
    public var summaries: [String: [String: [Int: MetricSummary]]]
    /// The pass/fail threshold on the mean Spearman correlation (abs) at full randomisation.
    public var threshold: Double
    /// The run directory.
    public var directory: URL

    /// Reads `directory`'s record and rows and summarises them (seeded bootstrap).
    public init(directory: URL, threshold: Double = 0.5, bootstrapSamples: Int = 1000, seed: UInt64 = 0) throws {
        let configURL = directory.appendingPathComponent("config.json")
        do {
            configuration = try JSONDecoder().decode(SanityConfiguration.self, from: Data(contentsOf: configURL))
        } catch {
            throw RunStoreError.io(configURL, "cannot read the sanity-check configuration: \(error.localizedDescription)")
        }
        rows = try SanityStore.readRows(directory.appendingPathComponent("results.jsonl"))
        self.threshold = threshold
        self.directory = directory
        var s: [String: [String: [Int: MetricSummary]]] = [:]
        var g = SeededGenerator(seed: seed)
        for (k, name) in SanitySimilarities.names.enumerated() {
            for method in configuration.methods {
                for depth in configuration.depths {
                    let values = rows.filter { $0.method == method && $0.depth == depth }
                        .compactMap { $0.similarities.values[k] }.filter(\.isFinite)
                    guard !values.isEmpty else { continue }
                    s[name, default: [:]][method, default: [:]][depth] = EvaluationReport.summarize(values, samples: bootstrapSamples,
                                                                                                      generator: &g)
                }
            }
        }
        summaries = s
    }

    /// A method's verdict.
    public enum Verdict: String, Sendable {
        /// Its maps change: the mean Spearman (abs) at full randomisation is below the threshold.
        case pass
        /// Its maps barely change.
        case fail
        /// Full randomisation was not computed (or no value is defined there).
        case notComputed = "not computed"
    }

    /// The step with every layer re-initialised.
    public var fullDepth: Int { configuration.layers.count }

    /// `method`'s verdict and the summary it rests on.
    public func verdict(_ method: String) -> (Verdict, MetricSummary?) {
        guard let s = summaries["spearman_abs"]?[method]?[fullDepth] else { return (.notComputed, nil) }
        return (s.mean < threshold ? .pass : .fail, s)
    }

    func label(_ depth: Int) -> String { "\(depth): \(configuration.layers[depth - 1])" }

    /// One line per row: image, method, depth, layer, class, then the four similarities (empty where undefined).
    public func csv() -> String {
        var lines = ["image,method,depth,layer,class," + SanitySimilarities.names.joined(separator: ",")]
        func field(_ f: String) -> String {
            f.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) ? "\"" + f.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : f
        }
        for r in sortedRows {
            lines.append(([r.image, r.method, "\(r.depth)", r.layer, "\(r.classIndex)"].map(field)
                          + r.similarities.values.map { $0.map { "\($0)" } ?? "" }).joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    var sortedRows: [SanityRow] {
        let order = Dictionary(uniqueKeysWithValues: configuration.methods.enumerated().map { ($1, $0) })
        return rows.sorted { ($0.depth, $0.image, order[$0.method] ?? 0) < ($1.depth, $1.image, order[$1.method] ?? 0) }
    }

    /// The record, every row and every summary as JSON.
    public func json() throws -> Data {
        struct Summary: Encodable { let similarity: String; let method: String; let depth: Int; let layer: String; let summary: MetricSummary }
        struct Verdicts: Encodable { let method: String; let verdict: String; let spearmanAbsAtFullRandomisation: MetricSummary? }
        struct Document: Encodable {
            let configuration: SanityConfiguration
            let threshold: Double
            let verdicts: [Verdicts]
            let summaries: [Summary]
            let rows: [SanityRow]
        }
        var list: [Summary] = []
        for name in SanitySimilarities.names { for method in configuration.methods { for depth in configuration.depths {
            if let s = summaries[name]?[method]?[depth] {
                list.append(Summary(similarity: name, method: method, depth: depth, layer: configuration.layers[depth - 1], summary: s))
            }
        }}}
        let verdicts = configuration.methods.map { m -> Verdicts in
            let (v, s) = verdict(m)
            return Verdicts(method: m, verdict: v.rawValue, spearmanAbsAtFullRandomisation: s)
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(Document(configuration: configuration, threshold: threshold, verdicts: verdicts, summaries: list,
                                           rows: sortedRows))
    }

    /// The verdicts, then a table per similarity: rows are methods, columns the steps, cells
    /// "mean [low, high]".
    public func markdown() -> String {
        let images = Set(rows.map(\.image)).count
        var out = "# Model-randomisation sanity check\n\n"
        out += "\(configuration.model) (\(configuration.weights)), \(images) images, layers re-initialised from the top "
        out += "(seed \(configuration.seed)). Cells: mean [95 % bootstrap interval] over images of the similarity "
        out += "between the trained model's map and the map after re-initialising the first k layers.\n\n"
        out += "## Verdicts\n\n"
        out += "A method fails when its mean Spearman rank correlation (absolute maps) with the trained model's maps is still "
        out += "≥ \(String(format: "%.2f", threshold)) with every layer re-initialised (step \(fullDepth)).\n\n"
        out += "| method | Spearman (abs) at full randomisation | verdict |\n|---|---|---|\n"
        for m in configuration.methods {
            let (v, s) = verdict(m)
            let cell = s.map { String(format: "%.3f [%.3f, %.3f] (n %d)", $0.mean, $0.low, $0.high, $0.count) } ?? "–"
            out += "| \(m) | \(cell) | \(v.rawValue) |\n"
        }
        for name in SanitySimilarities.names {
            out += "\n## \(name)\n\n![\(name)](\(name).svg)\n\n"
            out += "| method | " + configuration.depths.map { label($0) }.joined(separator: " | ") + " |\n"
            out += "|---|" + configuration.depths.map { _ in "---|" }.joined() + "\n"
            for m in configuration.methods {
                let cells = configuration.depths.map { d -> String in
                    guard let s = summaries[name]?[m]?[d] else { return "–" }
                    return String(format: "%.3f [%.3f, %.3f]", s.mean, s.low, s.high)
                }
                out += "| \(m) | " + cells.joined(separator: " | ") + " |\n"
            }
        }
        return out
    }

    /// One similarity against the cascade step: a line per method through the means, with its 95 %
    /// bootstrap interval as a shaded band; the x axis names the lowest layer re-initialised.
    public func svg(_ name: String) -> String {
        let (width, height, left, right, top, bottom) = (760.0, 420.0, 60.0, 140.0, 40.0, 110.0)
        let depths = configuration.depths
        let plotW = width - left - right, plotH = height - top - bottom
        // From 1 (unchanged) down to the lowest interval end, at least to −0.2, on a 0.2 grid.
        let lows = configuration.methods.flatMap { m in depths.compactMap { summaries[name]?[m]?[$0]?.low } }.filter(\.isFinite)
        let lo = Swift.min(-0.2, ((lows.min() ?? 0) / 0.2).rounded(.down) * 0.2), hi = 1.0
        let n = depths.count
        func x(_ i: Int) -> Double { left + (n == 1 ? plotW / 2 : plotW * Double(i) / Double(n - 1)) }
        func y(_ v: Double) -> Double { top + plotH * (1 - (Swift.min(Swift.max(v, lo), hi) - lo) / (hi - lo)) }
        let f = SweepReport.f, escaped = SweepReport.escaped
        let colours = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]
        var s = """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" font-family="sans-serif" font-size="12">
        <rect width="100%" height="100%" fill="white"/>
        <text x="\(Int(width / 2))" y="22" text-anchor="middle" font-size="14">\(escaped(name)) of trained and randomised maps (\(escaped(configuration.model)))</text>
        <line x1="\(left)" y1="\(top + plotH)" x2="\(left + plotW)" y2="\(top + plotH)" stroke="black"/>
        <line x1="\(left)" y1="\(top)" x2="\(left)" y2="\(top + plotH)" stroke="black"/>

        """
        let ticks = Int(((hi - lo) / 0.2).rounded())
        for k in 0...ticks {
            let v = lo + 0.2 * Double(k)
            s += "<text x=\"\(left - 6)\" y=\"\(f(y(v) + 4))\" text-anchor=\"end\">\(String(format: "%.1f", v))</text>\n"
            s += "<line x1=\"\(left)\" y1=\"\(f(y(v)))\" x2=\"\(left + plotW)\" y2=\"\(f(y(v)))\" stroke=\"\(abs(v) < 1e-9 ? "#999" : "#ddd")\"/>\n"
        }
        for (i, d) in depths.enumerated() {
            s += "<text transform=\"translate(\(f(x(i) + 4)),\(f(top + plotH + 8))) rotate(60)\" font-size=\"10\">\(escaped(label(d)))</text>\n"
        }
        s += "<text x=\"\(f(left + plotW / 2))\" y=\"\(height - 6)\" text-anchor=\"middle\">layers re-initialised, from the top (k: lowest layer)</text>\n"
        for (k, method) in configuration.methods.enumerated() {
            let colour = colours[k % colours.count]
            let points = depths.enumerated().compactMap { i, d in summaries[name]?[method]?[d].map { (i, $0) } }
            if points.count > 1 {
                let upper = points.map { "\(f(x($0.0))),\(f(y($0.1.high)))" }
                let lower = points.reversed().map { "\(f(x($0.0))),\(f(y($0.1.low)))" }
                s += "<polygon fill=\"\(colour)\" fill-opacity=\"0.15\" stroke=\"none\" points=\"\((upper + lower).joined(separator: " "))\"/>\n"
                s += "<polyline fill=\"none\" stroke=\"\(colour)\" stroke-width=\"2\" points=\"\(points.map { "\(f(x($0.0))),\(f(y($0.1.mean)))" }.joined(separator: " "))\"/>\n"
            }
            for (i, p) in points {
                if points.count == 1 {
                    s += "<line x1=\"\(f(x(i)))\" y1=\"\(f(y(p.low)))\" x2=\"\(f(x(i)))\" y2=\"\(f(y(p.high)))\" stroke=\"\(colour)\"/>\n"
                }
                s += "<circle cx=\"\(f(x(i)))\" cy=\"\(f(y(p.mean)))\" r=\"3\" fill=\"\(colour)\"/>\n"
            }
            s += "<text x=\"\(f(left + plotW + 12))\" y=\"\(f(top + 16 + 18 * Double(k)))\" fill=\"\(colour)\">\(escaped(method))</text>\n"
        }
        return s + "</svg>\n"
    }

    /// The gallery page: per kept image, a table whose rows are methods and columns the trained model
    /// and each step, maps drawn in colour (`jet`) from `maps/`.
    public func html() throws -> String {
        var body = "<h1>Model-randomisation sanity check: \(htmlEscaped(configuration.model))</h1>\n"
        body += "<p>Similarity plots: " + SanitySimilarities.names.map { "<a href=\"\($0).svg\">\($0)</a>" }.joined(separator: ", ")
            + "; tables in <a href=\"sanity.md\">sanity.md</a>.</p>\n"
        for name in SanitySimilarities.names { body += "<img src=\"\(name).svg\" alt=\"\(name)\">\n" }
        let fm = FileManager.default
        let images = Set(rows.map(\.image)).sorted().filter { image in
            configuration.methods.contains { fm.fileExists(atPath: SanityStore.mapURL(in: directory, image: image, method: $0, depth: 0).path) }
        }
        for image in images {
            body += "<h2>\(htmlEscaped(image))</h2>\n<table><tr><th>method</th><th>trained</th>"
            body += configuration.depths.map { "<th>\(htmlEscaped(label($0)))</th>" }.joined() + "</tr>\n"
            for method in configuration.methods {
                body += "<tr><th>\(htmlEscaped(method))</th>"
                for depth in [0] + configuration.depths {
                    let source = SanityStore.mapURL(in: directory, image: image, method: method, depth: depth)
                    guard fm.fileExists(atPath: source.path) else { body += "<td></td>"; continue }
                    let relative = "gallery/\(image).\(method).\(depth).png"
                    let target = directory.appendingPathComponent(relative)
                    do { try fm.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true) } catch {
                        throw RunStoreError.io(target.deletingLastPathComponent(), "cannot create: \(error.localizedDescription)")
                    }
                    try Colormap.jet.apply(to: try FloatMap(contentsOf: source)).writePNG(to: target)
                    body += "<td><img src=\"\(htmlEscaped(relative))\" width=\"96\" height=\"96\"></td>"
                }
                body += "</tr>\n"
            }
            body += "</table>\n"
        }
        return """
        <!DOCTYPE html>
        <html><head><meta charset="utf-8"><title>Sanity check: \(htmlEscaped(configuration.model))</title>
        <style>body{font-family:sans-serif} td,th{padding:2px;font-size:11px} th{text-align:left}</style></head>
        <body>
        \(body)</body></html>

        """
    }

    /// Writes `similarities.csv`, `similarities.json`, `sanity.md`, one SVG per similarity and `sanity.html`
    /// (with its pictures under `gallery/`) into the run directory, each atomically.
    public func write() throws {
        try RunStore.atomicWrite(Data(csv().utf8), to: directory.appendingPathComponent("similarities.csv"))
        try RunStore.atomicWrite(try json(), to: directory.appendingPathComponent("similarities.json"))
        try RunStore.atomicWrite(Data(markdown().utf8), to: directory.appendingPathComponent("sanity.md"))
        for name in SanitySimilarities.names {
            try RunStore.atomicWrite(Data(svg(name).utf8), to: directory.appendingPathComponent("\(name).svg"))
        }
        try RunStore.atomicWrite(Data(try html().utf8), to: directory.appendingPathComponent("sanity.html"))
    }
}
