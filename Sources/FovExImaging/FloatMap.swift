import FovExTensor

/// A 2-D map of `Float`s (a saliency map, a heat map, a fixation map), row-major.
///
/// The value at column `x`, row `y` is `values[y * width + x]`. Maps meant for display or for the
/// colormaps hold values in [0, 1].
public struct FloatMap: Sendable, Equatable {
    /// Columns.
    public let width: Int
    /// Rows.
    public let height: Int
    /// The values, row-major: `width * height` of them.
    public var values: [Float]

    /// Wraps row-major values; `values.count` must be `width * height`.
    public init(width: Int, height: Int, values: [Float]) {
        precondition(width >= 0 && height >= 0, "negative map size \(width)×\(height)")
        precondition(values.count == width * height,
                     "a \(width)×\(height) map needs \(width * height) values, got \(values.count)")
        self.width = width
        self.height = height
        self.values = values
    }

    /// A map filled with one value.
    public init(width: Int, height: Int, repeating value: Float) {
        self.init(width: width, height: height, values: [Float](repeating: value, count: width * height))
    }

    /// Reads a map from a tensor whose last two axes are height and width and whose leading axes
    /// all have size 1: [H, W], [1, H, W] or [1, 1, H, W].
    public init(_ tensor: Tensor) {
        let s = tensor.shape
        precondition(s.count >= 2 && s.dropLast(2).allSatisfy { $0 == 1 },
                     "FloatMap needs a tensor shaped [H, W] with optional leading axes of size 1, got \(s)")
        self.init(width: s[s.count - 1], height: s[s.count - 2], values: tensor.scalars)
    }

    /// The map as an [H, W] tensor.
    public func tensor() -> Tensor { Tensor(shape: [height, width], scalars: values) }

    /// The value at column `x`, row `y`.
    public subscript(x: Int, y: Int) -> Float {
        get {
            precondition(x >= 0 && x < width && y >= 0 && y < height, "point (\(x), \(y)) outside \(width)×\(height)")
            return values[y * width + x]
        }
        set {
            precondition(x >= 0 && x < width && y >= 0 && y < height, "point (\(x), \(y)) outside \(width)×\(height)")
            values[y * width + x] = newValue
        }
    }
}
