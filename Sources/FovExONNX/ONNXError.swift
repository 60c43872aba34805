import Foundation

/// Why an ONNX file could not be read or run, with the file it concerns.
public struct ONNXError: Error, CustomStringConvertible, Equatable {
    /// The model file (its path as given), or `<bytes>` for a model parsed from memory.
    public var file: String
    /// What is wrong, in words.
    public var problem: String

    /// An error about `file`, saying what is wrong with it.
    public init(file: String, problem: String) {
        self.file = file
        self.problem = problem
    }

    /// The file, a colon and the problem, as the command line prints it.
    public var description: String { "\(file): \(problem)" }
}

/// Ops of the graph that this library cannot run, reported together before any work is done.
public struct UnsupportedONNXOperatorsError: Error, CustomStringConvertible, Equatable {
    /// One node that uses an op (or an attribute value) the library does not implement.
    public struct Use: Equatable, Sendable {
        /// The op type, e.g. `GridSample`, with its domain when it is not the default one.
        public var opType: String
        /// The node's name, or `#index` when the node has none.
        public var node: String
        /// Why the node cannot run when the op itself is known (an attribute value), or nil for an unknown op.
        public var reason: String?
    }

    /// The model file (its path as given), or `<bytes>` for a model parsed from memory.
    public var file: String
    /// The default domain's opset the model imports.
    public var opset: Int
    /// Every node that cannot run, in graph order.
    public var uses: [Use]

    /// The file, the opset and one line per node (the first 20, then how many more).
    public var description: String {
        let lines = uses.prefix(20).map { u in
            "  \(u.opType) at node '\(u.node)'" + (u.reason.map { ": \($0)" } ?? ": op not supported")
        }
        let more = uses.count > 20 ? ["  … and \(uses.count - 20) more"] : []
        return "\(file): the model (opset \(opset)) uses ops this library cannot run:\n"
            + (lines + more).joined(separator: "\n")
    }
}
