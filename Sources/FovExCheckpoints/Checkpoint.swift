/// A set of named tensors in a stable order: a model's state dict as read from a checkpoint file.
public struct Checkpoint: Sendable, Equatable {
    /// The tensors by name.
    public private(set) var tensors: [String: CheckpointTensor]
    /// The tensor names in file order (the order the model registered them, for PyTorch files).
    public private(set) var names: [String]

    /// An empty checkpoint.
    public init() {
        tensors = [:]
        names = []
    }

    /// Creates a checkpoint from `(name, tensor)` pairs, keeping their order; a repeated name keeps its last tensor.
    public init<S: Sequence>(_ entries: S) where S.Element == (String, CheckpointTensor) {
        self.init()
        for (name, tensor) in entries { self[name] = tensor }
    }

    /// The tensor called `name`; assigning `nil` removes it, assigning a new name appends it.
    public subscript(name: String) -> CheckpointTensor? {
        get { tensors[name] }
        set {
            if let newValue {
                if tensors.updateValue(newValue, forKey: name) == nil { names.append(name) }
            } else if tensors.removeValue(forKey: name) != nil {
                names.removeAll { $0 == name }
            }
        }
    }

    /// The number of tensors.
    public var count: Int { names.count }

    /// The tensor called `name`, or an error naming it when absent.
    public func tensor(named name: String) throws -> CheckpointTensor {
        guard let t = tensors[name] else { throw CheckpointError.missingTensor(name: name, file: "checkpoint") }
        return t
    }

    /// The same tensors with `prefix` removed from every name, when every name carries it
    /// (as `module.` does for models saved from `DataParallel`); otherwise `self` unchanged.
    public func strippingPrefix(_ prefix: String) -> Checkpoint {
        guard !names.isEmpty, names.allSatisfy({ $0.hasPrefix(prefix) }) else { return self }
        return Checkpoint(names.map { (String($0.dropFirst(prefix.count)), tensors[$0]!) })
    }
}
