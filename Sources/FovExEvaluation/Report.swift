import Foundation
import FovExExplainers
import FovExTensor

/// Summary of one metric for one method over the images of a run.
public struct MetricSummary: Sendable, Codable, Equatable {
    /// The mean over images (images where the metric is undefined left out).
    public var mean: Double
    /// Bootstrap 95 % confidence interval of the mean (percentile method).
    public var low: Double
    /// The interval's upper end.
    public var high: Double
    /// The number of images averaged.
    public var count: Int
}

/// The paper's tables from one or more run directories (shards of one run, or resumed runs).
public struct EvaluationReport {
    /// The configuration every merged run shares.
    public var configuration: RunConfiguration
    /// Every row of the merged runs.
    public var rows: [ResultRow]
    /// The methods, in the configuration's order.
    public var methods: [String]
    /// The metrics, in the configuration's order.
    public var metrics: [String]
    /// Metric name → whether higher is better.
    public var higherIsBetter: [String: Bool]
    /// Metric name → method → summary.
    public var summaries: [String: [String: MetricSummary]]
    /// Images that have a row for every method (the n of the table).
    public var imageCount: Int
    /// The run directories merged.
    public var runDirectories: [URL]
    /// Metric name → method → why values are missing → how many images.
    public var missingReasons: [String: [String: [String: Int]]]
    /// Images without rows (misclassified under --correct-only, unreadable), by image.
    public var skipped: [SkippedImage]
    /// Methods shown but not ranked (bold and underline go to the others): the calibration rows whose
    /// maps ignore the image (``ExplainerRegistry/imageIndependentNames``).
    public var unranked: Set<String> = ExplainerRegistry.imageIndependentNames
    /// FovEx against each other method, image by image (computed once, read by the Markdown table and
    /// `pairedCSV()`); nil when the run has no FovEx or nothing to compare it with.
    public private(set) var paired: (reference: String, differences: [String: [String: PairedDifference]])?

    /// Merges run directories, refusing ones with different configurations, and summarises.
    public init(runs: [URL], higherIsBetter: [String: Bool], bootstrapSamples: Int = 1000, seed: UInt64 = 0) throws {
        guard !runs.isEmpty else { throw EvaluationError.nothingSelected("no run directories were given") }
        var config: RunConfiguration?
        var merged: [String: ResultRow] = [:]
        var skippedByImage: [String: SkippedImage] = [:]
        for run in runs {
            let c = try RunStore.readConfiguration(run.appendingPathComponent("config.json"))
            if let config, !config.mergeable(with: c) {
                throw RunStoreError.configurationMismatch(run, "it differs from \(runs[0].path): \(RunStore.difference(config, c))")
            }
            config = config ?? c
            for r in try RunStore.readRows(run.appendingPathComponent("results.jsonl")) where merged[r.key] == nil {
                merged[r.key] = r
            }
            for k in try RunStore.readSkipped(run.appendingPathComponent("skipped.jsonl")) where skippedByImage[k.image] == nil {
                skippedByImage[k.image] = k
            }
        }
        skipped = skippedByImage.values.sorted { $0.image < $1.image }
        configuration = config!
        runDirectories = runs
        let allRows = merged.values.sorted { ($0.image, $0.method) < ($1.image, $1.method) }
        let methodList = configuration.methods
        rows = allRows
        methods = methodList
        metrics = configuration.metrics.filter { m in allRows.contains { $0.metrics[m] != nil || $0.missing[m] != nil } }
        var reasons: [String: [String: [String: Int]]] = [:]
        for r in allRows { for (m, why) in r.missing { reasons[m, default: [:]][r.method, default: [:]][why, default: 0] += 1 } }
        missingReasons = reasons
        self.higherIsBetter = higherIsBetter
        let byImage = Dictionary(grouping: allRows, by: \.image)
        imageCount = byImage.values.filter { Set($0.map(\.method)).isSuperset(of: methodList) }.count
        var s: [String: [String: MetricSummary]] = [:]
        var g = SeededGenerator(seed: seed)
        for m in metrics {
            for method in methodList {
                let values = allRows.filter { $0.method == method }.compactMap { $0.metrics[m] }.filter { $0.isFinite }
                guard !values.isEmpty else { continue }
                s[m, default: [:]][method] = EvaluationReport.summarize(values, samples: bootstrapSamples, generator: &g)
            }
        }
        summaries = s
        paired = EvaluationReport.pairedReference(among: methodList).map { ($0, pairedDifferences(of: $0)) }
    }

