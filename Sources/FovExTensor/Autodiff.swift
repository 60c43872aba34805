import Foundation

/// One recorded operation: the tracked inputs it read and how to map the gradient of its
/// output to gradients of those inputs.
final class GradNode {
    let inputs: [GradNode?]
    var backward: ((Tensor) -> [Tensor?])?
    /// Optionally, the backward map given the output gradient as the parts that sum to it, for an
    /// operation that can fold the summation into its first pass over the gradient (saving a pass
    /// over memory where a tensor feeds two consumers, as a residual block's input does).
    var backwardOfParts: (([Tensor]) -> [Tensor?])?
    let shape: [Int]

    init(inputs: [GradNode?], shape: [Int], backward: ((Tensor) -> [Tensor?])?,
         backwardOfParts: (([Tensor]) -> [Tensor?])? = nil) {
        self.inputs = inputs
        self.shape = shape
        self.backward = backward
        self.backwardOfParts = backwardOfParts
    }
}

/// Whether operations record themselves for reverse-mode differentiation.
///
/// The mode is task-local: ``withoutGradients(_:)`` turns recording off for the code it runs (and the child
/// tasks that code starts), on the calling thread only outside of tasks, so two threads or tasks explaining
/// at once do not switch each other's recording off or on.
public enum GradientMode {
    @TaskLocal static var isDisabled = false

    /// `true` unless inside ``withoutGradients(_:)``.
    public static var isEnabled: Bool { !isDisabled }
}

/// Runs `body` without recording anything for differentiation (inference, metrics, maps).
public func withoutGradients<R>(_ body: () throws -> R) rethrows -> R {
    if GradientMode.isDisabled { return try body() }
    return try GradientMode.$isDisabled.withValue(true, operation: body)
}

/// Why a gradient could not be taken; each message says how to set the computation up instead.
public enum AutodiffError: Error, CustomStringConvertible {
    /// A tensor asked for (at `index` in `withRespectTo`) is not part of the recorded computation.
    case notTracked(index: Int)
    /// The output is not a scalar and no seed (the gradient flowing into it) was given.
    case notScalar(shape: [Int])
    /// The recorded computation was already consumed by an earlier backward pass (pass `retainGraph: true` to reuse it).
    case graphReleased

    public var description: String {
        switch self {
        case .notTracked(let i):
            return "gradient requested with respect to tensor #\(i), which does not take part in differentiation "
                + "(create it with requiringGradient(), or compute it outside withoutGradients)"
        case .notScalar(let s): return "gradients(of:) needs a scalar or an explicit seed; got shape \(s)"
        case .graphReleased: return "the recorded graph was already used by an earlier backward pass"
        }
    }
}

extension Tensor {
    /// Whether this tensor takes part in differentiation.
    public var requiresGradient: Bool { node != nil }

    /// The same values, marked as a differentiation leaf (an input whose gradient is wanted).
    public func requiringGradient() -> Tensor {
        var t = self
        t.node = GradNode(inputs: [], shape: shape, backward: nil)
        return t
    }

    /// The same values, cut off from differentiation.
    public func detached() -> Tensor {
        var t = self
        t.node = nil
        return t
    }

    /// Records `self` as the output of an operation on `inputs` when any input is tracked.
    /// `backward` maps the output gradient to one gradient per input (nil: none, or not needed).
    func recorded(from inputs: [Tensor], _ backward: @escaping (Tensor) -> [Tensor?]) -> Tensor {
        guard inputs.contains(where: { $0.node != nil }), GradientMode.isEnabled else { return self }
        var t = self
        t.node = GradNode(inputs: inputs.map(\.node), shape: shape, backward: backward)
        return t
    }

    /// Records `self` like ``recorded(from:_:)``, with a backward map that takes the output gradient as
    /// the parts that sum to it (one part when there is a single consumer).
    func recorded(from inputs: [Tensor], ofParts backward: @escaping ([Tensor]) -> [Tensor?]) -> Tensor {
        guard inputs.contains(where: { $0.node != nil }), GradientMode.isEnabled else { return self }
        var t = self
        t.node = GradNode(inputs: inputs.map(\.node), shape: shape, backward: { backward([$0]) }, backwardOfParts: backward)
        return t
    }
}

