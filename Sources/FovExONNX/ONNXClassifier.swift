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
    /// The inner point CAM methods read unless told otherwise: for a transformer, the output of the layer norm
    /// before its last attention over the tokens (timm's `blocks[-1].norm1`); otherwise the last square 4-D
    /// activation with a spatial extent, the input of global pooling (or an MLP-Mixer's last tokens).
    public let defaultCAMPoint: String
    /// The parsed model (inputs, outputs, opset, op counts, metadata), without its weights, which the compiled
    /// graph holds in the layouts its kernels read.
    public let model: ONNXModel
    /// Shapes of every value for a single image, as the load-time check computed them.
    public let valueShapes: [String: [Int]]
    /// Whether the graph takes a batch of several images; when it fixes the batch at one (an export without a
    /// dynamic batch axis, found at load by running two images together), batches run image by image.
    public let acceptsBatches: Bool
    /// The Softmax or LogSoftmax node that ends the graph, when it does: it is left out, so that the model's logits
    /// are that node's input, as for every other model (probabilities are computed from them).
    public var outputSoftmax: String? { program.outputSoftmax.map { "\($0.opType) node '\($0.name)'" } }
    /// Whether the graph takes channels-last images, [N, H, W, 3] (a TensorFlow model converted by tf2onnx), as its
    /// declared input shape says. The classifier's methods take [N, 3, H, W] pixels either way and lay them out.
    public var takesChannelsLast: Bool { program.inputIsChannelsLast }
    /// The order of the colour channels the graph takes. Pixels are RGB, and ``preprocessing``'s mean and std are
    /// red first; for BGR the normalised channels are reversed.
    public let channelOrder: ONNXInputSettings.ChannelOrder
    /// The precision of the graph's convolutions and matrix products (fp32 unless set; see ``Precision``). Every
    /// other node computes in fp32, as in the built-in models.
    public var precision: Precision = .fp32
    let program: ONNXProgram
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
    ///   - channelOrder: the order of the colour channels the graph takes; by default what the file's metadata
    ///     records (``ONNXInputSettings/resolvedChannelOrder``), else RGB.
    public convenience init(contentsOf url: URL, preprocessing: Preprocessing? = nil, classNames: [String]? = nil,
                            channelOrder: ONNXInputSettings.ChannelOrder? = nil) throws {
        let model = try ONNXModel(contentsOf: url)
        try self.init(model, identity: ModelIdentity(architecture: "onnx", weights: url.lastPathComponent),
                      preprocessing: preprocessing, classNames: classNames, channelOrder: channelOrder)
    }

    /// Compiles an already parsed model; `preprocessing`, `classNames` and `channelOrder` default as in
    /// ``init(contentsOf:preprocessing:classNames:channelOrder:)``.
    public init(_ model: ONNXModel, identity: ModelIdentity, preprocessing: Preprocessing? = nil,
                classNames: [String]? = nil, channelOrder: ONNXInputSettings.ChannelOrder? = nil) throws {
        let program = try ONNXProgram(model, endingBeforeSoftmax: true)
        let declared = model.inputs[0].shape
        if let declared {
            guard declared.count == 4, declared[1] == nil || declared[1] == 3 || program.inputIsChannelsLast else {
                throw ONNXError(file: model.file, problem: "input '\(model.inputs[0].name)' has shape "
                    + "\(model.inputs[0].shapeDescription); an image classifier takes [N, 3, H, W] (or [N, H, W, 3])")
            }
        }
        // Settings the file records in its metadata apply when the caller gives none.
        let recorded = try ONNXInputSettings(metadata: model.metadata, file: model.file)
        let preprocessing = try preprocessing ?? recorded.preprocessing(declaredSize: declared?[2], file: model.file)
        let classNames = classNames ?? recorded.labels
        self.channelOrder = channelOrder ?? recorded.resolvedChannelOrder
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
            // A DynamicQuantizeLinear takes its range from the whole tensor, so that one image's quantization would
            // depend on the others in its batch: such graphs run image by image, as onnxruntime runs them at batch 1.
            acceptsBatches = zip(first, single).allSatisfy { abs($0 - $1) <= 1e-3 * scale }
                && !program.steps.contains { $0.node.opType == "DynamicQuantizeLinear" }
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
        defaultCAMPoint = ONNXClassifier.camPoint(program: program, points: points, shapes: shapes)
            ?? points.last ?? program.outputName
        tokenSurface = ONNXClassifier.tokenSurface(program: program, shapes: shapes,
                                                   tokens: ONNXClassifier.finalTokens(program: program, shapes: shapes), size: size)
    }

    /// The attention points and head path GAE and class-embedding projection read, or why the graph has none;
    /// the tokens the head reads are found on one blank image (``ONNXTokenSurface/examineHead(tokens:logits:program:)``).
    private static func tokenSurface(program: ONNXProgram, shapes: [String: [Int]], tokens: String?, size: Int)
        -> Result<ONNXTokenSurface, ONNXError> {
        // Only graphs with a Softmax can have attention: the rest are refused without another pass.
        guard program.steps.contains(where: { $0.node.opType == "Softmax" }) else {
            return .failure(ONNXError(file: program.file, problem: "no attention Softmax: the graph is not a transformer"))
        }
        let found = ONNXTokenSurface.find(program: program, shapes: shapes, tokens: tokens)
        guard case .success(var surface) = found else { return found }
        do {
            let (logits, captured) = try withoutGradients {
                try program.run(Tensor(zeros: [1, 3, size, size]), capturing: [surface.tokens])
            }
            if let problem = surface.examineHead(tokens: captured[surface.tokens]!, logits: logits, program: program) {
                return .failure(problem)
            }
            return .success(surface)
        } catch let e as ONNXError {
            return .failure(e)
        } catch {
            return .failure(ONNXError(file: program.file, problem: "\(error)"))
        }
    }

    /// The CAM point: for a transformer, the output of the layer norm that feeds its last attention over the
    /// tokens (timm's `blocks[-1].norm1`, as for the built-in ViT and pytorch-grad-cam's ViT recipe); otherwise the
    /// later of the tokens entering the final norm (an MLP-Mixer's) and the last square 4-D activation with a
    /// spatial extent (a CNN's input of global pooling).
    ///
    /// Not the tokens entering a transformer's final norm: the norm acts on each token alone, so when the head reads
    /// the class token, the patch tokens there get no gradient and Grad-CAM's map would be zero.
    static func camPoint(program: ONNXProgram, points: [String], shapes: [String: [Int]]) -> String? {
        if let normed = lastAttentionInput(program: program, shapes: shapes) { return normed }
        let order = Dictionary(program.steps.enumerated().flatMap { k, s in s.outputs.map { ($0, k) } },
                               uniquingKeysWith: { a, _ in a })
        // The input is square, so a feature map is too; this also passes over channels-last values ([1, h, w, C],
        // [1, 1, 1, C] after pooling), whose last two axes are not the map's.
        let spatial = points.last { name in
            guard let s = shapes[name], s.count == 4 else { return false }
            return s[2] == s[3] && s[2] > 1
        }
        switch (finalTokens(program: program, shapes: shapes), spatial) {
        case let (t?, s?): return (order[t] ?? -1) > (order[s] ?? -1) ? t : s
        case let (t, s): return t ?? s
        }
    }

    /// The output of the layer norm that the last attention over the tokens is computed from: the last Softmax
    /// over an axis of T tokens (a square patch grid after up to 16 others) that has a [1, T, C] layer-norm output
    /// among its inputs' ancestors.
    private static func lastAttentionInput(program: ONNXProgram, shapes: [String: [Int]]) -> String? {
        let steps = program.steps
        var producer: [String: Int] = [:]
        for (k, s) in steps.enumerated() { for o in s.outputs where !o.isEmpty { producer[o] = k } }
        for step in steps.reversed() where step.node.opType == "Softmax" {
            guard let shape = shapes[step.outputs[0]], shape.count >= 3 else { continue }
            var axis = step.node.int("axis", default: program.opset >= 13 ? -1 : 1)
            if axis < 0 { axis += shape.count }
            guard shape.indices.contains(axis), tokenGrid([1, shape[axis], 1]) != nil else { continue }
            var ancestors: Set<String> = [], pending = step.inputs
            while let value = pending.popLast() {
                guard ancestors.insert(value).inserted, let k = producer[value] else { continue }
                pending += steps[k].inputs.filter { !$0.isEmpty }
            }
            if let norm = steps.last(where: { s in
                guard s.node.opType == "LayerNormalization", let y = s.outputs.first, ancestors.contains(y),
                      let normed = shapes[y], normed.count == 3 else { return false }
                return normed[0] == 1 && normed[1] == shape[axis]
            }) {
                return norm.outputs[0]
            }
        }
        return nil
    }

    /// The [1, T, C] token tensor over a square grid entering the final normalisation, or the last residual sum
    /// when that comes later (a head that pools the tokens and normalises the pooled vector): where the head path
    /// that class-embedding projection runs starts.
    static func finalTokens(program: ONNXProgram, shapes: [String: [Int]]) -> String? {
        // The input of a layer norm: LayerNormalization's, or the X of Sub(X, ReduceMean(X)) in the
        // opset-13 decomposition when it was not fused.
        let producers = Dictionary(program.steps.flatMap { s in s.outputs.map { ($0, s.node) } }, uniquingKeysWith: { a, _ in a })
        var normInputs: [String] = [], residualSums: [String] = []
        for step in program.steps {
            let n = step.node
            if n.opType == "LayerNormalization" { normInputs.append(n.inputs[0]) }
            if n.opType == "Sub", n.inputs.count == 2, let m = producers[n.inputs[1]], m.opType == "ReduceMean",
               m.inputs.first == n.inputs[0] { normInputs.append(n.inputs[0]) }
            // A residual sum adds two computed token tensors (a bias or position table is a constant).
            if n.opType == "Add", step.inputs.count == 2, step.outputs.count == 1,
               step.inputs.allSatisfy({ program.constants[$0] == nil }) { residualSums.append(step.outputs[0]) }
        }
        let order = Dictionary(program.steps.enumerated().flatMap { k, s in s.outputs.map { ($0, k) } },
                               uniquingKeysWith: { a, _ in a })
        func isTokens(_ name: String) -> Bool { shapes[name]?.first == 1 && tokenGrid(shapes[name]) != nil }
        switch (normInputs.last(where: isTokens), residualSums.last(where: isTokens)) {
        case let (n?, s?): return (order[s] ?? -1) > (order[n] ?? -1) ? s : n
        case let (n, s): return n ?? s
        }
    }

    /// The patch grid of [N, T, C] tokens: its side, and how many tokens precede it (a class token, a
    /// distillation token, registers): the fewest, up to 16, that leave a square grid of side 2 or more.
    ///
    /// Up to 16 prefix tokens the fewest is the only choice for grids of side 8 or more (two squares
    /// s² < (s+1)² are 2s + 1 apart).
    static func tokenGrid(_ shape: [Int]?) -> (side: Int, prefix: Int)? {
        guard let shape, shape.count == 3 else { return nil }
        for prefix in 0...16 where shape[1] - prefix >= 4 {
            let tokens = shape[1] - prefix
            let side = Int(Double(tokens).squareRoot().rounded())
            if side * side == tokens { return (side, prefix) }
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
        let normalized = preprocessing.normalized(pixels)
        let x = channelOrder == .rgb ? normalized : Tensor.concatenate((0..<3).reversed().map {
            normalized.sliced(axis: 1, $0..<($0 + 1))
        }, axis: 1)
        let views = (try? tokenSurface.get())?.views ?? [:]
        return try withPrecision(precision) {
            guard !acceptsBatches && x.shape[0] > 1 else {
                let result = try program.run(x, capturing: points, views: views)
                return (result.output, result.captured)
            }
            if points.isEmpty {
                // Image by image; with nothing captured, each image's run is on its own logits' gradient path, and a
                // pass that records nothing runs its blocked chains.
                let outputs = try (0..<x.shape[0]).map { try program.run(x.sliced(axis: 0, $0..<($0 + 1)), capturing: []).output }
                return (Tensor.concatenate(outputs, axis: 0), [:])
            }
            // Image by image, in lock-step, so that captured points stay on the gradient path (see runLanes).
            let lanes = try program.runLanes((0..<x.shape[0]).map { x.sliced(axis: 0, $0..<($0 + 1)) }, capturing: points,
                                             views: views)
            return (Tensor.concatenate(lanes.outputs, axis: 0), lanes.captured)
        }
    }

    /// Tokens [N, T, C] become [N, C, h, w] over the patch grid (the prefix tokens before it dropped: a class
    /// token, a distillation token, registers); other tensors pass unchanged.
    public func spatialMap(of captured: Tensor, at point: String) -> Tensor {
        guard captured.rank == 3, let grid = ONNXClassifier.tokenGrid(captured.shape) else { return captured }
        let tokens = grid.prefix > 0 ? captured.sliced(axis: 1, grid.prefix..<captured.shape[1]) : captured
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

    /// Why class-embedding projection cannot read this graph although GAE can (a head on two tokens, or one that
    /// does not run on single tokens), naming the file; nil when it can.
    public var tokenProjectionProblem: String? {
        guard case .success(let surface) = tokenSurface, let problem = surface.projectionProblem else { return nil }
        return ONNXError(file: program.file, problem: problem).description
    }

    /// The tokens before the patch grid, found from the shape of the tokens entering the final norm.
    public var prefixTokenCount: Int { (try? tokenSurface.get())?.prefix ?? 1 }

    /// The prefix tokens the head reads, found at load by changing each alone.
    public var readOutTokens: [Int] { (try? tokenSurface.get())?.readOut ?? [] }

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