    static func summarize(_ v: [Double], samples: Int, generator g: inout SeededGenerator) -> MetricSummary {
        let mean = v.reduce(0, +) / Double(v.count)
        var means: [Double] = []
        means.reserveCapacity(samples)
        for _ in 0..<samples {
            var s = 0.0
            for _ in 0..<v.count { s += v[Int(g.next() % UInt64(v.count))] }
            means.append(s / Double(v.count))
        }
        means.sort()
        let lo = means.isEmpty ? mean : means[Int(0.025 * Double(means.count - 1))]
        let hi = means.isEmpty ? mean : means[Int((0.975 * Double(means.count - 1)).rounded(.up))]
        return MetricSummary(mean: mean, low: lo, high: hi, count: v.count)
    }

    /// The methods ranked best-first for a metric; the calibration rows (maps that ignore the image) are
    /// reference points, not competitors, and are left out: a constant map's average drop of 0 is not a
    /// "best" explanation.
    func ranking(_ metric: String) -> [String] {
        let up = higherIsBetter[metric] ?? true
        return methods.filter { summaries[metric]?[$0] != nil && !unranked.contains($0) }
            .sorted { a, b in
                let (x, y) = (summaries[metric]![a]!.mean, summaries[metric]![b]!.mean)
                return up ? x > y : x < y
            }
    }

    /// 1 for the best value of a metric, 2 for the second-best distinct value, 0 otherwise; methods
    /// that tie share a place, and a metric where all methods tie marks none.
    func place(_ metric: String, _ method: String) -> Int {
        guard !unranked.contains(method), let mine = summaries[metric]?[method]?.mean else { return 0 }
        var distinct: [Double] = []
        for m in ranking(metric) {
            let v = summaries[metric]![m]!.mean
            if distinct.last != v { distinct.append(v) }
        }
        guard distinct.count > 1, let i = distinct.firstIndex(of: mine) else { return 0 }
        return i == 0 ? 1 : (i == 1 && distinct.count > 2 ? 2 : 0)
    }

    /// The sentence under the table naming the calibration rows it shows, or nil when it shows none.
    var unrankedNote: String? {
        let shown = methods.filter(unranked.contains)
        guard !shown.isEmpty else { return nil }
        return shown.map { "`\($0)`" }.joined(separator: ", ")
            + (shown.count == 1 ? " ignores" : " ignore") + " the image (calibration rows): not ranked."
    }

    func arrow(_ metric: String) -> String { (higherIsBetter[metric] ?? true) ? "↑" : "↓" }

    static func format(_ x: Double) -> String { String(format: abs(x) >= 100 ? "%.1f" : "%.3f", x) }