/// The sum of gradient parts.
private func summed(_ parts: [Tensor]) -> Tensor {
    parts.dropFirst().reduce(parts[0]) { $0 + $1 }
}

/// Reverse-mode gradients of `output` with respect to each of `tensors` (inputs or intermediate
/// tensors), in one backward pass.
///
/// - Parameters:
///   - output: the tensor to differentiate, computed from `tensors` while gradients were recorded.
///   - tensors: the tensors to differentiate with respect to: leaves made with `requiringGradient()`, or
///     inner tensors of the same computation.
///   - seed: the gradient of the final objective with respect to `output`; defaults to 1 for a
///     scalar output.
///   - retainGraph: keep the recorded graph for another backward pass; by default every node
///     visited releases its saved tensors, so the tape's memory is freed as soon as this returns.
/// - Returns: one gradient per tensor, shaped like it; zeros where `output` does not depend on it.
public func gradients(of output: Tensor, withRespectTo tensors: [Tensor], seed: Tensor? = nil,
                      retainGraph: Bool = false) throws -> [Tensor] {
    for (i, t) in tensors.enumerated() where t.node == nil { throw AutodiffError.notTracked(index: i) }
    if seed == nil && output.count != 1 { throw AutodiffError.notScalar(shape: output.shape) }
    guard let root = output.node else {
        return tensors.map { Tensor(zeros: $0.shape) }
    }
    let targets = Set(tensors.map { ObjectIdentifier($0.node!) })

    // Post-order DFS: every node appears after all of its inputs.
    var order: [GradNode] = []
    var visited = Set<ObjectIdentifier>()
    var stack: [(GradNode, Int)] = [(root, 0)]
    visited.insert(ObjectIdentifier(root))
    while let (node, next) = stack.popLast() {
        if next < node.inputs.count {
            stack.append((node, next + 1))
            if let child = node.inputs[next], visited.insert(ObjectIdentifier(child)).inserted {
                stack.append((child, 0))
            }
        } else {
            order.append(node)
        }
    }
    // Only nodes that lead to a requested tensor need their gradient.
    var needed = Set<ObjectIdentifier>()
    for node in order {
        let id = ObjectIdentifier(node)
        if targets.contains(id) || node.inputs.contains(where: { $0.map { needed.contains(ObjectIdentifier($0)) } ?? false }) {
            needed.insert(id)
        }
    }

    // Each node's gradient is kept as the parts its consumers sent until the node is reached.
    var grads: [ObjectIdentifier: [Tensor]] = [:]
    grads[ObjectIdentifier(root)] = [seed ?? Tensor(repeating: 1, shape: output.shape)]
    var results: [ObjectIdentifier: Tensor] = [:]
    try withoutGradients {
        for node in order.reversed() {
            let id = ObjectIdentifier(node)
            guard needed.contains(id), let parts = grads.removeValue(forKey: id) else { continue }
            let isTarget = targets.contains(id)
            let g: Tensor? = isTarget || parts.count == 1 || node.backwardOfParts == nil ? summed(parts) : nil
            if isTarget { results[id] = g }
            guard !node.inputs.isEmpty else { continue }
            guard let backward = node.backward else { throw AutodiffError.graphReleased }
            let inputGrads = g.map(backward) ?? node.backwardOfParts!(parts)
            if !retainGraph { node.backward = nil; node.backwardOfParts = nil }
            for (input, ig) in zip(node.inputs, inputGrads) {
                guard let input, let ig, needed.contains(ObjectIdentifier(input)) else { continue }
                precondition(ig.shape == input.shape, "gradient shape \(ig.shape) for input shape \(input.shape)")
                grads[ObjectIdentifier(input), default: []].append(ig)
            }
        }
    }
    if !retainGraph { for node in order { node.backward = nil; node.backwardOfParts = nil } }
    return tensors.map { results[ObjectIdentifier($0.node!)] ?? Tensor(zeros: $0.shape) }
}

/// The gradient of a scalar-valued `f` with respect to its input, and the value.
public func valueWithGradient(at x: Tensor, of f: (Tensor) throws -> Tensor) throws -> (value: Tensor, gradient: Tensor) {
    let xt = x.requiringGradient()
    let y = try f(xt)
    let g = try gradients(of: y, withRespectTo: [xt])[0]
    return (y.detached(), g)
}
