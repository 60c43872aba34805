import Foundation
import FovExModels

/// How an ONNX model's images are prepared and its classes named: what a file may record in its
/// `metadata_props` and what the command line's `--input-size`, `--resize`, `--crop`, `--interpolation`,
/// `--preprocess`, `--mean`, `--std`, `--channel-order` and `--labels` set. Every field is optional; a missing one takes its
/// default when ``preprocessing(declaredSize:)`` resolves them.
///
/// Defaults follow torchvision's evaluation transforms, what a model trained with torchvision expects:
/// the short side resized to round(crop / 0.875) (256 for 224, 342 for 299), the centre crop×crop taken,
/// bilinear interpolation with antialiasing, ImageNet's mean and standard deviation. The crop is the input
/// size: the size the file declares, else 224.
///
/// Metadata keys (``init(metadata:file:)``; values are text, numbers as JSON lists, Python tuples or
/// comma/space separated):
///
/// | key | value | also read as |
/// |---|---|---|
/// | `input_size` | `224`, or timm's `[3, 224, 224]` | `image_size`, `crop` |
/// | `resize` | short-side length, or `direct` for a plain resize to the input size | |
/// | `crop_pct` | timm's crop fraction: resize = round(crop / crop_pct) | |
/// | `interpolation` | `bilinear`, `bicubic` or `nearest` | |
/// | `preprocess` | `imagenet`, `inception`, `raw`, `raw255` or `caffe` | |
/// | `channel_order` | `rgb` or `bgr` | |
/// | `mean`, `std` | three values in [0, 1] units | `standardization_mean`, `standardization_std` |
/// | `labels` | a JSON list of names, a JSON object index → name, or one name a line | `class_names` |
///
/// The names are those of timm's `pretrained_cfg` (`input_size`, `interpolation`, `mean`, `std`,
/// `crop_pct`) and of the plain `mean`/`std`/`class_names` keys other exporters write.
public struct ONNXInputSettings: Equatable, Sendable {
    /// How the image reaches the input size before cropping.
    public enum Resize: Equatable, Sendable {
        /// The short side becomes this length (torchvision's `Resize(int)`), then the centre is cropped.
        case shortSide(Int)
        /// The whole image resized straight to the input size, its aspect ratio not kept.
        case direct
    }

    /// The normalisation presets.
    public enum Preset: String, CaseIterable, Sendable {
        /// ImageNet's mean (0.485, 0.456, 0.406) and standard deviation (0.229, 0.224, 0.225): torchvision's models.
        case imagenet
        /// Mean and standard deviation 0.5: Inception-style and many timm models ([−1, 1] input).
        case inception
        /// No normalisation: the model receives pixels in [0, 1].
        case raw
        /// Pixels in 0…255, not normalised: Keras applications that normalise inside the graph (EfficientNet,
        /// EfficientNetV2, ConvNeXt, RegNet).
        case raw255
        /// Keras's `caffe` mode (ResNet50, VGG): blue, green, red channels in 0…255 less the ImageNet means
        /// (103.939, 116.779, 123.68 for B, G, R).
        case caffe

        /// The per-channel mean, red first.
        public var mean: [Float] {
            switch self {
            case .imagenet: return [0.485, 0.456, 0.406]
            case .inception: return [0.5, 0.5, 0.5]
            case .raw, .raw255: return [0, 0, 0]
            case .caffe: return [123.68 / 255, 116.779 / 255, 103.939 / 255]
            }
        }

        /// The per-channel standard deviation, red first.
        public var std: [Float] {
            switch self {
            case .imagenet: return [0.229, 0.224, 0.225]
            case .inception: return [0.5, 0.5, 0.5]
            case .raw: return [1, 1, 1]
            case .raw255, .caffe: return [1 / 255, 1 / 255, 1 / 255]
            }
        }

        /// The order in which the model takes the colour channels.
        public var channelOrder: ChannelOrder { self == .caffe ? .bgr : .rgb }
    }

    /// The order of the colour channels in the model's input.
    public enum ChannelOrder: String, CaseIterable, Sendable, Encodable {
        /// Red, green, blue: PyTorch's and most models'.
        case rgb
        /// Blue, green, red: OpenCV's and Caffe's, and Keras's `caffe` preprocessing.
        case bgr
    }

