import FovExTensor

/// How a model wants its images prepared before they reach it as [0, 1] pixels, and the
/// normalisation it applies to them itself.
public struct Preprocessing: Sendable, Codable, Equatable {
    /// How an image of any size becomes the model's square input.
    public enum Geometry: Sendable, Codable, Equatable {
        /// Resize straight to `size`×`size` (aspect ratio not kept; the paper's choice).
        case direct(size: Int)
        /// Resize the short side to `resize`, then crop the centre `crop`×`crop`.
        case shortSideThenCenterCrop(resize: Int, crop: Int)
    }

    /// How resizing interpolates.
    public enum Interpolation: String, Sendable, Codable, Equatable {
        /// Linear in each direction (PIL and torchvision `BILINEAR`).
        case bilinear
        /// Keys' cubic convolution: a = −0.75 as PyTorch's, or a = −0.5 as PIL's when antialiased; upscaled values are clamped to [0, 1].
        case bicubic
        /// The pixel whose cell holds the output pixel's centre (PIL and torchvision `NEAREST`); never antialiased.
        case nearest
    }

    /// How the image becomes a square.
    public var geometry: Geometry
    /// How resizing interpolates.
    public var interpolation: Interpolation
    /// Antialiased downscaling (as PIL and torchvision's `antialias=True`).
    public var antialias: Bool
    /// Per-channel mean in [0, 1] units: the model computes (x − mean) / std.
    public var mean: [Float]
    /// Per-channel standard deviation in [0, 1] units.
    public var std: [Float]

    /// A preparation with these choices; `mean` and `std` have one value per channel.
    public init(geometry: Geometry, interpolation: Interpolation, antialias: Bool, mean: [Float], std: [Float]) {
        self.geometry = geometry
        self.interpolation = interpolation
        self.antialias = antialias
        self.mean = mean
        self.std = std
    }

    /// The side of the square input the model receives.
    public var inputSize: Int {
        switch geometry {
        case .direct(let s): return s
        case .shortSideThenCenterCrop(_, let c): return c
        }
    }
}

/// What a model is and which weights it carries, recorded with every result.
public struct ModelIdentity: Sendable, Codable, Equatable {
    /// The architecture's name, e.g. `resnet50`, `vit-b16`, `efficientnet-lite0`.
    public var architecture: String
    /// Where the weights came from (a file name, or `random(seed: 42)`).
    public var weights: String
    /// SHA-256 of the weights file, when loaded from one.
    public var weightsSHA256: String?

    /// An identity to record with results.
    public init(architecture: String, weights: String, weightsSHA256: String? = nil) {
        self.architecture = architecture
        self.weights = weights
        self.weightsSHA256 = weightsSHA256
    }
}

/// The result of a forward pass: logits, and the inner tensors that were asked for by name.
public struct ClassifierOutput {
    /// [N, classes]
    public var logits: Tensor
    /// Inner tensors by point name, as the network computed them (differentiable: a gradient of
    /// anything computed from `logits` can be taken with respect to them).
    public var captured: [String: Tensor]

    /// The output of a forward pass; `captured` holds exactly the points that were asked for.
    public init(logits: Tensor, captured: [String: Tensor]) {
        self.logits = logits
        self.captured = captured
    }
}

/// An image classifier that explainers and metrics can run forward and backward.
///
/// Input is a batch of RGB images [N, 3, S, S] with values in [0, 1] (pixel space); the model
/// applies its own normalisation inside `forward`, so masking, blurring and foveation happen
/// in pixel space before it, as the specs require.
public protocol ImageClassifier: AnyObject {
    /// What the model is and which weights it carries, recorded with every result.
    var identity: ModelIdentity { get }
    /// How photos become its input; it applies ``Preprocessing/mean`` and ``Preprocessing/std`` itself, in ``forward(_:capturing:)``.
    var preprocessing: Preprocessing { get }
    /// Class names in index order (ImageNet-1k for the built-in models).
    var classNames: [String] { get }
    /// Names of the inner points `forward` can capture, in network order.
    var innerPoints: [String] { get }
    /// The point Grad-CAM-style explainers use unless told otherwise.
    var defaultCAMPoint: String { get }

