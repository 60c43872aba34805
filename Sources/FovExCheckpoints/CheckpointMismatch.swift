/// How a checkpoint's tensor names and shapes differ from what a model expects.
public struct CheckpointMismatch: Error, CustomStringConvertible, Equatable {
    /// A tensor present on both sides with different shapes.
    public struct ShapeDifference: Equatable, Sendable {
        /// The tensor's name.
        public var name: String
        /// The shape the model expects.
        public var expected: [Int]
        /// The shape the checkpoint has.
        public var found: [Int]
    }

    /// Names the model expects that the checkpoint lacks, sorted.
    public var missing: [String]
    /// Names in the checkpoint the model does not expect, sorted.
    public var unexpected: [String]
    /// Names on both sides whose shapes differ, sorted by name.
    public var misShaped: [ShapeDifference]

    public var description: String {
        func list(_ items: [String]) -> String {
            let shown = items.prefix(12).joined(separator: ", ")
            return items.count > 12 ? "\(shown), … (\(items.count - 12) more)" : shown
        }
        var lines = ["checkpoint does not match the model:"]
        if !missing.isEmpty { lines.append("  missing \(missing.count): \(list(missing))") }
        if !unexpected.isEmpty { lines.append("  unexpected \(unexpected.count): \(list(unexpected))") }
        if !misShaped.isEmpty {
            lines.append("  wrong shape \(misShaped.count): "
                + list(misShaped.map { "\($0.name) expected \($0.expected) found \($0.found)" }))
        }
        return lines.joined(separator: "\n")
    }
}

extension Checkpoint {
    /// Compares the checkpoint with the names and shapes a model expects; `nil` when they agree.
    ///
    /// - Parameters:
    ///   - expected: the shape of every tensor the model needs, by name.
    ///   - allowingUnexpected: when true, extra tensors in the checkpoint are not reported.
    public func verify(expected: [String: [Int]], allowingUnexpected: Bool = false) -> CheckpointMismatch? {
        let missing = expected.keys.filter { tensors[$0] == nil }.sorted()
        let unexpected = allowingUnexpected ? [] : tensors.keys.filter { expected[$0] == nil }.sorted()
        let misShaped = expected.keys.sorted().compactMap { name -> CheckpointMismatch.ShapeDifference? in
            guard let found = tensors[name]?.shape, let want = expected[name], found != want else { return nil }
            return .init(name: name, expected: want, found: found)
        }
        if missing.isEmpty && unexpected.isEmpty && misShaped.isEmpty { return nil }
        return CheckpointMismatch(missing: missing, unexpected: unexpected, misShaped: misShaped)
    }
}
