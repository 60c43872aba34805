import Foundation
import FovExModels
import FovExTensor

/// An image classifier read from an ONNX file, runnable forward and backward like the built-in models.
///
///     let model = try ONNXClassifier(contentsOf: URL(fileURLWithPath: "resnet50.onnx"))
///     let logits = model.logits(pixels)          // [N, 3, S, S] in [0, 1]
///
/// The graph is compiled once at load (constant sub-graphs evaluated, batch norms folded, convolution chains
/// fused, every node bound to a differentiable tensor op) and checked with one forward pass on a blank image,
/// which fixes the output's shape, the inner points and the default CAM point, and one on two images, which
/// tells whether the graph takes batches (``acceptsBatches``). Every node records on the
/// autodiff tape, so gradients with respect to the input and to any node's output (capture it by its ONNX
/// value name) work. The batch size is free.
public final class ONNXClassifier: ImageClassifier, PrecisionSelectable {
    /// Architecture `onnx` and the file's name as the weights' source (``init(_:identity:preprocessing:classNames:)``
    /// takes any identity; `fovex` records the file's SHA-256 in it).
    public let identity: ModelIdentity
    /// How photos become the model's input; the model applies its `mean` and `std` itself. This is what was
    /// given at load, else what the file's metadata records (``ONNXInputSettings``), else torchvision's
    /// evaluation transform at the declared size.
    public var preprocessing: Preprocessing
    /// One name per output: those given at load, else the file's `labels` metadata, else ImageNet's classes for
    /// 1000 outputs, else `class i`.
    public let classNames: [String]
    /// The float values of rank 3 or more the graph computes from its input, in execution order, by their
    /// ONNX names (a fused convolution chain is one point, named by its last node's output).
    public let innerPoints: [String]
    /// The inner point CAM methods read unless told otherwise: for a transformer (a graph with Softmax), the
    /// tokens entering the final normalisation; otherwise the last 4-D activation with a spatial extent, the
    /// input of global pooling.
    public let defaultCAMPoint: String
    /// The parsed model (inputs, outputs, opset, op counts, metadata), without its weights, which the compiled
    /// graph holds in the layouts its kernels read.
    public let model: ONNXModel
    /// Shapes of every value for a single image, as the load-time check computed them.
    public let valueShapes: [String: [Int]]
    /// Whether the graph takes a batch of several images; when it fixes the batch at one (an export without a
    /// dynamic batch axis, found at load by running two images together), batches run image by image.
    public let acceptsBatches: Bool
    /// The precision of the graph's convolutions and matrix products (fp32 unless set; see ``Precision``). Every
    /// other node computes in fp32, as in the built-in models.
    public var precision: Precision = .fp32
    private let program: ONNXProgram
    /// The attention points and head path of a Vision Transformer graph, or why the graph has none.
    let tokenSurface: Result<ONNXTokenSurface, ONNXError>

    /// Reads and compiles the model in `url` (external data files beside it included). The identity names the
    /// file; `fovex` adds its SHA-256.
    ///
    /// - Parameters:
    ///   - url: the `.onnx` file.
    ///   - preprocessing: how images become the model's input; by default what the file's metadata records,
    ///     with torchvision's evaluation transform for the rest (``ONNXInputSettings``), at the input size the
    ///     graph declares (224 when it declares none).
    ///   - classNames: one name per output; by default the file's `labels` metadata, else ImageNet's when the
    ///     model has 1000 outputs, else `class i`.
    /// - Throws: ``ONNXError`` and ``UnsupportedONNXOperatorsError`` (before any work is done) naming the file.
    public convenience init(contentsOf url: URL, preprocessing: Preprocessing? = nil, classNames: [String]? = nil) throws {
        let model = try ONNXModel(contentsOf: url)
        try self.init(model, identity: ModelIdentity(architecture: "onnx", weights: url.lastPathComponent),
                      preprocessing: preprocessing, classNames: classNames)
    }

