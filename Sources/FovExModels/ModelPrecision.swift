import FovExTensor

/// A classifier whose convolutions and matrix products can compute in a chosen ``Precision`` (the built-in
/// architectures, and ONNX graphs). Its `forward` runs in ``precision`` wherever it is called from, and the
/// gradients taken through it are computed in that precision too; logits and gradients come back as fp32 tensors.
public protocol PrecisionSelectable: ImageClassifier {
    /// The precision of the convolutions and matrix products; fp32 unless set.
    var precision: Precision { get set }
}

/// A precision asked of a model that cannot compute in it.
public struct ModelPrecisionError: Error, CustomStringConvertible {
    /// The precision asked for.
    public var precision: Precision
    /// The model's architecture name.
    public var architecture: String

    public var description: String {
        "\(architecture) runs in fp32 only; --precision \(precision.rawValue) applies to the built-in architectures and ONNX graphs"
    }
}

extension ModelRegistry {
    /// Sets `model` to compute in `precision`.
    ///
    /// - Throws: ``PrecisionUnsupportedError`` when this CPU lacks the instructions, ``ModelPrecisionError``
    ///   when the model is not ``PrecisionSelectable`` and `precision` is not fp32.
    public static func setPrecision(_ precision: Precision, of model: any ImageClassifier) throws {
        try precision.checkSupported()
        guard let selectable = model as? any PrecisionSelectable else {
            if precision == .fp32 { return }
            throw ModelPrecisionError(precision: precision, architecture: model.identity.architecture)
        }
        selectable.precision = precision
    }
}
