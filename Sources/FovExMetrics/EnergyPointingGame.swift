import FovExTensor

/// The pixels of a grid covered by any of `boxes`, following the Score-CAM evaluation code: rows
/// ⌊y0⌋ ..< ⌊y1⌋ and columns ⌊x0⌋ ..< ⌊x1⌋, clamped to the grid.
func boxMask(_ boxes: [BoxRegion], height: Int, width: Int) -> [Bool] {
    var mask = [Bool](repeating: false, count: height * width)
    // Clamped before conversion so that a huge coordinate cannot overflow Int.
    func cell(_ v: Float, _ limit: Int) -> Int { Int(Swift.min(Swift.max(v, 0), Float(limit)).rounded(.down)) }
    for b in boxes where [b.x0, b.y0, b.x1, b.y1].allSatisfy(\.isFinite) {
        let (r0, r1) = (cell(b.y0, height), cell(b.y1, height))
        let (c0, c1) = (cell(b.x0, width), cell(b.x1, width))
        guard r0 < r1, c0 < c1 else { continue }
        for r in r0..<r1 { for c in c0..<c1 { mask[r * width + c] = true } }
    }
    return mask
}

/// Energy-based pointing game (Wang et al., Score-CAM): 100 · Σ_{u∈B} E(u) / Σ_u E(u), with B the
/// union of the image's ground-truth boxes for its class, given in the map's grid. Negative map
/// values count as no energy. A map with no energy, or an image without boxes, has no value.
/// Higher is better.
public struct EnergyPointingGame: BoxMetric {
    /// The metric; it has no options.
    public init() {}
    public var name: String { "ebpg" }
    public var direction: MetricDirection { .higherIsBetter }
    public var options: [String: String] { ["ebpg_boxes": "union of the class's boxes"] }

    public func evaluate(map: Tensor, boxes: [BoxRegion]) -> MetricResult {
        let (h, w) = (map.shape[0], map.shape[1])
        var (v, warnings, _) = MapCheck.cleaned(map, metric: name)
        if v.contains(where: { $0 < 0 }) {
            warnings.append("ebpg: negative map values count as 0")
            v = v.map { Swift.max($0, 0) }
        }
        guard !boxes.isEmpty else { return .missing("the image has no ground-truth box", warnings: warnings) }
        let inside = boxMask(boxes, height: h, width: w)
        var total = 0.0, within = 0.0
        for i in v.indices {
            total += Double(v[i])
            if inside[i] { within += Double(v[i]) }
        }
        guard total > 0 else {
            return .missing("the map has no energy inside or outside the boxes", warnings: warnings)
        }
        return MetricResult(value: 100 * within / total, warnings: warnings)
    }
}
