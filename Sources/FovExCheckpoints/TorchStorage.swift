import Foundation

/// The bytes behind one PyTorch storage. Legacy files name storages in the pickle but store their
/// bytes after it, so `bytes` is filled in once the reader reaches them.
final class StorageBuffer {
    let key: String
    let dtype: TensorDType
    /// Number of elements.
    let count: Int
    var bytes: Data?

    init(key: String, dtype: TensorDType, count: Int, bytes: Data? = nil) {
        self.key = key
        self.dtype = dtype
        self.count = count
        self.bytes = bytes
    }
}

/// A storage as a tensor sees it: a window of `count` elements starting `elementOffset` into a buffer
/// (legacy checkpoints pickle storage views this way).
struct TorchStorage {
    var buffer: StorageBuffer
    var elementOffset: Int
    var count: Int
}

/// The arguments of `torch._utils._rebuild_tensor_v2`: a strided view of a storage.
struct TorchTensorRecord {
    var storage: TorchStorage
    var offset: Int
    var shape: [Int]
    var strides: [Int]

    /// Copies the elements the view selects, row-major, converted to `Float`.
    func materialize(fileName: String) throws -> CheckpointTensor {
        let dtype = storage.buffer.dtype
        func malformed(_ reason: String) -> CheckpointError {
            .malformed(file: fileName, reason: "tensor in storage '\(storage.buffer.key)': \(reason)")
        }
        guard shape.count == strides.count else { throw malformed("shape \(shape) and strides \(strides) differ in rank") }
        guard let count = shape.checkedElementCount else { throw malformed("invalid shape \(shape)") }
        if count == 0 { return CheckpointTensor(shape: shape, dtype: dtype, values: []) }
        guard offset >= 0, strides.allSatisfy({ $0 >= 0 }) else {
            throw malformed("negative offset \(offset) or strides \(strides)")
        }
        var last = offset
        for (n, s) in zip(shape, strides) {
            let (step, o1) = (n - 1).multipliedReportingOverflow(by: s)
            let (sum, o2) = last.addingReportingOverflow(step)
            guard !o1, !o2 else { throw malformed("strides \(strides) overflow") }
            last = sum
        }
        guard last < storage.count else {
            throw malformed("view (offset \(offset), shape \(shape), strides \(strides)) reaches element \(last) of a \(storage.count)-element storage")
        }
        guard let bytes = storage.buffer.bytes else { throw malformed("the storage's data is missing from the file") }
        let size = dtype.byteCount
        let first = (storage.elementOffset + offset) * size
        let end = (storage.elementOffset + last + 1) * size
        guard storage.elementOffset >= 0, end <= bytes.count else {
            throw malformed("storage holds \(bytes.count) bytes, the view needs \(end)")
        }
        let span = bytes.withUnsafeBytes { raw in
            ElementDecoding.decode(UnsafeRawBufferPointer(rebasing: raw[first..<end]), as: dtype)
        }
        if isRowMajor { return CheckpointTensor(shape: shape, dtype: dtype, values: span) }
        return CheckpointTensor(shape: shape, dtype: dtype, values: gather(span, count: count))
    }

    /// True when the view's elements are consecutive in row-major order (size-1 dimensions may have any stride).
    private var isRowMajor: Bool {
        var expected = 1
        for (n, s) in zip(shape, strides).reversed() where n != 1 {
            if s != expected { return false }
            expected *= n
        }
        return true
    }

    /// Walks the view's indices in row-major order (an odometer over the dimensions).
    private func gather(_ span: [Float], count: Int) -> [Float] {
        let rank = shape.count
        var index = [Int](repeating: 0, count: rank)
        var position = 0
        return [Float](unsafeUninitializedCapacity: count) { out, initialized in
            for i in 0..<count {
                out[i] = span[position]
                var axis = rank - 1
                while axis >= 0 {
                    index[axis] += 1
                    position += strides[axis]
                    if index[axis] < shape[axis] { break }
                    position -= strides[axis] * shape[axis]
                    index[axis] = 0
                    axis -= 1
                }
            }
            initialized = count
        }
    }
}
