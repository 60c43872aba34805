import Foundation

/// A problem reading or writing a checkpoint file, naming the file and what is wrong with it.
public enum CheckpointError: Error, CustomStringConvertible, Equatable {
    /// The file breaks its format's rules (truncated, inconsistent offsets, bad header, …).
    case malformed(file: String, reason: String)
    /// The file is well formed but uses a feature this reader deliberately does not implement.
    case unsupported(file: String, reason: String)
    /// A pickle referenced a global outside the allow-list; nothing was executed.
    case forbiddenGlobal(module: String, name: String, file: String)
    /// A tensor name that is not in the file.
    case missingTensor(name: String, file: String)
    /// The file could not be read or written.
    case io(file: String, reason: String)
    /// A tensor handed to a writer is inconsistent (values do not fill its shape, …).
    case invalidTensor(name: String, reason: String)

    public var description: String {
        switch self {
        case let .malformed(file, reason): return "malformed checkpoint \(file): \(reason)"
        case let .unsupported(file, reason): return "unsupported checkpoint \(file): \(reason)"
        case let .forbiddenGlobal(module, name, file):
            return "forbidden pickle global \(module).\(name) in file \(file) (only tensor-rebuilding globals are allowed)"
        case let .missingTensor(name, file): return "no tensor named '\(name)' in \(file)"
        case let .io(file, reason): return "cannot access \(file): \(reason)"
        case let .invalidTensor(name, reason): return "invalid tensor '\(name)': \(reason)"
        }
    }
}
