import XCTest
@testable import FovExModels
@testable import FovExTensor

/// A ViT holds each parameter once: its layers read the checkpoint's own tensors, and the fp32 products read the
/// linear weights in place, without packed or rescaled copies. That is what keeps ViT-B/16's peak memory at or
/// below PyTorch's (docs/results/memory.md); these checks count storages, not resident memory, so they cannot flake.
final class WeightMemoryTests: XCTestCase {
    private let configuration = VisionTransformer.Configuration(dimension: 64, depth: 2, heads: 2, imageSize: 32)
    private let classes = 10

    private func makeModel(seed: UInt64) -> (VisionTransformer, ModelWeights, [ParameterSpec]) {
        let specs = VisionTransformer.parameters(configuration, classes: classes)
        let weights = ModelWeights(random: specs, seed: seed)
        let model = VisionTransformer(configuration, weights: weights,
                                      identity: ModelIdentity(architecture: "vit-memory-test", weights: "random"),
                                      classNames: (0..<classes).map { "class \($0)" })
        return (model, weights, specs)
    }

    private func forwardAndInputGradient(_ model: VisionTransformer) throws {
        var generator = SeededGenerator(seed: 3)
        let x = Tensor(randomUniform: [2, 3, 32, 32], in: 0...1, generator: &generator).requiringGradient()
        let gradient = try gradients(of: model.logits(x).sum(), withRespectTo: [x])[0]
        XCTAssertEqual(gradient.shape, x.shape)
    }

    func testVisionTransformerHoldsEachParameterOnceAfterForwardAndBackward() throws {
        let (model, weights, specs) = makeModel(seed: 21)
        try forwardAndInputGradient(model)
        // Everything the model holds: exactly the parameters' elements, once each (a folded or re-laid-out copy
        // of any weight adds a storage).
        let held = heldStorages(model)
        XCTAssertEqual(held.reduce(0) { $0 + $1.count }, specs.reduce(0) { $0 + $1.shape.reduce(1, *) },
                       "the model holds storages beyond its parameters")
        // And no derived copy of a linear weight in fp32 (a packed copy for the forward or backward product).
        let linear = specs.filter { $0.shape.count == 2 }.map { weights[$0.name].storage }
        XCTAssertEqual(linear.count, 4 * configuration.depth + 1)
        XCTAssertEqual(PackedWeightCache.shared.derivedBytes(from: linear), 0, "fp32 linear weights were copied")
    }

    /// bf16 keeps its two packed bf16 copies (forward and backward product), each half the fp32 weight.
    func testVisionTransformerBF16PacksEachLinearWeightTwiceAtHalfSize() throws {
        try XCTSkipUnless(Precision.isBF16Supported, "this CPU has no AVX-512 BF16; bf16 is refused here")
        let (model, weights, specs) = makeModel(seed: 22)
        model.precision = .bf16
        try forwardAndInputGradient(model)
        let linear = specs.filter { $0.shape.count == 2 }
        let fp32Bytes = linear.reduce(0) { $0 + 4 * $1.shape.reduce(1, *) }
        let derived = PackedWeightCache.shared.derivedBytes(from: linear.map { weights[$0.name].storage })
        // Blocked layouts pad the head's 10 classes, so allow the padding but no third copy.
        XCTAssertGreaterThanOrEqual(derived, fp32Bytes)
        XCTAssertLessThan(derived, fp32Bytes * 3 / 2)
    }
}

/// The distinct tensor storages reachable from `value`'s stored properties (private ones included).
private func heldStorages(_ value: Any) -> [TensorStorage] {
    var seen = Set<ObjectIdentifier>(), storages: [TensorStorage] = []
    func visit(_ v: Any) {
        if let t = v as? Tensor { return visit(t.storage) }
        if let s = v as? TensorStorage {
            if seen.insert(ObjectIdentifier(s)).inserted { storages.append(s) }
            return
        }
        let mirror = Mirror(reflecting: v)
        if mirror.displayStyle == .class {
            let object = v as AnyObject
            guard seen.insert(ObjectIdentifier(object)).inserted else { return }
        }
        for child in mirror.children { visit(child.value) }
        var superclass = mirror.superclassMirror
        while let s = superclass { for child in s.children { visit(child.value) }; superclass = s.superclassMirror }
    }
    visit(value)
    return storages
}
