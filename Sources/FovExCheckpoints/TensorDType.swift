/// The element type a tensor had in its checkpoint file; values are always handed out as `Float`.
public enum TensorDType: String, Sendable, CaseIterable, Equatable {
    case float64 = "F64"
    case float32 = "F32"
    case float16 = "F16"
    case bfloat16 = "BF16"
    case int64 = "I64"
    case int32 = "I32"
    case int16 = "I16"
    case int8 = "I8"
    case uint8 = "U8"
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
