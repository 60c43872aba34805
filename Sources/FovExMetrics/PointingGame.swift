import FovExTensor

/// Pointing game (Zhang et al.; TorchRay's tolerance): a hit when the map's maximum (the first in
/// row-major order) lies within `tolerance` pixels of a ground-truth box. Scores 100 for a hit, 0
/// for a miss; a constant map is a miss (with a warning). Higher is better.
public struct PointingGame: BoxMetric {
    /// Distance in pixels of the map's grid within which a point still counts as a hit.
    public var tolerance: Float

    public init(tolerance: Float = 15) { self.tolerance = tolerance }

    public var name: String { "pointing_game" }
    public var direction: MetricDirection { .higherIsBetter }
    public var options: [String: String] { ["pointing_tolerance_px": "\(tolerance)"] }

    public func evaluate(map: Tensor, boxes: [BoxRegion]) -> MetricResult {
        let w = map.shape[1]
        let (v, warnings, constant) = MapCheck.cleaned(map, metric: name)
        if constant { return MetricResult(value: 0, warnings: warnings + ["pointing_game: no maximum; scored a miss"]) }
        var best = 0
        for i in v.indices where v[i] > v[best] { best = i }
        // The pixel centre of the maximum.
        let (x, y) = (Float(best % w) + 0.5, Float(best / w) + 0.5)
        let hit = boxes.contains { b in
            let dx = Swift.max(b.x0 - x, 0, x - b.x1), dy = Swift.max(b.y0 - y, 0, y - b.y1)
            return (dx * dx + dy * dy).squareRoot() <= tolerance
        }
        return MetricResult(value: hit ? 100 : 0, warnings: warnings)
    }
}
