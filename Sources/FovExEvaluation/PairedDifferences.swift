import Foundation
import FovExTensor

/// One method's metric against another's on the same images: the mean of the per-image differences
/// (reference − other) with its bootstrap 95 % interval. Every method of a run scores the same images,
/// so the pairing removes the images' own spread, which dominates the per-method intervals: two methods
/// whose intervals overlap can still differ clearly image by image.
public struct PairedDifference: Sendable, Equatable {
    /// Mean over the images both methods scored of (reference − other).
    public var mean: Double
    /// Bootstrap 95 % interval of that mean (percentile method, images resampled as pairs).
    public var low: Double
    /// The interval's upper end.
    public var high: Double
    /// The number of images both methods scored.
    public var count: Int

    /// Which side of 0 the interval lies on, read for the reference method.
    public enum Verdict: String, Sendable {
        /// The interval excludes 0 on the reference's better side.
        case better
        /// The interval excludes 0 on the reference's worse side.
        case worse
        /// The interval contains 0: no clear difference.
        case unclear
    }

    /// The verdict for a metric whose better direction is `higherIsBetter`.
    public func verdict(higherIsBetter: Bool) -> Verdict {
        if low > 0 { return higherIsBetter ? .better : .worse }
        if high < 0 { return higherIsBetter ? .worse : .better }
        return .unclear
    }
}

extension EvaluationReport {
    /// The paired differences of `reference` against every other method, per metric: metric → other
    /// method → difference. Methods or metrics without a common image are left out.
    public func pairedDifferences(of reference: String, bootstrapSamples: Int = 1000,
                                  seed: UInt64 = 1) -> [String: [String: PairedDifference]] {
        var byImage: [String: [String: ResultRow]] = [:]
        for r in rows { byImage[r.image, default: [:]][r.method] = r }
        let images = byImage.keys.sorted()
        var out: [String: [String: PairedDifference]] = [:]
        var g = SeededGenerator(seed: seed)
        for metric in metrics {
            for other in methods where other != reference {
                let diffs = images.compactMap { image -> Double? in
                    guard let a = byImage[image]?[reference]?.metrics[metric],
                          let b = byImage[image]?[other]?.metrics[metric], a.isFinite, b.isFinite else { return nil }
                    return a - b
                }
                guard !diffs.isEmpty else { continue }
                let s = EvaluationReport.summarize(diffs, samples: bootstrapSamples, generator: &g)
                out[metric, default: [:]][other] = PairedDifference(mean: s.mean, low: s.low, high: s.high, count: s.count)
            }
        }
        return out
    }

    /// The method the report compares the others against, image by image: FovEx when the run has it and
    /// another method.
    static func pairedReference(among methods: [String]) -> String? {
        methods.contains("fovex") && methods.count > 1 ? "fovex" : nil
    }

    /// The paired-differences table in Markdown (rows = metrics, columns = the other methods), or "" when
    /// the report has no reference method.
    func pairedMarkdown() -> String {
        guard let (reference, d) = paired else { return "" }
        let others = methods.filter { $0 != reference }
        var out = "\n## \(reference) against each method, paired by image\n\n"
        out += "Mean of (\(reference) − method) over the images both scored, with its 95 % bootstrap interval; "
        out += "*better* or *worse* (for \(reference)) where the interval excludes 0.\n\n"
        out += "| metric | " + others.joined(separator: " | ") + " |\n"
        out += "|---|" + others.map { _ in "---:" }.joined(separator: "|") + "|\n"
        for m in metrics {
            out += "| \(m) \(arrow(m)) | " + others.map { other -> String in
                guard let p = d[m]?[other] else { return "–" }
                let cell = "\(EvaluationReport.signed(p.mean)) [\(EvaluationReport.signed(p.low)), \(EvaluationReport.signed(p.high))]"
                let verdict = p.verdict(higherIsBetter: higherIsBetter[m] ?? true)
                return verdict == .unclear ? cell : cell + " *\(verdict.rawValue)*"
            }.joined(separator: " | ") + " |\n"
        }
        return out
    }

    /// The paired differences for machines: one line per (metric, other method) with the verdict as
    /// `better`, `worse` or `unclear`; nil when the report has no reference method.
    public func pairedCSV() -> String? {
        guard let (reference, d) = paired else { return nil }
        var out = "metric,direction,reference,method,mean_difference,ci_low,ci_high,n,verdict\n"
        for m in metrics {
            let up = higherIsBetter[m] ?? true
            for other in methods where other != reference {
                guard let p = d[m]?[other] else { continue }
                out += "\(m),\(up ? "higher" : "lower"),\(reference),\(other),\(p.mean),\(p.low),\(p.high),\(p.count),"
                    + "\(p.verdict(higherIsBetter: up).rawValue)\n"
            }
        }
        return out
    }

    static func signed(_ x: Double) -> String { (x > 0 ? "+" : "") + format(x) }
}
