/// The element type a tensor had in its checkpoint file; values are always handed out as `Float`.
public enum TensorDType: String, Sendable, CaseIterable, Equatable {
    /// IEEE double precision.
    case float64 = "F64"
    /// IEEE single precision: handed out unchanged.
    case float32 = "F32"
    /// IEEE half precision.
    case float16 = "F16"
    /// Brain floating point: float32's exponent with a 7-bit mantissa.
    case bfloat16 = "BF16"
    /// Signed 64-bit integers (e.g. batch norms' `num_batches_tracked`).
    case int64 = "I64"
    /// Signed 32-bit integers.
    case int32 = "I32"
    /// Signed 16-bit integers.
    case int16 = "I16"
    /// Signed 8-bit integers.
    case int8 = "I8"
    /// Unsigned 8-bit integers.
    case uint8 = "U8"
    /// Booleans, handed out as 0 and 1.
    case bool = "BOOL"

    /// The dtype string safetensors headers use (`"F32"`, `"BF16"`, …).
    public var safetensorsName: String { rawValue }

    /// Creates the dtype a safetensors header names, or `nil` for one this module cannot convert.
    public init?(safetensorsName: String) { self.init(rawValue: safetensorsName) }

    /// The size of one element in bytes.
    public var byteCount: Int {
        switch self {
        case .float64, .int64: return 8
        case .float32, .int32: return 4
        case .float16, .bfloat16, .int16: return 2
        case .int8, .uint8, .bool: return 1
        }
    }
}
