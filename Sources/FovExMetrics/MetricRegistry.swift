import Foundation

/// The settings metrics take, with the paper's defaults.
public struct MetricSettings: Sendable, Equatable {
    /// Pixels moved per step of deletion and insertion.
    public var deletionStep = 224
    /// Images per forward pass of the faithfulness metrics.
    public var batchSize = 8
    /// Pointing game's tolerance, in pixels of the map's grid.
    public var pointingTolerance: Float = 15
    /// AUC-Judd's tie-breaking noise (the sources' 1e−7; 0 for none) and its seed.
    public var aucJuddJitter = AUCJudd.benchmarkJitter
    /// Seed of AUC-Judd's noise.
    public var seed: UInt64 = 0
    /// Whose code NSS and AUC-Judd follow; FixaTons', the paper's source, by default.
    public var nssConvention = GazeConvention.fixatons
    /// Whose code AUC-Judd follows; FixaTons' by default.
    public var aucJuddConvention = GazeConvention.fixatons
    /// Whose protocol average drop and increase follow; Grad-CAM++'s, the paper's, by default.
    public var dropConvention = DropConvention.gradcamPlusPlus
    /// Insertion's starting blur; the paper's by default.
    public var insertionBlur = InsertionMetric.Blur.paper
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
        case "average_drop": return AverageDrop(batchSize: s.batchSize, convention: s.dropConvention)
        case "average_increase": return AverageIncrease(batchSize: s.batchSize, convention: s.dropConvention)
        case "deletion": return DeletionMetric(step: s.deletionStep, batchSize: s.batchSize)
        case "insertion":
            var m = InsertionMetric(step: s.deletionStep, batchSize: s.batchSize)
            m.blur = s.insertionBlur
            return m
        case "ebpg": return EnergyPointingGame()
        case "pointing_game": return PointingGame(tolerance: s.pointingTolerance)
        case "nss": return NSS(convention: s.nssConvention)
        case "auc_judd": return AUCJudd(convention: s.aucJuddConvention, jitter: s.aucJuddJitter, seed: s.seed)
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
