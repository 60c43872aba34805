import FovExTensor

/// The pixels of a grid covered by any of `boxes`, following the Score-CAM evaluation code: rows
/// ⌊y0⌋ ..< ⌊y1⌋ and columns ⌊x0⌋ ..< ⌊x1⌋, clamped to the grid.
func boxMask(_ boxes: [BoxRegion], height: Int, width: Int) -> [Bool] {
    var mask = [Bool](repeating: false, count: height * width)
    for b in boxes {
        let r0 = Swift.max(0, Int(b.y0.rounded(.down))), r1 = Swift.min(height, Int(b.y1.rounded(.down)))
        let c0 = Swift.max(0, Int(b.x0.rounded(.down))), c1 = Swift.min(width, Int(b.x1.rounded(.down)))
        guard r0 < r1, c0 < c1 else { continue }
        for r in r0..<r1 { for c in c0..<c1 { mask[r * width + c] = true } }
    }
    return mask
}

/// Energy-based pointing game (Wang et al., Score-CAM): 100 · Σ_{u∈B} E(u) / Σ_u E(u), with B the
/// union of the image's ground-truth boxes for its class. A map with no energy scores 0 (with a
/// warning). Higher is better.
public struct EnergyPointingGame: BoxMetric {
    public init() {}
    public var name: String { "ebpg" }
    public var direction: MetricDirection { .higherIsBetter }
    public var options: [String: String] { [:] }

    public func evaluate(map: Tensor, boxes: [BoxRegion]) -> MetricResult {
        let (h, w) = (map.shape[0], map.shape[1])
        var (v, warnings, _) = MapCheck.cleaned(map, metric: name)
        if boxes.isEmpty { warnings.append("ebpg: the image has no boxes") }
        let inside = boxMask(boxes, height: h, width: w)
        var total = 0.0, within = 0.0
        for i in v.indices {
            total += Double(v[i])
            if inside[i] { within += Double(v[i]) }
        }
        guard total > 0 else {
            return MetricResult(value: 0, warnings: warnings + ["ebpg: the map has no energy; scored 0"])
        }
        return MetricResult(value: 100 * within / total, warnings: warnings)
    }
}
