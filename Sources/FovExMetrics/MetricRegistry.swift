import Foundation

/// The settings metrics take, with the paper's defaults.
public struct MetricSettings: Sendable, Equatable {
    /// Pixels moved per step of deletion and insertion.
    public var deletionStep = 224
    /// Images per forward pass of the faithfulness metrics.
    public var batchSize = 8
    /// Pointing game's tolerance, in pixels of the map's grid.
    public var pointingTolerance: Float = 15
    /// AUC-Judd's tie-breaking noise and its seed.
    public var aucJuddJitter = 0.0
    /// Seed of that noise.
    public var seed: UInt64 = 0
    /// σ in pixels of the density that CC and KLD compare with.
    public var fixationSigma: Float = 19

    /// The paper's settings.
    public init() {}
}

/// Metrics by name, and the named sets the evaluation harness uses.
public enum MetricRegistry {
    /// The paper's faithfulness and localisation metrics on ImageNet.
    public static let paper = ["average_drop", "average_increase", "deletion", "insertion", "ebpg"]
    /// Agreement with human gaze.
    public static let gaze = ["nss", "auc_judd", "cc", "kld", "sauc"]

    /// Every metric name, in the order tables list them.
    public static var all: [String] { paper + ["pointing_game"] + gaze + ScanpathMetricRegistry.names }

    /// Expands `paper`, `gaze`, `scanpath` and comma-separated names, refusing unknown ones.
    public static func expand(_ list: String) throws -> [String] {
        var out: [String] = []
        for part in list.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces).lowercased() }) {
            let names = part == "paper" ? paper : part == "gaze" ? gaze : part == "scanpath" ? ScanpathMetricRegistry.names : [part]
            for n in names {
                guard all.contains(n) else { throw MetricError.unknown(n) }
                if !out.contains(n) { out.append(n) }
            }
        }
        return out
    }

    /// The metric of that name with the given settings (the defaults when none are given).
    public static func metric(named name: String, settings s: MetricSettings = .init()) -> Metric? {
        switch name {
        case "average_drop": return AverageDrop(batchSize: s.batchSize)
        case "average_increase": return AverageIncrease(batchSize: s.batchSize)
        case "deletion": return DeletionMetric(step: s.deletionStep, batchSize: s.batchSize)
        case "insertion": return InsertionMetric(step: s.deletionStep, batchSize: s.batchSize)
        case "ebpg": return EnergyPointingGame()
        case "pointing_game": return PointingGame(tolerance: s.pointingTolerance)
        case "nss": return NSS()
        case "auc_judd": return AUCJudd(jitter: s.aucJuddJitter, seed: s.seed)
        case "cc": return CorrelationCoefficient(fixationSigma: s.fixationSigma)
        case "kld": return KLDivergence(fixationSigma: s.fixationSigma)
        case "sauc": return ShuffledAUC()
        default: return ScanpathMetricRegistry.metric(named: name)
        }
    }

    /// The metrics of a list such as `paper,pointing_game`, in order.
    public static func metrics(_ list: String, settings: MetricSettings = .init()) throws -> [Metric] {
        try expand(list).map { name in
            guard let m = metric(named: name, settings: settings) else { throw MetricError.unknown(name) }
            return m
        }
    }

    /// Whether higher values of a metric are better (unknown names count as higher-is-better).
    public static func direction(_ name: String) -> MetricDirection {
        metric(named: name)?.direction ?? .higherIsBetter
    }
}

/// A metric list that names something unknown.
public enum MetricError: Error, CustomStringConvertible {
    /// The name given; the message lists the known names and sets.
    case unknown(String)
    public var description: String {
        switch self {
        case .unknown(let n): return "unknown metric '\(n)'; known: paper, gaze, scanpath, \(MetricRegistry.all.joined(separator: ", "))"
        }
    }
}
