/// Scanpath metrics by name, and the `scanpath` set.
public enum ScanpathMetricRegistry {
    /// Every scanpath metric, in report order.
    public static let names = ["sed", "tde", "scanmatch", "mm_shape", "mm_direction", "mm_length", "mm_position",
                               "mm_duration", "dtw"]

    /// The metric of that name with its default options (those of its source), or nil.
    public static func metric(named name: String) -> ScanpathMetric? {
        switch name {
        case "sed": return StringEditDistance()
        case "tde": return TimeDelayEmbedding()
        case "scanmatch": return ScanMatch()
        case "dtw": return DynamicTimeWarping()
        default:
            guard name.hasPrefix("mm_"), let d = MultiMatch.Dimension(rawValue: String(name.dropFirst(3))) else { return nil }
            return MultiMatchMetric(dimension: d)
        }
    }
}
