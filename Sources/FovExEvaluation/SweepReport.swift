import Foundation

/// One parameter varied over a list of values (`fovex evaluate --sweep 'fixations=1,3,5'`): one run
/// directory per value, summarised as each metric against the value with its bootstrap interval.
public struct Sweep: Sendable, Equatable {
    /// The option varied, as the command line spells it without dashes (`fixations`, `step-size`).
    public var parameter: String
    /// Its values, in the order given.
    public var values: [String]

    /// Parses `NAME=V1,V2,…`: one parameter, at least one value, no empty value.
    public init(parsing text: String) throws {
        let parts = text.split(separator: "=", maxSplits: 1).map(String.init)
        guard parts.count == 2 else {
            throw SweepError.malformed(text, "expected NAME=V1,V2,… (one parameter, e.g. fixations=1,3,5)")
        }
        let name = parts[0].trimmingCharacters(in: .whitespaces)
        guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" }), !name.hasPrefix("-") else {
            throw SweepError.malformed(text, "the parameter must be an option name without dashes, such as fixations or step-size")
        }
        let values = parts[1].split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        guard !values.contains(where: \.isEmpty) else { throw SweepError.malformed(text, "a value is empty") }
        guard Set(values).count == values.count else { throw SweepError.malformed(text, "a value is repeated") }
        parameter = name
        self.values = values
    }

    /// The run directory of `value` below `root`: `root/NAME=VALUE`.
    public func directory(for value: String, in root: URL) -> URL {
        root.appendingPathComponent("\(parameter)=\(value)")
    }
}

public enum SweepError: Error, CustomStringConvertible {
    case malformed(String, String)
    public var description: String {
        switch self {
        case let .malformed(text, why): return "--sweep '\(text)': \(why)"
        }
    }
}

/// Each metric against the swept value, per method: `sweep.md`, `sweep.csv` and one SVG plot per
/// metric (mean with its 95 % bootstrap interval as an error bar, one line per method).
public struct SweepReport {
    public var sweep: Sweep
    /// One report per value, in the sweep's order.
    public var reports: [EvaluationReport]

    /// Reads the run directory of every value.
    public init(sweep: Sweep, root: URL, higherIsBetter: [String: Bool], bootstrapSamples: Int = 1000) throws {
        self.sweep = sweep
        reports = try sweep.values.map {
            try EvaluationReport(runs: [sweep.directory(for: $0, in: root)], higherIsBetter: higherIsBetter,
                                 bootstrapSamples: bootstrapSamples)
        }
    }

    /// Metrics present in any run, in the first run's order.
    public var metrics: [String] {
        var out: [String] = []
        for r in reports { for m in r.metrics where !out.contains(m) { out.append(m) } }
        return out
    }

    public var methods: [String] {
        var out: [String] = []
        for r in reports { for m in r.methods where !out.contains(m) { out.append(m) } }
        return out
    }

