import FovExCheckpoints
import FovExTensor

/// The part a parameter plays in its network, which decides how random weights for it are drawn.
public enum ParameterRole: Sendable, Equatable {
    /// A convolution or linear weight, output channels first; its fan-in is the product of the other axes.
    case weight
    /// A convolution or linear bias.
    case bias
    /// A batch- or layer-norm's multiplicative parameter (γ).
    case normScale
    /// A batch- or layer-norm's additive parameter (β).
    case normOffset
    /// A batch norm's running mean.
    case runningMean
    /// A batch norm's running variance.
    case runningVariance
    /// A learned token or position embedding.
    case embedding

    /// The centre and half-width of the uniform distribution random weights for this role are drawn from.
    func randomRange(shape: [Int]) -> (center: Float, halfWidth: Float) {
        switch self {
        case .weight:
            let fanIn = shape.dropFirst().reduce(1, *)
            return (0, Float((3.0 / Double(Swift.max(fanIn, 1))).squareRoot()))
        case .bias, .normOffset, .runningMean: return (0, 0.1)
        case .normScale: return (1, 0.25)
        case .runningVariance: return (1, 0.5)
        case .embedding: return (0, 0.5)
        }
    }
}

/// One named parameter a model expects to find in its checkpoint.
public struct ParameterSpec: Sendable, Equatable {
    /// The tensor's name in the checkpoint (e.g. `layer1.0.conv1.weight`).
    public var name: String
    /// Its shape.
    public var shape: [Int]
    /// What it is, which decides how random weights are drawn for it.
    public var role: ParameterRole

    /// A parameter called `name` of `shape` playing `role`.
    public init(_ name: String, _ shape: [Int], _ role: ParameterRole) {
        self.name = name
        self.shape = shape
        self.role = role
    }
}

/// A checkpoint whose tensors do not fit an architecture; the mismatch names every offending key.
public struct WeightMismatchError: Error, CustomStringConvertible {
    /// The architecture the weights were loaded for.
    public var architecture: String
    /// Where the weights came from (a file name).
    public var source: String
    /// The missing, unexpected and mis-shaped keys.
    public var mismatch: CheckpointMismatch

    public var description: String { "weights in \(source) do not fit \(architecture): \(mismatch)" }
}

/// A model's parameters as named constant tensors, either loaded from a checkpoint (checked against
/// the architecture's parameter list) or drawn from a seed.
///
/// Random weights come from a generator that `tools/make_model_fixtures.py` re-implements, so tests can
/// compare with PyTorch on models too large to store: parameter `name` takes
/// `SeededGenerator(seed: FNV-1a-64(name) ^ seed)`, element i the i-th uniform draw u, and its value is
/// `center + halfWidth · (2u − 1)` with the role's range (see ``ParameterRole``).
public struct ModelWeights {
    /// The parameters by name.
    public internal(set) var tensors: [String: Tensor]
    /// Where the weights came from, for ``ModelIdentity``: a file name, or `random(seed: S)`.
    public var source: String

    /// The parameter called `name`, which the architecture's parameter list guarantees is present.
    public subscript(name: String) -> Tensor {
        guard let t = tensors[name] else { preconditionFailure("no parameter named \(name) in weights from \(source)") }
        return t
    }

    /// Weights drawn from `seed` for every parameter in `specs` (see the type's description).
    public init(random specs: [ParameterSpec], seed: UInt64) {
        tensors = [:]
        for spec in specs {
            let (center, halfWidth) = spec.role.randomRange(shape: spec.shape)
            let values = ModelWeights.generatedValues(name: spec.name, count: spec.shape.reduce(1, *), seed: seed,
                                                      center: center, halfWidth: halfWidth)
            tensors[spec.name] = Tensor(shape: spec.shape, scalars: values)
        }
        source = "random(seed: \(seed))"
    }

    /// Takes `specs`' parameters from `checkpoint`, accepting names under a `state_dict.` or `model.`
    /// wrapper and with `module.` prefixes (from `DataParallel`), and ignoring batch norms'
    /// `num_batches_tracked` counters.
    ///
    /// - Throws: ``WeightMismatchError`` naming every missing, unexpected and mis-shaped key.
    public init(checkpoint: Checkpoint, expecting specs: [ParameterSpec], architecture: String, source: String) throws {
        let expected = Dictionary(uniqueKeysWithValues: specs.map { ($0.name, $0.shape) })
        let entries = Checkpoint(ModelWeights.unwrapped(checkpoint, expecting: expected)
            .filter { !$0.0.hasSuffix("num_batches_tracked") })
        if let mismatch = entries.verify(expected: expected) {
            throw WeightMismatchError(architecture: architecture, source: source, mismatch: mismatch)
        }
        tensors = [:]
        for spec in specs { tensors[spec.name] = Tensor(shape: spec.shape, scalars: entries.tensors[spec.name]!.values) }
        self.source = source
    }