    /// The paper's table layout in Markdown: rows = metrics, columns = methods; best in bold,
    /// second underlined; then the confidence intervals.
    public func markdown() -> String {
        var out = "# Evaluation: \(configuration.model) on \(configuration.dataKind)\n\n"
        out += "n = \(imageCount) images with every method (\(rows.count) rows). Weights: \(configuration.weights)"
        if let sha = configuration.weightsSHA256 { out += " (SHA-256 \(sha.prefix(16))…)" }
        out += ". Seed \(configuration.seed)"
        if let l = configuration.limit { out += ", limit \(l)" }
        out += configuration.correctOnly ? ", correctly classified images only" : ""
        out += ". Code \(configuration.codeVersion).\n\n"
        out += "| metric | " + methods.joined(separator: " | ") + " |\n"
        out += "|---|" + methods.map { _ in "---:" }.joined(separator: "|") + "|\n"
        for m in metrics {
            out += "| \(m) \(arrow(m)) | "
            out += methods.map { method -> String in
                guard let s = summaries[m]?[method] else { return "–" }
                let v = EvaluationReport.format(s.mean)
                switch place(m, method) {
                case 1: return "**\(v)**"
                case 2: return "<u>\(v)</u>"
                default: return v
                }
            }.joined(separator: " | ") + " |\n"
        }
        if let note = unrankedNote { out += "\n" + note + "\n" }
        out += "\n## 95 % bootstrap confidence intervals of the means\n\n"
        out += "| metric | " + methods.joined(separator: " | ") + " |\n"
        out += "|---|" + methods.map { _ in "---:" }.joined(separator: "|") + "|\n"
        for m in metrics {
            out += "| \(m) \(arrow(m)) | " + methods.map { method in
                guard let s = summaries[m]?[method] else { return "–" }
                return "[\(EvaluationReport.format(s.low)), \(EvaluationReport.format(s.high))] (n \(s.count))"
            }.joined(separator: " | ") + " |\n"
        }
        out += pairedMarkdown()
        out += missingMarkdown()
        if !configuration.options.isEmpty {
            out += "\n## Options\n\n"
            for (k, v) in configuration.options.sorted(by: { $0.key < $1.key }) { out += "- `\(k)` = \(v)\n" }
        }
        return out
    }

    /// The report's lists beyond the tables: the missing values (metric, method, how many, why) and
    /// the skipped images (misclassified ones counted, others named), as (title, note, items); empty
    /// when there are none.
    func missingSections() -> [(title: String, note: String?, items: [String])] {
        var sections: [(title: String, note: String?, items: [String])] = []
        var missing: [String] = []
        for m in metrics { for method in methods {
            for (why, n) in (missingReasons[m]?[method] ?? [:]).sorted(by: { $0.key < $1.key }) {
                missing.append("\(m), \(method): \(n) image\(n == 1 ? "" : "s"): \(why)")
            }
        }}
        if !missing.isEmpty { sections.append(("Missing values", "n above counts only images with a value; these had none:", missing)) }
        let misclassified = skipped.filter { $0.kind == .misclassified }.count
        var skippedItems = skipped.filter { $0.kind != .misclassified }.map { "\($0.image): \($0.reason)" }
        if misclassified > 0 { skippedItems.insert("\(misclassified) misclassified image\(misclassified == 1 ? "" : "s") (--correct-only)", at: 0) }
        if !skippedItems.isEmpty { sections.append(("Skipped images", nil, skippedItems)) }
        return sections
    }

    func missingMarkdown() -> String {
        missingSections().map { s in
            "\n## \(s.title)\n\n" + (s.note.map { $0 + "\n\n" } ?? "") + s.items.map { "- \($0)\n" }.joined()
        }.joined()
    }

    /// One line per (metric, method): metric, direction, method, mean, ci_low, ci_high, n.
    public func csv() -> String {
        var out = "metric,direction,method,mean,ci_low,ci_high,n\n"
        for m in metrics {
            for method in methods {
                guard let s = summaries[m]?[method] else { continue }
                out += "\(m),\(arrow(m) == "↑" ? "higher" : "lower"),\(method),\(s.mean),\(s.low),\(s.high),\(s.count)\n"
            }
        }
        return out
    }

    /// Mean curve per method for a curve-valued metric (deletion, insertion).
    public func meanCurves(_ metric: String) -> [String: [Double]] {
        var out: [String: [Double]] = [:]
        for method in methods {
            let curves = rows.filter { $0.method == method }.compactMap { $0.curves[metric] }
            guard let n = curves.first?.count, n > 0 else { continue }
            let same = curves.filter { $0.count == n }
            out[method] = (0..<n).map { i in same.reduce(0) { $0 + $1[i] } / Double(same.count) }
        }
        return out
    }
}
