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

    /// Whether higher values of a metric are better.
    public static func direction(_ name: String) -> MetricDirection {
        ["average_drop", "deletion", "kld"].contains(name) ? .lowerIsBetter : .higherIsBetter
    }

    public static func modelMetric(_ name: String, deletionStep: Int = 224, batchSize: Int = 32) -> ModelMetric? {
        switch name {
        case "average_drop": return AverageDrop()
        case "average_increase": return AverageIncrease()
        case "deletion": return DeletionMetric(step: deletionStep, batchSize: batchSize)
        case "insertion": return InsertionMetric(step: deletionStep, batchSize: batchSize)
        default: return nil
        }
    }

    public static func boxMetric(_ name: String) -> BoxMetric? {
        switch name {
        case "ebpg": return EnergyPointingGame()
        case "pointing_game": return PointingGame()
        default: return nil
        }
    }

    public static func gazeMetric(_ name: String) -> GazeMetric? {
        switch name {
        case "nss": return NSS()
        case "auc_judd": return AUCJudd()
        case "cc": return CorrelationCoefficient()
        case "kld": return KLDivergence()
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
