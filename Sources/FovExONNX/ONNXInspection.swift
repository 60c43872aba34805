import Foundation
import FovExModels
import FovExTensor

/// What `fovex models inspect` reports about an ONNX file: its interface, the ops it uses, which of them
/// cannot run, and (when it runs) the layers CAM methods can use.
public struct ONNXInspection: Encodable {
    public struct Tensor: Encodable {
        public var name: String
        public var elementType: String
        public var shape: String
    }

    public struct UnsupportedUse: Encodable {
        public var opType: String
        public var node: String
        public var reason: String
    }

    /// A layer a CAM method can explain: an inner point's name and its shape for one image.
    public struct CAMCandidate: Encodable {
        public var point: String
        public var shape: [Int]
        public var isDefault: Bool
    }

    public var file: String
    public var producer: String
    public var opset: Int
    public var inputs: [Tensor]
    public var outputs: [Tensor]
    /// Op type → number of nodes, sorted by op type in `operatorCountsSorted`.
    public var operatorCounts: [String: Int]
    public var unsupported: [UnsupportedUse]
    /// Why the model cannot be used as a classifier (an opset, an output shape…), when it cannot.
    public var problem: String?
    /// Output classes, when the model loads.
    public var classes: Int?
    public var camCandidates: [CAMCandidate]
    public var metadata: [String: String]

    /// Reads `url` and tries to load it as a classifier at `inputSize` (by default the size it declares).
    ///
    /// - Throws: ``ONNXError`` only when the file cannot be parsed at all; every other problem is reported
    ///   in the result.
    public init(contentsOf url: URL, inputSize: Int? = nil) throws {
        let model = try ONNXModel(contentsOf: url)
        file = url.path
        producer = model.producer
        opset = model.opset
        inputs = model.inputs.map { Tensor(name: $0.name, elementType: $0.elementType, shape: $0.shapeDescription) }
        outputs = model.outputs.map { Tensor(name: $0.name, elementType: $0.elementType, shape: $0.shapeDescription) }
        operatorCounts = model.operatorCounts
        metadata = model.metadata
        unsupported = []
        camCandidates = []
        do {
            let size = inputSize ?? model.inputs.first?.shape?[2] ?? 224
            let classifier = try ONNXClassifier(model, identity: ModelIdentity(architecture: "onnx", weights: url.lastPathComponent),
                                                preprocessing: ONNXClassifier.imageNetPreprocessing(size: size))
            classes = classifier.classNames.count
            camCandidates = classifier.innerPoints.compactMap { p in
                guard let s = classifier.valueShapes[p] else { return nil }
                let spatial = s.count == 4 ? s[2] * s[3] > 1 : ONNXClassifier.tokenGrid(s) != nil && s[2] > 1
                return spatial ? CAMCandidate(point: p, shape: s, isDefault: p == classifier.defaultCAMPoint) : nil
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
        if !metadata.isEmpty {
            lines.append("metadata:")
            lines += metadata.sorted { $0.key < $1.key }.map { "  \($0.key) = \($0.value)" }
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
        if !camCandidates.isEmpty {
            lines.append("CAM layers (--cam-point), shape for one image:")
            lines += camCandidates.map { "  \($0.point)  \($0.shape)" + ($0.isDefault ? "  (default)" : "") }
        }
        return lines.joined(separator: "\n")
    }
}
