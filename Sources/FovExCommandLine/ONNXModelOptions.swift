import ArgumentParser
import Foundation
import FovExModels
import FovExONNX
import FovExWeights

/// How images are prepared for an ONNX model, which carries no preprocessing of its own.
public enum PreprocessPreset: String, ExpressibleByArgument, CaseIterable, Sendable {
    /// ImageNet's mean (0.485, 0.456, 0.406) and standard deviation (0.229, 0.224, 0.225): torchvision's models.
    case imagenet
    /// Mean and standard deviation 0.5: Inception-style and many timm models ([−1, 1] input).
    case inception
    /// No normalisation: the model receives pixels in [0, 1].
    case raw

    var mean: [Float] {
        switch self {
        case .imagenet: return [0.485, 0.456, 0.406]
        case .inception: return [0.5, 0.5, 0.5]
        case .raw: return [0, 0, 0]
        }
    }

    var std: [Float] {
        switch self {
        case .imagenet: return [0.229, 0.224, 0.225]
        case .inception: return [0.5, 0.5, 0.5]
        case .raw: return [1, 1, 1]
        }
    }
}

/// Three per-channel values, written `R,G,B`.
public struct ChannelTriple: ExpressibleByArgument, Equatable, Sendable {
    public var values: [Float]

    public init?(argument: String) {
        let parts = argument.split(separator: ",", omittingEmptySubsequences: false).map { Float($0.trimmingCharacters(in: .whitespaces)) }
        guard parts.count == 3, parts.allSatisfy({ $0 != nil && $0!.isFinite }) else { return nil }
        values = parts.map { $0! }
    }
}

/// `--input-size`, `--preprocess`, `--mean`, `--std` and `--labels`: what an ONNX model needs to be told.
public struct ONNXModelOptions: ParsableArguments {
    @Option(help: "ONNX models: the square input side (default: the size the file declares, else 224; 1…4096).")
    public var inputSize: Int?
    @Option(help: "ONNX models: normalisation preset, \(PreprocessPreset.allCases.map(\.rawValue).joined(separator: "|")) (default imagenet).")
    public var preprocess: PreprocessPreset?
    @Option(help: "ONNX models: per-channel mean R,G,B in [0, 1] units (overrides --preprocess).")
    public var mean: ChannelTriple?
    @Option(help: "ONNX models: per-channel standard deviation R,G,B, each > 0 (overrides --preprocess).")
    public var std: ChannelTriple?
    @Option(help: "ONNX models: a text file of class names, one a line (default: ImageNet's when there are 1000 outputs).")
    public var labels: String?

    public init() {}

    /// Whether any of these options was given.
    public var isUsed: Bool { inputSize != nil || preprocess != nil || mean != nil || std != nil || labels != nil }

    public func validate() throws {
        if let inputSize, !(1...4096).contains(inputSize) {
            throw ValidationError("--input-size must be in 1…4096, got \(inputSize)")
        }
        if let std, std.values.contains(where: { $0 <= 0 }) {
            throw ValidationError("--std values must be positive, got \(std.values.map { "\($0)" }.joined(separator: ","))")
        }
        if let labels, labels.isEmpty { throw ValidationError("--labels needs a file name, got ''") }
    }

    /// The preprocessing these options describe, or nil when none was given (the model's default then).
    func preprocessing(declaredSize: Int?) -> Preprocessing? {
        guard inputSize != nil || preprocess != nil || mean != nil || std != nil else { return nil }
        let preset = preprocess ?? .imagenet
        return Preprocessing(geometry: .direct(size: inputSize ?? declaredSize ?? 224), interpolation: .bilinear, antialias: true,
                             mean: mean?.values ?? preset.mean, std: std?.values ?? preset.std)
    }

    /// The ONNX classifier in `path` with these options.
    public func load(_ path: String) throws -> ONNXClassifier {
        let url = URL(fileURLWithPath: path)
        var names: [String]?
        if let labels {
            do {
                names = try String(contentsOfFile: labels, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
                    .map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
                    .reversed().drop(while: \.isEmpty).reversed()
            } catch {
                throw ValidationError("--labels \(labels): cannot read the file (\(error.localizedDescription))")
            }
        }
        let model = try ONNXModel(contentsOf: url)
        let digest = try? SHA256.hash(fileAt: url).hexString
        return try ONNXClassifier(model, identity: ModelIdentity(architecture: "onnx", weights: url.lastPathComponent, weightsSHA256: digest),
                                  preprocessing: preprocessing(declaredSize: model.inputs.first?.shape?[2]), classNames: names)
    }
}
