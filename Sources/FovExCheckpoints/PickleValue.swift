import Foundation

/// A value built by ``PickleReader``. Lists and dicts are reference types because pickles mutate
/// them after memoising them (`BINPUT` then `SETITEMS`), and every alias must see the change.
indirect enum PickleValue {
    case none
    case bool(Bool)
    case int(Int)
    /// An integer too wide for `Int`, as little-endian two's-complement bytes.
    case bigInt([UInt8])
    case float(Double)
    case string(String)
    case bytes(Data)
    case tuple([PickleValue])
    case list(PickleList)
    case dict(PickleDict)
    /// One of the allow-listed globals; only ever called through ``PickleReader``'s own dispatch.
    case global(PickleGlobal)
    case storage(TorchStorage)
    case tensor(TorchTensorRecord)

    var int: Int? { if case let .int(v) = self { return v } else { return nil } }
    var string: String? { if case let .string(v) = self { return v } else { return nil } }
    var tuple: [PickleValue]? { if case let .tuple(v) = self { return v } else { return nil } }

    /// A short name for the kind of value, for error messages.
    var kind: String {
        switch self {
        case .none: return "None"
        case .bool: return "bool"
        case .int, .bigInt: return "int"
        case .float: return "float"
        case .string: return "str"
        case .bytes: return "bytes"
        case .tuple: return "tuple"
        case .list: return "list"
        case .dict: return "dict"
        case .global: return "global"
        case .storage: return "storage"
        case .tensor: return "tensor"
        }
    }
}

final class PickleList {
    var items: [PickleValue] = []
}

/// A dict in insertion order (pickled `OrderedDict`s and plain dicts alike).
final class PickleDict {
    var entries: [(key: PickleValue, value: PickleValue)] = []

    /// The value stored under the string key `key`.
    subscript(key: String) -> PickleValue? {
        entries.last { $0.key.string == key }?.value
    }
}

/// The globals a state-dict pickle may reference. Anything else is refused when it is named, before it could be used.
enum PickleGlobal: Equatable {
    case orderedDict
    case rebuildTensor
    case rebuildTensorV2
    case rebuildParameter
    case rebuildParameterWithState
    case storageType(TensorDType)

    init?(module: String, name: String) {
        switch (module, name) {
        case ("collections", "OrderedDict"): self = .orderedDict
        case ("torch._utils", "_rebuild_tensor"): self = .rebuildTensor
        case ("torch._utils", "_rebuild_tensor_v2"): self = .rebuildTensorV2
        case ("torch._utils", "_rebuild_parameter"): self = .rebuildParameter
        case ("torch._utils", "_rebuild_parameter_with_state"): self = .rebuildParameterWithState
        case ("torch", let storage):
            guard let dtype = Self.storageTypes[storage] else { return nil }
            self = .storageType(dtype)
        default: return nil
        }
    }

    private static let storageTypes: [String: TensorDType] = [
        "FloatStorage": .float32, "HalfStorage": .float16, "BFloat16Storage": .bfloat16, "DoubleStorage": .float64,
        "LongStorage": .int64, "IntStorage": .int32, "ShortStorage": .int16, "CharStorage": .int8,
        "ByteStorage": .uint8, "BoolStorage": .bool,
    ]
}
