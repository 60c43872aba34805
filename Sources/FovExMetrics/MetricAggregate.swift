/// A metric over a set of images: the table value is the mean of the per-image values (so Average %
/// Drop and Increase are means of per-image terms, as their definitions state).
public struct MetricAggregate: Sendable, Equatable {
    /// Mean over the images with a defined (non-NaN) value; NaN when there are none.
    public var mean: Double
    /// Images that entered the mean.
    public var count: Int
    /// Images left out because their value is undefined (e.g. no fixations).
    public var undefined: Int
    /// Step-wise mean of the curves (deletion, insertion) when every image has one of the same length.
    public var meanCurve: [Double]?

    public init(mean: Double, count: Int, undefined: Int, meanCurve: [Double]?) {
        self.mean = mean
        self.count = count
        self.undefined = undefined
        self.meanCurve = meanCurve
    }
}

extension MetricDescription {
    /// The table value of per-image results.
    public func aggregate(_ results: [MetricResult]) -> MetricAggregate {
        let defined = results.map(\.value).filter { !$0.isNaN }
        let mean = defined.isEmpty ? .nan : defined.reduce(0, +) / Double(defined.count)
        var meanCurve: [Double]?
        let curves = results.compactMap(\.curve)
        if let first = curves.first, curves.count == results.count, curves.allSatisfy({ $0.count == first.count }) {
            meanCurve = first.indices.map { i in curves.reduce(0) { $0 + $1[i] } / Double(curves.count) }
        }
        return MetricAggregate(mean: mean, count: defined.count, undefined: results.count - defined.count,
                               meanCurve: meanCurve)
    }
}
