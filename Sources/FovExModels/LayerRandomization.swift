import FovExTensor

/// One layer of a network as the model-randomisation sanity check sees it: a name and the
/// checkpoint parameters it owns.
public struct ModelLayer: Sendable, Equatable {
    /// The layer's name (`fc`, `layer4.2`, `_blocks.15`, `_conv_stem`, …).
    public var name: String
    /// The names of the parameters it owns, in checkpoint order.
    public var parameters: [String]

    /// A layer called `name` owning `parameters`.
    public init(name: String, parameters: [String]) {
        self.name = name
        self.parameters = parameters
    }

    /// Groups `specs` (in network order) into layers by `layer(of:)`, then lists the layers from the
    /// top (the logits layer) down to the stem, the order of the cascading randomisation.
    public static func topDown(_ specs: [ParameterSpec], layer: (String) -> String) -> [ModelLayer] {
        var layers: [ModelLayer] = []
        for spec in specs {
            let name = layer(spec.name)
            if let i = layers.firstIndex(where: { $0.name == name }) {
                layers[i].parameters.append(spec.name)
            } else {
                layers.append(ModelLayer(name: name, parameters: [spec.name]))
            }
        }
        return layers.reversed()
    }
}

/// A classifier whose layers can be re-initialised one after another from the top, for the
/// model-randomisation sanity check of Adebayo et al. (2018, "Sanity Checks for Saliency Maps").
///
/// The built-in ``ResNet``, ``VisionTransformer`` and ``EfficientNetLite`` conform: their layers are
/// the classifier head, each residual / transformer / MBConv block, and the stem, and a re-initialised
/// layer's parameters are redrawn with ``ModelWeights/init(random:seed:)``'s generator (each parameter
/// seeded by its name and `seed`, from its role's range: a convolution or linear weight uniform in
/// ±√(3 / fan-in), biases in ±0.1, norm scales in 1 ± 0.25, running variances in 1 ± 0.5). Because every
/// parameter is drawn from its own seed, the weights of layer k are the same whatever other layers are
/// re-initialised with it, so the cascade's steps can be computed in any order or skipped.
public protocol LayerRandomizable: ImageClassifier {
    /// The layers, top (logits) first, down to the stem.
    var layersTopDown: [ModelLayer] { get }

    /// A copy of the model with the first `count` layers of ``layersTopDown`` re-initialised from
    /// `seed` and every other parameter as trained (`count` in 0…`layersTopDown.count`).
    func randomizingLayers(_ count: Int, seed: UInt64) -> any ImageClassifier
}

extension ModelWeights {
    /// These weights with the parameters of `layers` redrawn from `seed` by the generator of
    /// ``init(random:seed:)`` (the same values that a fully random model of this seed holds).
    public func redrawing(_ layers: [ModelLayer], specs: [ParameterSpec], seed: UInt64) -> ModelWeights {
        var copy = self
        let byName = Dictionary(uniqueKeysWithValues: specs.map { ($0.name, $0) })
        for layer in layers {
            for name in layer.parameters {
                guard let spec = byName[name] else { preconditionFailure("layer \(layer.name) lists \(name), which is not a parameter") }
                let (center, halfWidth) = spec.role.randomRange(shape: spec.shape)
                let values = ModelWeights.generatedValues(name: name, count: spec.shape.reduce(1, *), seed: seed,
                                                          center: center, halfWidth: halfWidth)
                copy.tensors[name] = Tensor(shape: spec.shape, scalars: values)
            }
        }
        copy.source += " with \(layers.count) layers re-initialised (seed \(seed))"
        return copy
    }
}