    /// The side of the square input, which is also the centre crop's side.
    public var inputSize: Int?
    /// How the image is resized before the crop.
    public var resize: Resize?
    /// timm's crop fraction, used for the resize when no ``resize`` is set.
    public var cropFraction: Double?
    /// How resizing interpolates.
    public var interpolation: Preprocessing.Interpolation?
    /// The normalisation preset, overridden channel by channel by ``mean`` and ``std``.
    public var preset: Preset?
    /// The per-channel mean in [0, 1] units.
    public var mean: [Float]?
    /// The per-channel standard deviation in [0, 1] units.
    public var std: [Float]?
    /// One name per output class.
    public var labels: [String]?
    /// The order of the colour channels the model takes; by default the preset's (BGR for `caffe`), else RGB.
    /// ``mean`` and ``std`` stay red first: the channels are reversed after normalising.
    public var channelOrder: ChannelOrder?

    /// The channel order these settings give: ``channelOrder``, else the preset's, else RGB.
    public var resolvedChannelOrder: ChannelOrder { channelOrder ?? preset?.channelOrder ?? .rgb }

    /// The fraction torchvision's ImageNet evaluation crops (224 of 256).
    public static let torchvisionCropFraction = 0.875

    /// No settings: every default.
    public init() {}

    /// The settings a file's `metadata_props` record (the keys in the table above; other keys are ignored).
    ///
    /// - Throws: ``ONNXError`` naming `file` and the key when a value cannot be read.
    public init(metadata: [String: String], file: String) throws {
        func problem(_ key: String, _ what: String) -> ONNXError {
            ONNXError(file: file, problem: "metadata '\(key)' = '\(metadata[key]!)': \(what)")
        }
        func value(_ keys: String...) -> (key: String, text: String)? {
            for k in keys { if let v = metadata[k] { return (k, v.trimmingCharacters(in: .whitespacesAndNewlines)) } }
            return nil
        }
        if let (key, text) = value("input_size", "image_size", "crop") {
            // timm writes (channels, height, width); a square input is all this library takes.
            guard let numbers = ONNXInputSettings.numbers(text), [1, 2, 3].contains(numbers.count),
                  let side = Int(exactly: numbers.last!), (1...4096).contains(side),
                  numbers.count == 1 || Int(exactly: numbers[numbers.count - 2]) == side else {
                throw problem(key, "expected a square side in 1…4096, e.g. 224 or [3, 224, 224]")
            }
            inputSize = side
        }
        if let (key, text) = value("resize") {
            if text.lowercased() == "direct" { resize = .direct } else {
                guard let n = Int(text), (1...8192).contains(n) else { throw problem(key, "expected a length in 1…8192 or 'direct'") }
                resize = .shortSide(n)
            }
        }
        if let (key, text) = value("crop_pct") {
            guard let f = Double(text), f > 0, f <= 1 else { throw problem(key, "expected a fraction in (0, 1]") }
            cropFraction = f
        }
        if let (key, text) = value("interpolation") {
            guard let i = Preprocessing.Interpolation(rawValue: text.lowercased()) else {
                throw problem(key, "expected bilinear, bicubic or nearest")
            }
            interpolation = i
        }
        if let (key, text) = value("preprocess") {
            guard let p = Preset(rawValue: text.lowercased()) else {
                throw problem(key, "expected \(Preset.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            preset = p
        }
        if let (key, text) = value("channel_order") {
            guard let order = ChannelOrder(rawValue: text.lowercased()) else { throw problem(key, "expected rgb or bgr") }
            channelOrder = order
        }
        if let (key, text) = value("mean", "standardization_mean") {
            guard let m = ONNXInputSettings.channelValues(text) else { throw problem(key, "expected three finite numbers") }
            mean = m
        }
        if let (key, text) = value("std", "standardization_std") {
            guard let s = ONNXInputSettings.channelValues(text), s.allSatisfy({ $0 > 0 }) else {
                throw problem(key, "expected three positive numbers")
            }
            std = s
        }
        if let (key, text) = value("labels", "class_names") {
            guard let names = ONNXInputSettings.names(text), !names.isEmpty else {
                throw problem(key, "expected a JSON list of names, a JSON object from index to name, or one name a line")
            }
            labels = names
        }
    }

    /// These settings, with every one they leave unset taken from `other` (command-line options over a
    /// file's metadata). A preset or an explicit mean/std here replaces the other's normalisation as a whole.
    public func overriding(_ other: ONNXInputSettings) -> ONNXInputSettings {
        var merged = self
        merged.inputSize = inputSize ?? other.inputSize
        if resize == nil && cropFraction == nil { (merged.resize, merged.cropFraction) = (other.resize, other.cropFraction) }
        merged.interpolation = interpolation ?? other.interpolation
        if preset == nil && mean == nil && std == nil {
            (merged.preset, merged.mean, merged.std) = (other.preset, other.mean, other.std)
            merged.channelOrder = channelOrder ?? other.channelOrder
        } else {
            // A preset given here brings its own channel order unless one is given here too.
            merged.channelOrder = channelOrder ?? (preset == nil ? other.channelOrder : nil)
            // A preset given here sets both halves; a lone --mean keeps the other side's std (and vice versa).
            merged.mean = mean ?? (preset == nil ? other.mean : nil)
            merged.std = std ?? (preset == nil ? other.std : nil)
            merged.preset = preset ?? other.preset
        }
        merged.labels = labels ?? other.labels
        return merged
    }

    /// The preprocessing these settings describe, with defaults for what they leave open.
    ///
    /// - Parameter declaredSize: the input side the graph declares, used when ``inputSize`` is not set.
    /// - Throws: ``ONNXError`` naming `file` when the resize is shorter than the crop.
    public func preprocessing(declaredSize: Int?, file: String) throws -> Preprocessing {
        let crop = inputSize ?? declaredSize ?? 224
        let geometry: Preprocessing.Geometry
        switch resize {
        case .direct?:
            geometry = .direct(size: crop)
        case .shortSide(let side)?:
            guard side >= crop else {
                throw ONNXError(file: file, problem: "the resize (short side \(side)) is smaller than the crop \(crop)")
            }
            geometry = .shortSideThenCenterCrop(resize: side, crop: crop)
        case nil:
            let fraction = cropFraction ?? ONNXInputSettings.torchvisionCropFraction
            geometry = .shortSideThenCenterCrop(resize: max(crop, Int((Double(crop) / fraction).rounded())), crop: crop)
        }
        let preset = self.preset ?? .imagenet
        return Preprocessing(geometry: geometry, interpolation: interpolation ?? .bilinear, antialias: true,
                             mean: mean ?? preset.mean, std: std ?? preset.std)
    }

    /// Numbers written as `224`, `[3, 224, 224]`, `(0.5, 0.5, 0.5)` or `0.5 0.5 0.5`.
    static func numbers(_ text: String) -> [Double]? {
        let inner = text.trimmingCharacters(in: CharacterSet(charactersIn: "[]() \t\n"))
        let parts = inner.split(whereSeparator: { $0 == "," || $0 == " " || $0 == "\t" }).map(String.init)
        guard !parts.isEmpty else { return nil }
        let values = parts.compactMap(Double.init)
        return values.count == parts.count && values.allSatisfy(\.isFinite) ? values : nil
    }

    /// Exactly three finite numbers.
    static func channelValues(_ text: String) -> [Float]? {
        guard let n = numbers(text), n.count == 3 else { return nil }
        return n.map(Float.init)
    }

    /// Class names from a JSON list, a JSON object keyed by index (0…n−1, all present), or lines of text.
    static func names(_ text: String) -> [String]? {
        if text.hasPrefix("[") || text.hasPrefix("{") {
            guard let json = try? JSONSerialization.jsonObject(with: Data(text.utf8)) else { return nil }
            if let list = json as? [String] { return list }
            if let table = json as? [String: String] {
                var byIndex: [Int: String] = [:]
                for (k, v) in table {
                    guard let i = Int(k), i >= 0 else { return nil }
                    byIndex[i] = v
                }
                guard byIndex.count == table.count, (0..<byIndex.count).allSatisfy({ byIndex[$0] != nil }) else { return nil }
                return (0..<byIndex.count).map { byIndex[$0]! }
            }
            return nil
        }
        return lines(text)
    }

    /// One name a line, surrounding spaces trimmed and trailing empty lines dropped (as `--labels` reads a file).
    public static func lines(_ text: String) -> [String] {
        Array(text.split(separator: "\n", omittingEmptySubsequences: false)
            .map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
            .reversed().drop(while: \.isEmpty).reversed())
    }
}
