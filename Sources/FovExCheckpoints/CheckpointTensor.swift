/// One named array from a checkpoint: its shape, the dtype it was stored with, and its elements
/// converted to `Float`, row-major.
public struct CheckpointTensor: Sendable, Equatable {
    /// The size of each axis, outermost first, as stored in the file.
    public var shape: [Int]
    /// The dtype in the file the tensor came from (writers store `Float32` whatever this says).
    public var dtype: TensorDType
    /// Row-major elements; `values.count` is the product of `shape`.
    public var values: [Float]

    /// Creates a tensor; `values.count` must equal the product of `shape` (writers check it).
    public init(shape: [Int], dtype: TensorDType = .float32, values: [Float]) {
        self.shape = shape
        self.dtype = dtype
        self.values = values
    }

    /// The number of elements `shape` describes.
    public var elementCount: Int { shape.reduce(1, *) }
}
