import Foundation
import FovExModels
import FovExTensor

/// What `fovex models inspect` reports about an ONNX file: its interface, the ops it uses, which of them
/// cannot run, and (when it runs) the layers CAM methods can use.
public struct ONNXInspection: Encodable {
    /// A graph input or output as the report shows it.
    public struct Tensor: Encodable {
        /// The value's name in the graph.
        public var name: String
        /// The ONNX element type's name (`float`, `int64`…).
        public var elementType: String
        /// The declared shape in words (``ONNXValueInfo/shapeDescription``).
        public var shape: String
    }

    /// A node that cannot run (from ``UnsupportedONNXOperatorsError/Use``).
    public struct UnsupportedUse: Encodable {
        /// The op type, with its domain when it is not the default one.
        public var opType: String
        /// The node's name, or `#index` when the node has none.
        public var node: String
        /// Why the node cannot run: `op not supported`, or the attribute value that is not.
        public var reason: String
    }

    /// A layer a CAM method can explain: an inner point's name and its shape for one image.
    public struct CAMCandidate: Encodable {
        /// The ONNX value name, as `--cam-point` takes it.
        public var point: String
        /// The value's shape for one image: [1, C, h, w], or [1, T, C] tokens over a square patch grid.
        public var shape: [Int]
        /// Whether this is the classifier's ``ONNXClassifier/defaultCAMPoint``.
        public var isDefault: Bool
    }

    /// The model file's path.
    public var file: String
    /// The exporter's name and version (``ONNXModel/producer``); empty when the file does not say.
    public var producer: String
    /// The default (`ai.onnx`) domain's opset version.
    public var opset: Int
    /// The graph's inputs that are not initializers.
    public var inputs: [Tensor]
    /// The graph's outputs.
    public var outputs: [Tensor]
    /// Op type → number of nodes (``text`` lists them sorted by op type).
    public var operatorCounts: [String: Int]
    /// The nodes that cannot run; empty when every op is supported.
    public var unsupported: [UnsupportedUse]
    /// Why the model cannot be used as a classifier (an opset, an output shape…), when it cannot.
    public var problem: String?
    /// Output classes, when the model loads.
    public var classes: Int?
    /// The inner points with a spatial extent, in network order; empty when the model does not load.
    public var camCandidates: [CAMCandidate]
    /// One transformer block's points as GAE and class-embedding projection read them.
    public struct AttentionBlock: Encodable {
        /// The attention Softmax's output (``ONNXClassifier/attentionProbabilitiesPoint(block:)``).
        public var probabilities: String
        /// The attention sub-layer's output before the residual sum (``ONNXClassifier/attentionOutputPoint(block:)``).
        public var output: String
    }

    /// The attention points found, one per block; empty when the model does not load or has none.
    public var attentionBlocks: [AttentionBlock]
    /// Why GAE and class-embedding projection cannot explain the model (``ONNXClassifier/tokenSurfaceProblem``),
    /// when it loads but they cannot.
    public var attentionProblem: String?
    /// Why class-embedding projection cannot explain the model although GAE can
    /// (``ONNXClassifier/tokenProjectionProblem``).
    public var projectionProblem: String?
    /// The tokens before the patch grid (``ONNXClassifier/prefixTokenCount``), when attention points were found.
    public var prefixTokens: Int?
    /// The prefix tokens the head reads (``ONNXClassifier/readOutTokens``), when attention points were found.
    public var readOutTokens: [Int]?
    /// The Softmax or LogSoftmax that ends the graph, left out so that explanations read the logits before it
    /// (``ONNXClassifier/outputSoftmax``).
    public var outputSoftmax: String?
    /// The quantization the graph holds (QDQ, operator-oriented or dynamic, ``ONNXQuantization``), or nil.
    public var quantization: String?
    /// The order of the colour channels the model is fed (``ONNXClassifier/channelOrder``); nil when it does not load.
    public var channelOrder: ONNXInputSettings.ChannelOrder?
    /// The model's free-form key/value metadata (``ONNXModel/metadata``).
    public var metadata: [String: String]
    /// How images would be prepared: the file's metadata (``ONNXInputSettings``) over the defaults; nil when
    /// the model does not load.
    public var preprocessing: Preprocessing?