    /// One line per (metric, method, value): metric, method, parameter, value, mean, ci_low, ci_high, n.
    public func csv() -> String {
        var rows = [["metric", "method", "parameter", "value", "mean", "ci_low", "ci_high", "n"]]
        for metric in metrics { for method in methods { for (value, report) in zip(sweep.values, reports) {
            guard let s = report.summaries[metric]?[method] else { continue }
            rows.append([metric, method, sweep.parameter, value, "\(s.mean)", "\(s.low)", "\(s.high)", "\(s.count)"])
        }}}
        // A value may hold a comma or a quote (`variant=paper`, free text): such fields are quoted.
        func field(_ f: String) -> String {
            f.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) ? "\"" + f.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : f
        }
        return rows.map { $0.map(field).joined(separator: ",") }.joined(separator: "\n") + "\n"
    }

    /// A table per metric: rows are methods, columns the values, cells "mean [low, high] (n)".
    public func markdown() -> String {
        var out = "# Sweep of \(sweep.parameter)\n\n"
        out += "Values: \(sweep.values.joined(separator: ", ")); every other setting at its default. "
        out += "Cells: mean [95 % bootstrap interval] (n images).\n"
        for metric in metrics {
            let arrow = reports.first?.higherIsBetter[metric].map { $0 ? " ↑" : " ↓" } ?? ""
            out += "\n## \(metric)\(arrow)\n\n![\(metric)](\(metric).svg)\n\n"
            out += "| method | " + sweep.values.map { "\(sweep.parameter) = \($0)" }.joined(separator: " | ") + " |\n"
            out += "|---|" + sweep.values.map { _ in "---|" }.joined() + "\n"
            for method in methods {
                let cells = reports.map { r -> String in
                    guard let s = r.summaries[metric]?[method] else { return "–" }
                    return String(format: "%.3f [%.3f, %.3f] (%d)", s.mean, s.low, s.high, s.count)
                }
                out += "| \(method) | " + cells.joined(separator: " | ") + " |\n"
            }
        }
        return out
    }

    /// The plot of one metric: values evenly spaced on x (they may not be numbers, e.g. a variant),
    /// mean and interval on y, one colour per method.
    public func svg(metric: String) -> String {
        let (width, height, left, right, top, bottom) = (640.0, 400.0, 70.0, 150.0, 40.0, 50.0)
        let series = methods.map { method in reports.map { $0.summaries[metric]?[method] } }
        let finite = series.flatMap { $0.compactMap { $0 } }.flatMap { [$0.low, $0.high, $0.mean] }.filter(\.isFinite)
        var lo = finite.min() ?? 0, hi = finite.max() ?? 1
        if hi - lo < 1e-12 { lo -= 0.5; hi += 0.5 }
        let pad = (hi - lo) * 0.05
        lo -= pad; hi += pad
        let plotW = width - left - right, plotH = height - top - bottom
        let n = sweep.values.count
        func x(_ i: Int) -> Double { left + (n == 1 ? plotW / 2 : plotW * Double(i) / Double(n - 1)) }
        func y(_ v: Double) -> Double { top + plotH * (1 - (v - lo) / (hi - lo)) }
        let colours = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]
        var s = """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" font-family="sans-serif" font-size="12">
        <rect width="100%" height="100%" fill="white"/>
        <text x="\(Int(width / 2))" y="22" text-anchor="middle" font-size="14">\(Self.escaped(metric)) against \(Self.escaped(sweep.parameter))</text>
        <line x1="\(left)" y1="\(top + plotH)" x2="\(left + plotW)" y2="\(top + plotH)" stroke="black"/>
        <line x1="\(left)" y1="\(top)" x2="\(left)" y2="\(top + plotH)" stroke="black"/>

        """
        for k in 0...4 {
            let v = lo + (hi - lo) * Double(k) / 4
            s += "<text x=\"\(left - 6)\" y=\"\(Self.f(y(v) + 4))\" text-anchor=\"end\">\(String(format: "%.3g", v))</text>\n"
            s += "<line x1=\"\(left)\" y1=\"\(Self.f(y(v)))\" x2=\"\(left + plotW)\" y2=\"\(Self.f(y(v)))\" stroke=\"#ddd\"/>\n"
        }
        for (i, value) in sweep.values.enumerated() {
            s += "<text x=\"\(Self.f(x(i)))\" y=\"\(top + plotH + 18)\" text-anchor=\"middle\">\(Self.escaped(value))</text>\n"
        }
        s += "<text x=\"\(Self.f(left + plotW / 2))\" y=\"\(height - 10)\" text-anchor=\"middle\">\(Self.escaped(sweep.parameter))</text>\n"
        for (k, (method, points)) in zip(methods, series).enumerated() {
            let colour = colours[k % colours.count]
            let path = points.enumerated().compactMap { i, p -> String? in
                guard let p, p.mean.isFinite else { return nil }
                return "\(Self.f(x(i))),\(Self.f(y(p.mean)))"
            }
            if path.count > 1 { s += "<polyline fill=\"none\" stroke=\"\(colour)\" stroke-width=\"2\" points=\"\(path.joined(separator: " "))\"/>\n" }
            for (i, p) in points.enumerated() {
                guard let p, p.mean.isFinite else { continue }
                if p.low.isFinite, p.high.isFinite {
                    s += "<line x1=\"\(Self.f(x(i)))\" y1=\"\(Self.f(y(p.low)))\" x2=\"\(Self.f(x(i)))\" y2=\"\(Self.f(y(p.high)))\" stroke=\"\(colour)\"/>\n"
                }
                s += "<circle cx=\"\(Self.f(x(i)))\" cy=\"\(Self.f(y(p.mean)))\" r=\"3.5\" fill=\"\(colour)\"/>\n"
            }
            s += "<text x=\"\(Self.f(left + plotW + 12))\" y=\"\(Self.f(top + 16 + 18 * Double(k)))\" fill=\"\(colour)\">\(Self.escaped(method))</text>\n"
        }
        return s + "</svg>\n"
    }

    /// Writes `sweep.md`, `sweep.csv` and `METRIC.svg` into `directory`.
    public func write(to directory: URL) throws {
        do { try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true) } catch {
            throw RunStoreError.io(directory, "cannot create the report directory: \(error.localizedDescription)")
        }
        try RunStore.atomicWrite(Data(markdown().utf8), to: directory.appendingPathComponent("sweep.md"))
        try RunStore.atomicWrite(Data(csv().utf8), to: directory.appendingPathComponent("sweep.csv"))
        for metric in metrics {
            try RunStore.atomicWrite(Data(svg(metric: metric).utf8), to: directory.appendingPathComponent("\(metric).svg"))
        }
    }

    static func f(_ v: Double) -> String { String(format: "%.1f", v) }

    static func escaped(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }
}