    /// The weights as a checkpoint, in `specs` order (e.g. to save random weights as safetensors).
    public func checkpoint(_ specs: [ParameterSpec]) -> Checkpoint {
        Checkpoint(specs.map { spec in
            let t = self[spec.name]
            return (spec.name, CheckpointTensor(shape: t.shape, values: t.scalars))
        })
    }

    /// The generator behind ``init(random:seed:)`` for one tensor.
    static func generatedValues(name: String, count: Int, seed: UInt64, center: Float, halfWidth: Float) -> [Float] {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in name.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01B3
        }
        var generator = SeededGenerator(seed: hash ^ seed)
        return (0..<count).map { _ in
            let t = 2 * generator.nextUniform() - 1
            return center + halfWidth * t
        }
    }

    /// The checkpoint's entries with wrapper and `module.` prefixes removed: of the views "as is",
    /// "under `state_dict.`", "under `model.`", each with `module.` stripped where every name has it,
    /// the one matching most expected names.
    private static func unwrapped(_ checkpoint: Checkpoint, expecting expected: [String: [Int]])
        -> [(String, CheckpointTensor)] {
        let all = checkpoint.names.map { ($0, checkpoint.tensors[$0]!) }
        var best = all, bestHits = -1
        for wrapper in ["", "state_dict.", "model."] {
            var view = all.filter { $0.0.hasPrefix(wrapper) }.map { (String($0.0.dropFirst(wrapper.count)), $0.1) }
            while !view.isEmpty && view.allSatisfy({ $0.0.hasPrefix("module.") }) {
                view = view.map { (String($0.0.dropFirst("module.".count)), $0.1) }
            }
            let hits = view.filter { expected[$0.0] != nil }.count
            if hits > bestHits { best = view; bestHits = hits }
        }
        return best
    }
}

/// A convolution with the batch norm that follows it folded into its weight and bias (inference
/// arithmetic: y = γ·(conv(x) − μ)/√(σ² + ε) + β becomes one convolution with a bias).
struct FoldedConvolution {
    let weight: Tensor
    let bias: Tensor
    let stride: Int
    let padding: ConvPadding
    let groups: Int

    /// Folds `weights[bn + ".*"]` into `weights[conv + ".weight"]`.
    init(_ weights: ModelWeights, conv: String, bn: String, epsilon: Float, stride: Int = 1,
         padding: ConvPadding, groups: Int = 1) {
        (weight, bias) = foldBatchNorm(intoConvWeight: weights[conv + ".weight"], bias: nil,
                                       mean: weights[bn + ".running_mean"], variance: weights[bn + ".running_var"],
                                       scale: weights[bn + ".weight"], offset: weights[bn + ".bias"], epsilon: epsilon)
        self.stride = stride
        self.padding = padding
        self.groups = groups
    }

    /// The convolution, then `residual` added and `activation` applied in the same oneDNN pass; with
    /// `consumingResidual`, written over the residual when nothing is recorded (see `Tensor.conv2d`).
    func callAsFunction(_ x: Tensor, residual: Tensor? = nil, activation: ConvActivation? = nil,
                        consumingResidual: Bool = false) -> Tensor {
        x.conv2d(weight: weight, bias: bias, stride: stride, padding: padding, groups: groups, residual: residual,
                 activation: activation, consumingResidual: consumingResidual)
    }
}

extension [String: Tensor] {
    /// Whether one of these captured values shares `t`'s storage: a forward pass then must not write over `t`
    /// (a block's shortcut accumulated in place), since the caller gets it back.
    func holdsStorage(of t: Tensor) -> Bool { values.contains { $0.storage === t.storage } }
}

extension [ParameterSpec] {
    /// Appends a bias-free convolution's weight and its batch norm's four tensors.
    mutating func appendConvolution(_ conv: String, bn: String, out: Int, in inputs: Int, kernel: Int) {
        append(ParameterSpec(conv + ".weight", [out, inputs, kernel, kernel], .weight))
        append(contentsOf: [ParameterSpec(bn + ".weight", [out], .normScale), ParameterSpec(bn + ".bias", [out], .normOffset),
                            ParameterSpec(bn + ".running_mean", [out], .runningMean),
                            ParameterSpec(bn + ".running_var", [out], .runningVariance)])
    }
}