    /// Compiles an already parsed model; `preprocessing` and `classNames` default as in
    /// ``init(contentsOf:preprocessing:classNames:)``.
    public init(_ model: ONNXModel, identity: ModelIdentity, preprocessing: Preprocessing? = nil,
                classNames: [String]? = nil) throws {
        let program = try ONNXProgram(model)
        let declared = model.inputs[0].shape
        if let declared {
            guard declared.count == 4, declared[1] == nil || declared[1] == 3 else {
                throw ONNXError(file: model.file, problem: "input '\(model.inputs[0].name)' has shape "
                    + "\(model.inputs[0].shapeDescription); an image classifier takes [N, 3, H, W]")
            }
        }
        // Settings the file records in its metadata apply when the caller gives none.
        let recorded = try ONNXInputSettings(metadata: model.metadata, file: model.file)
        let preprocessing = try preprocessing ?? recorded.preprocessing(declaredSize: declared?[2], file: model.file)
        let classNames = classNames ?? recorded.labels
        let size = preprocessing.inputSize
        var shapes: [String: [Int]] = [:]
        let probe: Tensor = try withoutGradients {
            try program.run(Tensor(zeros: [1, 3, size, size]), shapes: &shapes).output
        }
        guard probe.rank == 2, probe.shape[0] == 1, probe.shape[1] >= 1 else {
            throw ONNXError(file: model.file, problem: "output '\(program.outputName)' has shape \(probe.shape) for one "
                + "\(size)×\(size) image; a classifier's output must be [N, classes]")
        }
        let classes = probe.shape[1]
        // A second probe, two different images at once: a graph that fixes its batch at one either fails on it or
        // (a Reshape to [1, …]) mixes the images, and the first row then differs from the single image's logits.
        let pair = Tensor.concatenate([Tensor(zeros: [1, 3, size, size]), Tensor(zeros: [1, 3, size, size]) + 0.5], axis: 0)
        let pairLogits = try? withoutGradients { try program.run(pair).output }
        if let pairLogits, pairLogits.shape == [2, classes] {
            let first = pairLogits.sliced(axis: 0, 0..<1).scalars, single = probe.scalars
            let scale = max(single.map { abs($0) }.max() ?? 0, 1e-3)
            acceptsBatches = zip(first, single).allSatisfy { abs($0 - $1) <= 1e-3 * scale }
        } else {
            acceptsBatches = false
        }
        if let classNames, classNames.count != classes {
            throw ONNXError(file: model.file, problem: "the model has \(classes) outputs, but \(classNames.count) class names were given")
        }
        self.classNames = classNames ?? (classes == 1000 ? ImageNetClasses.names : (0..<classes).map { "class \($0)" })
        self.preprocessing = preprocessing
        self.identity = identity
        self.model = model.droppingInitializers()
        self.program = program
        self.valueShapes = shapes
        let points = program.steps.flatMap(\.outputs).filter { (shapes[$0]?.count ?? 0) >= 3 }
        innerPoints = points
        let camPoint = ONNXClassifier.camPoint(model: model, program: program, points: points, shapes: shapes)
        defaultCAMPoint = camPoint ?? points.last ?? program.outputName
        tokenSurface = ONNXClassifier.tokenSurface(program: program, shapes: shapes, tokens: camPoint, size: size)
    }

    /// The attention points and head path GAE and class-embedding projection read, or why the graph has none;
    /// the head path is checked on one blank image (``ONNXTokenSurface/checkClassTokenPath(tokens:logits:program:)``).
    private static func tokenSurface(program: ONNXProgram, shapes: [String: [Int]], tokens: String?, size: Int)
        -> Result<ONNXTokenSurface, ONNXError> {
        // Only graphs with a Softmax can have attention: the rest are refused without another pass.
        guard program.steps.contains(where: { $0.node.opType == "Softmax" }) else {
            return .failure(ONNXError(file: program.file, problem: "no attention Softmax: the graph is not a transformer"))
        }
        let found = ONNXTokenSurface.find(program: program, shapes: shapes, tokens: tokens)
        guard case .success(let surface) = found else { return found }
        do {
            let (logits, captured) = try withoutGradients {
                try program.run(Tensor(zeros: [1, 3, size, size]), capturing: [surface.tokens])
            }
            if let problem = surface.checkClassTokenPath(tokens: captured[surface.tokens]!, logits: logits, program: program) {
                return .failure(problem)
            }
        } catch let e as ONNXError {
            return .failure(e)
        } catch {
            return .failure(ONNXError(file: program.file, problem: "\(error)"))
        }
        return found
    }

    /// The CAM point: for a transformer (a graph with Softmax over tokens), the token tensor entering the final
    /// normalisation; otherwise the last 4-D activation with a spatial extent (the input of global pooling).
    static func camPoint(model: ONNXModel, program: ONNXProgram, points: [String], shapes: [String: [Int]]) -> String? {
        let isTransformer = program.steps.contains { $0.node.opType == "Softmax" }
        if isTransformer {
            // The input of a layer norm: LayerNormalization's, or the X of Sub(X, ReduceMean(X)) in the
            // opset-13 decomposition; the last one that is a [1, T, C] token tensor over a square grid.
            let producers = Dictionary(program.steps.flatMap { s in s.outputs.map { ($0, s.node) } }, uniquingKeysWith: { a, _ in a })
            var candidates: [String] = []
            for step in program.steps {
                let n = step.node
                if n.opType == "LayerNormalization" { candidates.append(n.inputs[0]) }
                if n.opType == "Sub", n.inputs.count == 2, let m = producers[n.inputs[1]], m.opType == "ReduceMean",
                   m.inputs.first == n.inputs[0] { candidates.append(n.inputs[0]) }
            }
            if let c = candidates.last(where: { tokenGrid(shapes[$0]) != nil }) { return c }
        }
        return points.last { name in
            guard let s = shapes[name], s.count == 4 else { return false }
            return s[2] * s[3] > 1
        }
    }

    /// The patch grid side and whether a class token leads, for [N, T, C] tokens over a square grid.
    static func tokenGrid(_ shape: [Int]?) -> (side: Int, classToken: Bool)? {
        guard let shape, shape.count == 3 else { return nil }
        for (tokens, classToken) in [(shape[1] - 1, true), (shape[1], false)] where tokens > 0 {
            let side = Int(Double(tokens).squareRoot().rounded())
            if side * side == tokens && side > 1 { return (side, classToken) }
        }
        return nil
    }

