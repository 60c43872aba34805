import ArgumentParser
import Foundation
import FovExModels
import FovExONNX
import FovExWeights

/// How images are prepared for an ONNX model: a command-line name for ``ONNXInputSettings/Preset``.
public enum PreprocessPreset: String, ExpressibleByArgument, CaseIterable, Sendable {
    /// ImageNet's mean and standard deviation: torchvision's models.
    case imagenet
    /// Mean and standard deviation 0.5: Inception-style and many timm models ([−1, 1] input).
    case inception
    /// No normalisation: the model receives pixels in [0, 1].
    case raw
    /// Pixels in 0…255, not normalised (Keras applications that normalise inside the graph).
    case raw255
    /// Keras's `caffe` mode: BGR channels in 0…255 less the ImageNet means.
    case caffe

    var preset: ONNXInputSettings.Preset { ONNXInputSettings.Preset(rawValue: rawValue)! }
}

/// `--interpolation`: a command-line name for ``Preprocessing/Interpolation``.
public enum InterpolationChoice: String, ExpressibleByArgument, CaseIterable, Sendable {
    /// PIL's and torchvision's `BILINEAR`, antialiased when shrinking.
    case bilinear
    /// PIL's `BICUBIC`, antialiased when shrinking.
    case bicubic
    /// PIL's `NEAREST`.
    case nearest

    var interpolation: Preprocessing.Interpolation { Preprocessing.Interpolation(rawValue: rawValue)! }
}

/// `--channel-order`: a command-line name for ``ONNXInputSettings/ChannelOrder``.
public enum ChannelOrderChoice: String, ExpressibleByArgument, CaseIterable, Sendable {
    /// Red, green, blue.
    case rgb
    /// Blue, green, red.
    case bgr

    var order: ONNXInputSettings.ChannelOrder { ONNXInputSettings.ChannelOrder(rawValue: rawValue)! }
}

/// `--resize N|direct`: the short side's length before the centre crop, or a plain resize to the input size.
public struct ResizeChoice: ExpressibleByArgument, Equatable, Sendable {
    /// The setting it stands for.
    public var resize: ONNXInputSettings.Resize

    public init?(argument: String) {
        if argument.lowercased() == "direct" { resize = .direct; return }
        guard let n = Int(argument), (1...8192).contains(n) else { return nil }
        resize = .shortSide(n)
    }
}

/// Three per-channel values, written `R,G,B`.
public struct ChannelTriple: ExpressibleByArgument, Equatable, Sendable {
    /// The three values, red first.
    public var values: [Float]

    public init?(argument: String) {
        let parts = argument.split(separator: ",", omittingEmptySubsequences: false).map { Float($0.trimmingCharacters(in: .whitespaces)) }
        guard parts.count == 3, parts.allSatisfy({ $0 != nil && $0!.isFinite }) else { return nil }
        values = parts.map { $0! }
    }
}

/// `--input-size`, `--resize`, `--crop`, `--interpolation`, `--preprocess`, `--mean`, `--std`, `--channel-order`
/// and `--labels`:
/// what an ONNX model needs to be told. Each option overrides the same setting in the file's metadata
/// (``ONNXInputSettings``); what neither gives follows torchvision's evaluation transform.
public struct ONNXModelOptions: ParsableArguments {
    @Option(help: "ONNX models: the square input side (default: the file's metadata, else the size it declares, else 224; 1…4096).")
    public var inputSize: Int?
    @Option(help: ArgumentHelp("ONNX models: resize the short side to N, then centre-crop the input size; 'direct' resizes the whole image to the input size (default: round(input size / 0.875), torchvision's Resize(256) + CenterCrop(224)).",
                               valueName: "N|direct"))
    public var resize: ResizeChoice?
    @Option(help: "ONNX models: the centre crop's side, which is the input size (same as --input-size).")
    public var crop: Int?
    @Option(help: "ONNX models: resizing, \(InterpolationChoice.allCases.map(\.rawValue).joined(separator: "|")) as PIL and torchvision (default bilinear).")
    public var interpolation: InterpolationChoice?
    @Option(help: "ONNX models: normalisation preset, \(PreprocessPreset.allCases.map(\.rawValue).joined(separator: "|")) (default imagenet).")
    public var preprocess: PreprocessPreset?
    @Option(help: "ONNX models: per-channel mean R,G,B in [0, 1] units (overrides --preprocess).")
    public var mean: ChannelTriple?
    @Option(help: "ONNX models: per-channel standard deviation R,G,B, each > 0 (overrides --preprocess).")
    public var std: ChannelTriple?
    @Option(help: "ONNX models: the order of the colour channels the model takes, rgb|bgr (default: the preset's, BGR for caffe, else the file's metadata, else rgb); --mean and --std stay R,G,B.")
    public var channelOrder: ChannelOrderChoice?
    @Option(help: "ONNX models: a text file of class names, one a line (default: the file's metadata, else ImageNet's when there are 1000 outputs).")
    public var labels: String?

    public init() {}

    /// Whether any of these options was given.
    public var isUsed: Bool {
        inputSize != nil || resize != nil || crop != nil || interpolation != nil || preprocess != nil || mean != nil
            || std != nil || labels != nil || channelOrder != nil
    }

    public func validate() throws {
        for (flag, value) in [("--input-size", inputSize), ("--crop", crop)] {
            if let value, !(1...4096).contains(value) { throw ValidationError("\(flag) must be in 1…4096, got \(value)") }
        }
        if let inputSize, let crop, inputSize != crop {
            throw ValidationError("--crop \(crop) and --input-size \(inputSize) contradict each other: the crop is the input")
        }
        if let side = inputSize ?? crop, case .shortSide(let n)? = resize?.resize, n < side {
            throw ValidationError("--resize \(n) is smaller than the crop \(side): the short side must be at least the crop")
        }
        if let std, std.values.contains(where: { $0 <= 0 }) {
            throw ValidationError("--std values must be positive, got \(std.values.map { "\($0)" }.joined(separator: ","))")
        }
        if let labels, labels.isEmpty { throw ValidationError("--labels needs a file name, got ''") }
    }

    /// The settings these options give (class names read from `--labels`); unset ones stay nil.
    public func settings() throws -> ONNXInputSettings {
        var s = ONNXInputSettings()
        s.inputSize = inputSize ?? crop
        s.resize = resize?.resize
        s.interpolation = interpolation?.interpolation
        s.preset = preprocess?.preset
        s.mean = mean?.values
        s.std = std?.values
        s.channelOrder = channelOrder?.order
        if let labels {
            do {
                s.labels = ONNXInputSettings.lines(try String(contentsOfFile: labels, encoding: .utf8))
            } catch {
                throw ValidationError("--labels \(labels): cannot read the file (\(error.localizedDescription))")
            }
        }
        return s
    }

    /// The ONNX classifier in `path` with these options over the file's metadata.
    public func load(_ path: String) throws -> ONNXClassifier {
        let url = URL(fileURLWithPath: path)
        let given = try settings()
        let hashing = SHA256.startHashing(fileAt: url)
        let model = try ONNXModel(contentsOf: url)
        let settings = given.overriding(try ONNXInputSettings(metadata: model.metadata, file: model.file))
        let digest = try? hashing.wait().hexString
        return try ONNXClassifier(model, identity: ModelIdentity(architecture: "onnx", weights: url.lastPathComponent, weightsSHA256: digest),
                                  preprocessing: settings.preprocessing(declaredSize: model.inputs.first?.shape?[2], file: model.file),
                                  classNames: settings.labels, channelOrder: settings.resolvedChannelOrder)
    }
}
