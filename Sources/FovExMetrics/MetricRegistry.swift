import Foundation

/// Metrics by name, and the named sets the evaluation harness uses.
public enum MetricRegistry {
    /// The paper's faithfulness and localisation metrics on ImageNet.
    public static let paper = ["average_drop", "average_increase", "deletion", "insertion", "ebpg"]
    /// Agreement with human gaze.
    public static let gaze = ["nss", "auc_judd", "cc", "kld", "sauc"]
    public static let modelMetrics = ["average_drop", "average_increase", "deletion", "insertion"]
    public static let boxMetrics = ["ebpg", "pointing_game"]

    public static var all: [String] { paper + ["pointing_game"] + gaze }

    /// Expands `paper`, `gaze` and comma-separated names, refusing unknown ones.
    public static func expand(_ list: String) throws -> [String] {
        var out: [String] = []
        for part in list.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces).lowercased() }) {
            let names = part == "paper" ? paper : part == "gaze" ? gaze : [part]
            for n in names {
                guard all.contains(n) else { throw MetricError.unknown(n) }
                if !out.contains(n) { out.append(n) }
            }
        }
        return out
    }

    /// The metric of that name with its default options.
    public static func metric(named name: String) -> MetricDescription? {
        modelMetric(name) ?? boxMetric(name) ?? gazeMetric(name)
    }

    /// Whether higher values of a metric are better (unknown names count as higher-is-better).
    public static func direction(_ name: String) -> MetricDirection {
        metric(named: name)?.direction ?? .higherIsBetter
    }

    /// A faithfulness metric; `deletionStep` is the step of deletion and insertion, `batchSize` the
    /// images per forward pass of all four.
    public static func modelMetric(_ name: String, deletionStep: Int = 224, batchSize: Int = 8) -> ModelMetric? {
        switch name {
        case "average_drop": return AverageDrop(batchSize: batchSize)
        case "average_increase": return AverageIncrease(batchSize: batchSize)
        case "deletion": return DeletionMetric(step: deletionStep, batchSize: batchSize)
        case "insertion": return InsertionMetric(step: deletionStep, batchSize: batchSize)
        default: return nil
        }
    }

    public static func boxMetric(_ name: String, pointingTolerance: Float = 15) -> BoxMetric? {
        switch name {
        case "ebpg": return EnergyPointingGame()
        case "pointing_game": return PointingGame(tolerance: pointingTolerance)
        default: return nil
        }
    }

    /// A gaze metric; `aucJuddJitter` and `seed` configure AUC-Judd's tie-breaking noise,
    /// `fixationSigma` the density that CC and KLD compare with.
    public static func gazeMetric(_ name: String, aucJuddJitter: Double = 0, seed: UInt64 = 0,
                                  fixationSigma: Float = 19) -> GazeMetric? {
        switch name {
        case "nss": return NSS()
        case "auc_judd": return AUCJudd(jitter: aucJuddJitter, seed: seed)
        case "cc": return CorrelationCoefficient(fixationSigma: fixationSigma)
        case "kld": return KLDivergence(fixationSigma: fixationSigma)
        case "sauc": return ShuffledAUC()
        default: return nil
        }
    }
}

public enum MetricError: Error, CustomStringConvertible {
    case unknown(String)
    public var description: String {
        switch self {
        case .unknown(let n): return "unknown metric '\(n)'; known: paper, gaze, \(MetricRegistry.all.joined(separator: ", "))"
        }
    }
}