    /// Reads `url` and tries to load it as a classifier with `settings` over the file's metadata (by default
    /// at the size it declares).
    ///
    /// - Throws: ``ONNXError`` only when the file cannot be parsed at all; every other problem is reported
    ///   in the result.
    public init(contentsOf url: URL, settings given: ONNXInputSettings = ONNXInputSettings()) throws {
        let model = try ONNXModel(contentsOf: url)
        file = url.path
        producer = model.producer
        opset = model.opset
        inputs = model.inputs.map { Tensor(name: $0.name, elementType: $0.elementType, shape: $0.shapeDescription) }
        outputs = model.outputs.map { Tensor(name: $0.name, elementType: $0.elementType, shape: $0.shapeDescription) }
        operatorCounts = model.operatorCounts
        quantization = ONNXQuantization.form(of: model.operatorCounts)
        metadata = model.metadata
        unsupported = []
        camCandidates = []
        attentionBlocks = []
        do {
            let settings = given.overriding(try ONNXInputSettings(metadata: model.metadata, file: model.file))
            let classifier = try ONNXClassifier(model, identity: ModelIdentity(architecture: "onnx", weights: url.lastPathComponent),
                                                preprocessing: settings.preprocessing(declaredSize: model.inputs.first?.shape?[2], file: model.file),
                                                classNames: settings.labels, channelOrder: settings.resolvedChannelOrder)
            channelOrder = classifier.channelOrder
            classes = classifier.classNames.count
            outputSoftmax = classifier.outputSoftmax
            preprocessing = classifier.preprocessing
            camCandidates = classifier.innerPoints.compactMap { p in
                guard let s = classifier.valueShapes[p] else { return nil }
                let spatial = s.count == 4 ? s[2] * s[3] > 1 : ONNXClassifier.tokenGrid(s) != nil && s[2] > 1
                return spatial ? CAMCandidate(point: p, shape: s, isDefault: p == classifier.defaultCAMPoint) : nil
            }
            func withoutFile(_ problem: String) -> String {
                problem.hasPrefix(model.file + ": ") ? String(problem.dropFirst(model.file.count + 2)) : problem
            }
            attentionProblem = classifier.tokenSurfaceProblem.map(withoutFile)
            projectionProblem = classifier.tokenProjectionProblem.map(withoutFile)
            attentionBlocks = (0..<classifier.blockCount).map {
                AttentionBlock(probabilities: classifier.attentionProbabilitiesPoint(block: $0),
                               output: classifier.attentionOutputPoint(block: $0))
            }
            if !attentionBlocks.isEmpty {
                (prefixTokens, readOutTokens) = (classifier.prefixTokenCount, classifier.readOutTokens)
            }
        } catch let e as UnsupportedONNXOperatorsError {
            unsupported = e.uses.map { UnsupportedUse(opType: $0.opType, node: $0.node, reason: $0.reason ?? "op not supported") }
            problem = "\(e.uses.count) node(s) use ops this library cannot run"
        } catch let e as ONNXError {
            problem = e.problem
        }
    }

    /// The report as text, one section per topic.
    public var text: String {
        var lines = ["file:     \(file)", "producer: \(producer.isEmpty ? "-" : producer)", "opset:    \(opset)"]
        lines.append("inputs:")
        lines += inputs.map { "  \($0.name)  \($0.elementType)  \($0.shape)" }
        lines.append("outputs:")
        lines += outputs.map { "  \($0.name)  \($0.elementType)  \($0.shape)" }
        if let outputSoftmax {
            lines.append("  (ends in \(outputSoftmax), left out: the logits are its input)")
        }
        if !metadata.isEmpty {
            lines.append("metadata:")
            lines += metadata.sorted { $0.key < $1.key }.map { "  \($0.key) = \($0.value)" }
        }
        if let quantization {
            lines.append("quantized: \(quantization); it runs in float on the dequantized values, and gradients pass each "
                + "rounding straight through (zero where it saturates)")
        }
        lines.append("ops (\(operatorCounts.values.reduce(0, +)) nodes):")
        lines += operatorCounts.sorted { $0.key < $1.key }.map { "  \($0.key) \($0.value)" }
        if unsupported.isEmpty && problem == nil {
            lines.append("unsupported ops: none")
        } else if !unsupported.isEmpty {
            lines.append("unsupported ops:")
            lines += unsupported.map { "  \($0.opType) at node '\($0.node)': \($0.reason)" }
        }
        if let problem { lines.append("cannot be used as a classifier: \(problem)") }
        if let classes { lines.append("classes:  \(classes)") }
        if let p = preprocessing {
            let geometry: String
            switch p.geometry {
            case .direct(let size): geometry = "resize to \(size)×\(size)"
            case let .shortSideThenCenterCrop(resize, crop): geometry = "short side to \(resize), centre crop \(crop)×\(crop)"
            }
            func triple(_ v: [Float]) -> String { v.map { "\($0)" }.joined(separator: ",") }
            lines.append("preprocessing: \(geometry), \(p.interpolation.rawValue), mean \(triple(p.mean)), std \(triple(p.std))"
                + (channelOrder == .bgr ? ", channels reversed to BGR after normalising" : ""))
        }
        if !camCandidates.isEmpty {
            lines.append("CAM layers (--cam-point), shape for one image:")
            lines += camCandidates.map { "  \($0.point)  \($0.shape)" + ($0.isDefault ? "  (default)" : "") }
        }
        if !attentionBlocks.isEmpty {
            let methods = projectionProblem == nil ? "gae, clsemb" : "gae"
            let read = (readOutTokens ?? []).map(String.init).joined(separator: " and ")
            lines.append("attention (\(methods)), \(attentionBlocks.count) blocks, \(prefixTokens ?? 0) token(s) before the "
                + "patch grid, the head reads token\((readOutTokens ?? []).count == 1 ? "" : "s") \(read): probabilities → attention output")
            lines += attentionBlocks.map { "  \($0.probabilities) → \($0.output)" }
            if let projectionProblem { lines.append("class-embedding projection (clsemb): none: \(projectionProblem)") }
        } else if let attentionProblem {
            lines.append("attention (gae, clsemb): none: \(attentionProblem)")
        }
        return lines.joined(separator: "\n")
    }
}