    /// Runs the network on [N, 3, S, S] pixels in [0, 1], capturing the named inner points.
    func forward(_ pixels: Tensor, capturing points: Set<String>) -> ClassifierOutput

    /// Turns a captured tensor into a spatial map [N, C, h, w] for CAM-style methods (for a ViT,
    /// tokens [N, p + h·w, C] with the p prefix tokens dropped and the rest reshaped to a grid).
    func spatialMap(of captured: Tensor, at point: String) -> Tensor
}

extension ImageClassifier {
    /// Logits [N, classes] for [N, 3, S, S] pixels in [0, 1].
    public func logits(_ pixels: Tensor) -> Tensor { forward(pixels, capturing: []).logits }

    public func spatialMap(of captured: Tensor, at point: String) -> Tensor { captured }

    /// Class probabilities without recording gradients.
    public func probabilities(_ pixels: Tensor) -> Tensor { withoutGradients { logits(pixels).softmax() } }
}

/// A Vision Transformer's extra surface: per-block attention probabilities and the projection of
/// tokens onto class space that class-embedding projection needs.
public protocol TokenClassifier: ImageClassifier {
    /// Number of transformer blocks.
    var blockCount: Int { get }
    /// Point name of block `i`'s attention probabilities, [N, heads, T, T].
    func attentionProbabilitiesPoint(block i: Int) -> String
    /// Point name of block `i`'s attention sub-layer output (after the projection), [N, T, C].
    func attentionOutputPoint(block i: Int) -> String
    /// The number of tokens before the patch tokens: 1 for a class token, 2 for a distilled DeiT's class and
    /// distillation tokens, 1 + r with r register tokens. The patch grid's tokens follow them in row-major order.
    var prefixTokenCount: Int { get }
    /// The prefix tokens the head reads, in order: [0] for a class token; [0, 1] for a distilled DeiT, whose
    /// logits average a head on each. Generic attention reads these tokens' relevance rows.
    var readOutTokens: [Int] { get }
    /// The model's final norm and head applied to every token: [N, T, C] → [N, T, classes].
    func projectTokensToClasses(_ tokens: Tensor) -> Tensor
    /// Why the members above cannot be used, or nil when they can: a model read from a file (an ONNX graph) is a
    /// token classifier only when its graph has the attention and class-token path, and says what it lacks.
    var tokenSurfaceProblem: String? { get }
    /// Why ``projectTokensToClasses(_:)`` cannot be used although the attention surface can, or nil when it
    /// can: a head that reads two tokens (a distilled DeiT) has no single token's read-out.
    var tokenProjectionProblem: String? { get }
}

extension TokenClassifier {
    /// A built-in Vision Transformer always has its attention surface.
    public var tokenSurfaceProblem: String? { nil }
    /// A built-in Vision Transformer's head reads its class token alone.
    public var tokenProjectionProblem: String? { nil }
    /// A built-in Vision Transformer has one class token before its patches.
    public var prefixTokenCount: Int { 1 }
    /// A built-in Vision Transformer's head reads its class token.
    public var readOutTokens: [Int] { [0] }
}

extension ImageClassifier {
    /// The model as a token classifier whose attention surface can be used, or nil.
    public var usableTokenClassifier: (any TokenClassifier)? {
        guard let vit = self as? TokenClassifier, vit.tokenSurfaceProblem == nil else { return nil }
        return vit
    }

    /// The model as a token classifier whose tokens can be projected onto the classes, or nil.
    public var projectableTokenClassifier: (any TokenClassifier)? {
        guard let vit = usableTokenClassifier, vit.tokenProjectionProblem == nil else { return nil }
        return vit
    }
}
