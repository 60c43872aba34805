import FovExTensor

/// Input hygiene shared by the metrics: each turns an odd input into a defined value plus a
/// warning instead of trapping.
enum MapCheck {
    /// The values with NaN read as 0, and a warning when there were any.
    static func withoutNaN(_ values: [Float], metric: String) -> (values: [Float], warnings: [String]) {
        let nans = values.reduce(0) { $0 + ($1.isNaN ? 1 : 0) }
        guard nans > 0 else { return (values, []) }
        return (values.map { $0.isNaN ? 0 : $0 }, ["\(metric): the map has \(nans) NaN values; they count as 0"])
    }

    /// The map's values with NaN read as 0, whether the result is constant, and warnings for both.
    static func cleaned(_ map: Tensor, metric: String) -> (values: [Float], warnings: [String], constant: Bool) {
        var (v, warnings) = withoutNaN(map.contiguous().scalars, metric: metric)
        let lo = v.min() ?? 0, hi = v.max() ?? 0
        let constant = !(hi > lo)
        if constant { warnings.append("\(metric): the map is constant (\(lo))") }
        // Infinite values would turn every normalisation into NaN; they are clamped to the largest floats.
        if v.contains(where: { $0.isInfinite }) {
            warnings.append("\(metric): the map has infinite values; they count as ±\(Float.greatestFiniteMagnitude)")
            v = v.map { Swift.min(Swift.max($0, -.greatestFiniteMagnitude), .greatestFiniteMagnitude) }
        }
        return (v, warnings, constant)
    }

    /// A row-major plane resized bilinearly (half-pixel centres, no antialiasing); unchanged when the
    /// sizes agree.
    static func resized(_ values: [Float], from: (Int, Int), to: (Int, Int)) -> [Float] {
        guard from != to else { return values }
        let t = Tensor(shape: [1, 1, from.0, from.1], scalars: values)
        return withoutGradients { t.resized(height: to.0, width: to.1, method: .bilinear, antialias: false) }
            .contiguous().scalars
    }

    /// Values outside [0, 1] clamped into it (a map used as a multiplicative mask), with a warning.
    static func unitInterval(_ values: [Float], metric: String) -> (values: [Float], warnings: [String]) {
        guard values.contains(where: { $0 < 0 || $0 > 1 }) else { return (values, []) }
        return (values.map { Swift.min(Swift.max($0, 0), 1) }, ["\(metric): map values outside [0, 1] were clamped"])
    }

    /// The distinct points inside an H×W grid, in first-seen order, with a warning naming how many
    /// fell outside.
    static func distinctPoints(_ points: [PixelPoint], height: Int, width: Int, metric: String,
                               role: String = "fixations") -> (points: [PixelPoint], warnings: [String]) {
        var seen = Set<PixelPoint>(), kept: [PixelPoint] = [], outside = 0
        for p in points {
            guard p.x >= 0, p.x < width, p.y >= 0, p.y < height else { outside += 1; continue }
            if seen.insert(p).inserted { kept.append(p) }
        }
        let warnings = outside > 0 ? ["\(metric): \(outside) \(role) outside the \(height)×\(width) map were dropped"] : []
        return (kept, warnings)
    }

    /// The points inside an H×W grid, repeats kept, with a warning naming how many fell outside.
    static func pointsOnMap(_ points: [PixelPoint], height: Int, width: Int, metric: String) -> (points: [PixelPoint], warnings: [String]) {
        let kept = points.filter { $0.x >= 0 && $0.x < width && $0.y >= 0 && $0.y < height }
        let outside = points.count - kept.count
        return (kept, outside > 0 ? ["\(metric): \(outside) fixations outside the \(height)×\(width) map were dropped"] : [])
    }
}