    /// Runs the model on [N, 3, S, S] pixels in [0, 1] and returns the logits [N, classes] with the requested
    /// inner points, all on the autodiff tape.
    ///
    /// The load-time probes ran the graph at ``preprocessing``'s size with one and two images, so any batch at
    /// that size runs. An input the graph cannot take (another size, when a node fixes it) stops the program
    /// as a caller's error; use ``run(_:capturing:)`` to get a thrown ``ONNXError`` naming the node instead.
    public func forward(_ pixels: Tensor, capturing points: Set<String>) -> ClassifierOutput {
        do {
            let (logits, captured) = try run(pixels, capturing: points)
            return ClassifierOutput(logits: logits, captured: captured)
        } catch {
            // The load-time pass ran this graph; an input of another size that breaks it is a caller's error.
            preconditionFailure("\(error)")
        }
    }

    /// Runs the model on [N, 3, S, S] pixels in [0, 1], throwing (rather than stopping) when a node cannot
    /// take the input.
    ///
    /// - Parameters:
    ///   - pixels: [N, 3, S, S] images with values in [0, 1], not normalised.
    ///   - points: ONNX value names (from ``innerPoints``) to return in `captured`.
    /// - Throws: ``ONNXError`` naming the file when `pixels` is not [N, 3, H, W] or a node fails on it.
    public func run(_ pixels: Tensor, capturing points: Set<String> = []) throws -> (logits: Tensor, captured: [String: Tensor]) {
        guard pixels.rank == 4, pixels.shape[1] == 3 else {
            throw ONNXError(file: model.file, problem: "input must be [N, 3, H, W] pixels, got \(pixels.shape)")
        }
        let x = preprocessing.normalized(pixels)
        let views = (try? tokenSurface.get())?.views ?? [:]
        return try withPrecision(precision) {
            guard !acceptsBatches && x.shape[0] > 1 else {
                let result = try program.run(x, capturing: points, views: views)
                return (result.output, result.captured)
            }
            // Image by image, in lock-step, so that captured points stay on the gradient path (see runLanes).
            let lanes = try program.runLanes((0..<x.shape[0]).map { x.sliced(axis: 0, $0..<($0 + 1)) }, capturing: points,
                                             views: views)
            return (Tensor.concatenate(lanes.outputs, axis: 0), lanes.captured)
        }
    }

    /// Tokens [N, T, C] become [N, C, h, w] over the patch grid (a leading class token dropped); other
    /// tensors pass unchanged.
    public func spatialMap(of captured: Tensor, at point: String) -> Tensor {
        guard captured.rank == 3, let grid = ONNXClassifier.tokenGrid(captured.shape) else { return captured }
        let tokens = grid.classToken ? captured.sliced(axis: 1, 1..<captured.shape[1]) : captured
        return tokens.reshaped([captured.shape[0], grid.side, grid.side, captured.shape[2]]).permuted([0, 3, 1, 2])
    }
}

/// GAE and class-embedding projection on a Vision Transformer graph: the attention points and the head path
/// are found from the graph at load (``ONNXTokenSurface``). A graph that lacks a part (no attention Softmax,
/// no class token, a pooled head) reports it in ``tokenSurfaceProblem``, which the explainers refuse with.
extension ONNXClassifier: TokenClassifier {
    /// The transformer blocks found (one per attention Softmax over all token pairs); 0 when the graph has none.
    public var blockCount: Int { (try? tokenSurface.get())?.blocks.count ?? 0 }

    /// Why GAE and class-embedding projection cannot read this graph, naming the file and the missing part; nil
    /// when they can.
    public var tokenSurfaceProblem: String? {
        if case .failure(let e) = tokenSurface { return e.description }
        return nil
    }

    /// Block `i`'s Softmax output, captured as [N, heads, T, T] (an [N·heads, T, T] export is re-laid out at
    /// the capture point, and the graph goes on from there).
    public func attentionProbabilitiesPoint(block i: Int) -> String { surfaceBlock(i).probabilities }

    /// The input of block `i`'s residual sum after its attention, captured as [N, T, C].
    public func attentionOutputPoint(block i: Int) -> String { surfaceBlock(i).output }

    /// The graph's own final norm, class-token selection and head, run on each token as a one-token sequence.
    public func projectTokensToClasses(_ tokens: Tensor) -> Tensor {
        guard case .success(let surface) = tokenSurface else { preconditionFailure("\(tokenSurfaceProblem ?? "")") }
        do { return try withPrecision(precision) { try surface.project(tokens, program: program) } } catch {
            // The load-time check ran this path on one image's tokens; tokens of another width are a caller's error.
            preconditionFailure("\(error)")
        }
    }

    private func surfaceBlock(_ i: Int) -> ONNXTokenSurface.Block {
        guard case .success(let surface) = tokenSurface, surface.blocks.indices.contains(i) else {
            preconditionFailure("block \(i) of \(blockCount): \(tokenSurfaceProblem ?? "")")
        }
        return surface.blocks[i]
    }
}
