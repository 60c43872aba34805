import FovExTensor

/// Pointing game (Zhang et al.), with TorchRay's tolerance: a hit when the centre of the map's
/// maximum pixel (the first in row-major order) lies within `tolerance` pixels (Euclidean) of a
/// ground-truth box given in the map's grid. Scores 100 for a hit and 0 for a miss, so the mean over
/// images is the hit rate in percent; a constant map has no maximum and is a miss, with a warning.
/// An image without boxes has no value. Higher is better.
public struct PointingGame: BoxMetric {
    /// Distance in pixels of the map's grid within which a point still counts as a hit (15 by default).
    public var tolerance: Float

    /// The pointing game with a hit tolerance of `tolerance` pixels.
    public init(tolerance: Float = 15) {
        precondition(tolerance >= 0, "pointing_game: tolerance \(tolerance) must not be negative")
        self.tolerance = tolerance
    }

    public var name: String { "pointing_game" }
    public var direction: MetricDirection { .higherIsBetter }
    public var options: [String: String] { ["pointing_tolerance_px": "\(tolerance)"] }

    public func evaluate(map: Tensor, boxes: [BoxRegion]) -> MetricResult {
        let w = map.shape[1]
        let (v, mapWarnings, constant) = MapCheck.cleaned(map, metric: name)
        let warnings = mapWarnings
        guard !boxes.isEmpty else { return .missing("the image has no ground-truth box", warnings: warnings) }
        if constant { return MetricResult(value: 0, warnings: warnings + ["pointing_game: no maximum; scored a miss"]) }
        var best = 0
        for i in v.indices where v[i] > v[best] { best = i }
        let (x, y) = (Float(best % w) + 0.5, Float(best / w) + 0.5)
        let hit = boxes.contains { b in
            let dx = Swift.max(b.x0 - x, 0, x - b.x1), dy = Swift.max(b.y0 - y, 0, y - b.y1)
            return (dx * dx + dy * dy).squareRoot() <= tolerance
        }
        return MetricResult(value: hit ? 100 : 0, warnings: warnings)
    }
}
