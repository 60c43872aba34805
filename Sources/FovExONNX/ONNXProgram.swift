import Foundation
import FovExTensor

/// One compiled step: a node (or a fused chain of nodes) with the values it reads and writes.
struct ONNXStep {
    /// The first node of the step, for error messages.
    let node: ONNXNode
    let inputs: [String]
    let outputs: [String]
    let kernel: ONNXKernel
    /// Values no later step reads, released once this step has run.
    var releases: [String] = []
    /// For a fused convolution with a residual sum: the kernel that may accumulate onto the residual's own
    /// storage, and whether the program may use it (see ``ONNXProgram/markConsumableResiduals(_:constants:)``).
    var consumingKernel: ONNXKernel? = nil
    var consumesResidual = false
    /// Whether the step is a convolution (with what was fused into it): its output is a new buffer, or the
    /// buffer of a residual it consumed.
    var isFusedConvolution = false
    /// What the step is as a layer of a ``BlockedConvolutionChain`` (``ONNXBlockableLayer``), when it can be one.
    var blockable: ONNXBlockableLayer? = nil
    /// At the first step of a run of blockable steps: the chain that runs the run in oneDNN's blocked layouts
    /// when nothing is recorded (``ONNXBlockedChain``).
    var chain: ONNXBlockedChain? = nil
    /// The step's position in the program, by which a chain recognises its steps in a run of part of them.
    var position = 0
}

/// A graph made ready to run: constant sub-graphs evaluated, batch norms folded into the convolutions before
/// them, convolution + residual sum + ReLU/ReLU6 chains fused, and every remaining node bound to a kernel
/// on the differentiable tensor ops.
///
/// Everything that depends on the input (shape arithmetic on the batch size included) runs at each call, so
/// the batch size is free.
final class ONNXProgram {
    let file: String
    let opset: Int
    let inputName: String
    /// Whether the graph takes its images channels-last, [N, H, W, 3] (TensorFlow's layout, which tf2onnx keeps),
    /// as its declared input shape says; ``run(_:capturing:views:shapes:)`` takes [N, 3, H, W] either way.
    let inputIsChannelsLast: Bool
    /// The value the classifier reads as its logits: the graph's output, or the input of the Softmax (or
    /// LogSoftmax) that ends the graph.
    let outputName: String
    /// The Softmax or LogSoftmax node that ended the graph, left out so that the program gives the logits.
    let outputSoftmax: ONNXNode?
    let constants: [String: ONNXValue]
    let steps: [ONNXStep]

    /// The opsets this library reads. From 22 to 28 the ops it runs changed only in the element types they allow
    /// (bfloat16, 4- and 8-bit floats), except SpaceToDepth's `mode` (28), Range's `stash_type` (27: its
    /// arithmetic is exact here) and Cast's `round_mode` (24: for 8-bit exponent-only floats, which it refuses);
    /// opset 23 added Attention (``ONNXAttention``). Before 11, ops take as attributes what later opsets take as
    /// inputs (Clip's bounds, Pad's pads, Slice's starts and ends, Split's, Squeeze's, Unsqueeze's and the
    /// reductions' axes), which each op's builder reads by the opset; Upsample (7–9) and Resize-10 resize with
    /// asymmetric coordinates (``ResizePlan``).
    static let supportedOpsets = 7...28

    /// Compiles `model`'s graph; `fusing: false` runs every node on its own (the reference the fusion tests
    /// compare with); `blocking: false` runs convolutions one by one on the differentiable ops in passes that record
    /// nothing too, as they do in passes that record (``ONNXBlockedChain``; the environment variable
    /// `FOVEX_BLOCKED_CHAINS=0` sets the default to false, for comparing the two); `endingBeforeSoftmax` leaves out
    /// a Softmax or LogSoftmax that ends the graph, so that the program's output is its input (a classifier's logits).
    ///
    /// - Throws: ``UnsupportedONNXOperatorsError`` listing every node whose op (or attribute value) is not
    ///   supported, before any work; ``ONNXError`` for an opset outside ``supportedOpsets``, a graph without exactly one
    ///   image input, or a constant sub-graph that fails.
    init(_ model: ONNXModel, fusing: Bool = true, blocking: Bool = BlockedConvolutionChain.isEnabledByDefault,
         endingBeforeSoftmax: Bool = false) throws {
        file = model.file
        opset = model.opset
        guard ONNXProgram.supportedOpsets.contains(model.opset) else {
            throw ONNXError(file: file, problem: "opset \(model.opset) is outside the supported \(ONNXProgram.supportedOpsets.lowerBound)…\(ONNXProgram.supportedOpsets.upperBound)")
        }
        guard model.inputs.count == 1 else {
            throw ONNXError(file: file, problem: "the graph has \(model.inputs.count) inputs (\(model.inputs.map(\.name))); "
                + "an image classifier has one")
        }
        guard let output = model.outputs.first else { throw ONNXError(file: file, problem: "the graph has no output") }
        inputName = model.inputs[0].name
        inputIsChannelsLast = model.inputs[0].shape.map { $0.count == 4 && $0[3] == 3 && $0[1] != 3 } ?? false

        let nodes = ONNXQuantization.expanding(ONNXAttention.expanding(model.nodes), initializers: model.initializers)
        var uses: [UnsupportedONNXOperatorsError.Use] = nodes.compactMap { n in
            ONNXOperators.builder(for: n) != nil ? nil : .init(opType: n.qualifiedOpType, node: n.name, reason: nil)
        }
        if !uses.isEmpty { throw UnsupportedONNXOperatorsError(file: file, opset: opset, uses: uses) }

        var consumers: [String: [Int]] = [:]
        for (i, n) in nodes.enumerated() { for name in n.inputs where !name.isEmpty { consumers[name, default: []].append(i) } }
        let graphOutputs = Set(model.outputs.map(\.name))
        var absorbed = Set<Int>()
        func soleConsumer(of name: String) -> (Int, ONNXNode)? {
            // A node already fused into an earlier convolution's chain is not free to join another one.
            guard !graphOutputs.contains(name), let c = consumers[name], c.count == 1, !absorbed.contains(c[0]) else { return nil }
            return (c[0], nodes[c[0]])
        }
        func readers(of name: String) -> [Int]? {
            guard !graphOutputs.contains(name), let c = consumers[name], !c.contains(where: absorbed.contains) else { return nil }
            return c
        }

        var constants = model.initializers
        if fusing {
            // Exporters write each Constant just before its first reader, after the chain's first node: the fusion
            // patterns look ahead at them (a GELU's 1 and ½, a norm's exponent and ε), so they are known first.
            for node in nodes where node.opType == "Constant" && node.outputs.count == 1 {
                if let kernel = try? ONNXOperators.builders["Constant"]!(KernelContext(node: node, opset: opset, constants: [:])),
                   let value = try? kernel([]).first {
                    constants[node.outputs[0]] = value
                }
            }
        }
        var planned: [(position: Int, step: ONNXStep)] = []
        for (i, node) in nodes.enumerated() where !absorbed.contains(i) {
            let ctx = KernelContext(node: node, opset: opset, constants: constants)
            let kernel: ONNXKernel
            if fusing, let fused = ONNXProgram.fusedChain(at: i, nodes: nodes, opset: opset, constants: constants,
                                                          consumers: readers(of:)) {
                absorbed.formUnion(fused.chain)
                planned.append((fused.position, fused.step))
                continue
            }
            do {
                if fusing && node.opType == "Conv" && !node.inputs.allSatisfy({ $0.isEmpty || constants[$0] != nil }) {
                    let (step, last, chain) = try ONNXProgram.fusedConvolution(ctx, index: i, constants: constants,
                                                                                soleConsumer: soleConsumer)
                    absorbed.formUnion(chain)
                    planned.append((last, step))
                    continue
                }
                kernel = try ONNXOperators.builder(for: node)!(ctx)
            } catch let e as UnsupportedUseError {
                uses.append(.init(opType: node.opType, node: node.name, reason: e.reason))
                continue
            }
            if node.inputs.allSatisfy({ $0.isEmpty || constants[$0] != nil }) {
                // A constant sub-graph (initializers, Constant nodes and what is computed from them only): run it now.
                let outputs: [ONNXValue]
                do {
                    outputs = try withoutGradients { try kernel(node.inputs.map { $0.isEmpty ? nil : constants[$0] }) }
                } catch {
                    throw ONNXError(file: file, problem: "node '\(node.name)' (\(node.opType)) fails on its constant inputs: \(error)")
                }
                for (name, v) in zip(node.outputs, outputs) where !name.isEmpty { constants[name] = v }
                continue
            }
            var step = ONNXStep(node: node, inputs: node.inputs, outputs: node.outputs, kernel: kernel)
            step.blockable = ONNXBlockableLayer(node, opset: opset, constants: constants)
            planned.append((i, step))
        }
        if !uses.isEmpty { throw UnsupportedONNXOperatorsError(file: file, opset: opset, uses: uses) }

        var steps = planned.enumerated().sorted { ($0.element.position, $0.offset) < ($1.element.position, $1.offset) }
            .map(\.element.step)
        // A graph exported with its probabilities (Keras models end in a softmax activation, and some PyTorch exports
        // add one) is explained from the logits before them, as every other model: a softmax output flattens the
        // target score's gradient, and FovEx's cross-entropy would apply a second softmax. Over the class axis of an
        // [N, classes] output that is axis 1 or −1 (the probe at load refuses any other output shape).
        var logits = output.name, outputSoftmax: ONNXNode?
        if endingBeforeSoftmax, let k = steps.lastIndex(where: { $0.outputs.contains(output.name) }), steps[k].outputs == [output.name],
           ["Softmax", "LogSoftmax"].contains(steps[k].node.opType), steps[k].inputs.count == 1,
           [-1, 1].contains(steps[k].node.int("axis", default: opset >= 13 ? -1 : 1)) {
            (logits, outputSoftmax) = (steps[k].inputs[0], steps[k].node)
            steps.remove(at: k)
        }
        outputName = logits
        self.outputSoftmax = outputSoftmax
        // Free each value after its last reader, so that a forward pass without gradients keeps few activations.
        var lastReader: [String: Int] = [:]
        for (k, s) in steps.enumerated() { for name in s.inputs where !name.isEmpty && constants[name] == nil { lastReader[name] = k } }
        for (name, k) in lastReader where name != outputName { steps[k].releases.append(name) }
        ONNXProgram.markConsumableResiduals(&steps, constants: constants)
        for k in steps.indices { steps[k].position = k }
        if fusing && blocking { ONNXBlockedChain.attach(to: &steps, graphOutput: outputName) }
        // Keep only the constants a step reads: the initializers a fused kernel has turned into its own weights
        // (folded batch norms, transposed MatMul weights) would otherwise be held twice.
        let read = Set(steps.flatMap(\.inputs)).union([outputName])
        self.constants = constants.filter { read.contains($0.key) }
        self.steps = steps
    }

    /// A Conv node with the BatchNormalization, Add (of a non-constant residual) and Relu or Clip(0, 6)
    /// that follow it as their output's only reader, as one oneDNN pass. The step runs at the position of the
    /// chain's last node, where the residual is ready.
    private static func fusedConvolution(_ ctx: KernelContext, index: Int, constants: [String: ONNXValue],
                                         soleConsumer: (String) -> (Int, ONNXNode)?)
        throws -> (step: ONNXStep, position: Int, chain: [Int]) {
        var plan = try ConvolutionPlan(ctx)
        var out = ctx.node.outputs[0], last = index, chain: [Int] = [], inputs = [ctx.node.inputs[0]]
        func constant(_ node: ONNXNode, _ i: Int) -> Tensor? {
            guard i < node.inputs.count, case .float(let t)? = constants[node.inputs[i]] else { return nil }
            return t
        }
        if let (j, bn) = soleConsumer(out), bn.opType == "BatchNormalization", bn.inputs.first == out,
           bn.int("training_mode", default: 0) == 0, !bn.outputs.dropFirst().contains(where: { !$0.isEmpty }),
           let scale = constant(bn, 1), let offset = constant(bn, 2), let mean = constant(bn, 3), let variance = constant(bn, 4),
           [scale, offset, mean, variance].allSatisfy({ $0.count == plan.weight.shape[0] }) {
            let folded = foldBatchNorm(intoConvWeight: plan.weight, bias: plan.bias, mean: mean, variance: variance,
                                       scale: scale, offset: offset, epsilon: bn.float("epsilon", default: 1e-5))
            (plan.weight, plan.bias) = (folded.weight, folded.bias)
            (out, last) = (bn.outputs[0], j)
            chain.append(j)
        }
        if let (j, add) = soleConsumer(out), add.opType == "Add", add.inputs.count == 2, add.inputs[0] != add.inputs[1] {
            let other = add.inputs[0] == out ? add.inputs[1] : add.inputs[0]
            if constants[other] == nil {
                plan.hasResidual = true
                inputs.append(other)
                (out, last) = (add.outputs[0], j)
                chain.append(j)
            }
        }
        if let (j, act) = soleConsumer(out) {
            var activation: ConvActivation?
            if act.opType == "Relu" { activation = .relu }
            if act.opType == "Clip" {
                let lower = ctx.opset < 11 ? act.float("min", default: -.infinity) : constant(act, 1)?.scalars.first
                let upper = ctx.opset < 11 ? act.float("max", default: .infinity) : constant(act, 2)?.scalars.first
                if lower == 0 && upper == 6 { activation = .relu6 }
            }
            if let activation {
                plan.activation = activation
                (out, last) = (act.outputs[0], j)
                chain.append(j)
            }
        }
        var step = ONNXStep(node: ctx.node, inputs: inputs, outputs: [out], kernel: plan.kernel)
        step.isFusedConvolution = true
        if !plan.isOneDimensional { step.blockable = .convolution(plan) }
        if plan.hasResidual { step.consumingKernel = plan.kernel(consumingResidual: true) }
        return (step, last, chain)
    }

    /// Lets a fused convolution accumulate onto its residual in place where the graph shows that nothing else
    /// can see the residual's storage afterwards: the step is the residual's last reader, the residual is the
    /// output of an earlier fused convolution (a fresh buffer, not a view of another value), and each of its
    /// other readers is a fused convolution too (whose outputs never alias their inputs). ResNet's shortcuts
    /// all qualify. Whether it happens is decided again at each run (``execute(_:values:capturing:views:captured:shapes:)``):
    /// never for a captured value, nor for one the caller passed in.
    private static func markConsumableResiduals(_ steps: inout [ONNXStep], constants: [String: ONNXValue]) {
        var producer: [String: Int] = [:], readers: [String: [Int]] = [:]
        for (k, s) in steps.enumerated() {
            for name in s.outputs where !name.isEmpty { producer[name] = k }
            for name in Set(s.inputs) where !name.isEmpty { readers[name, default: []].append(k) }
        }
        for k in steps.indices where steps[k].consumingKernel != nil && steps[k].inputs.count == 2 {
            let (input, residual) = (steps[k].inputs[0], steps[k].inputs[1])
            guard input != residual, constants[residual] == nil, steps[k].releases.contains(residual),
                  let p = producer[residual], steps[p].isFusedConvolution,
                  let r = readers[residual], r.last == k,
                  r.allSatisfy({ steps[$0].isFusedConvolution }) else { continue }
            steps[k].consumesResidual = true
        }
    }

    /// Runs the graph on `input`, keeping the float values named in `points`.
    ///
    /// - Parameters:
    ///   - views: for captured points only, the layout the caller wants (``ONNXCaptureView``); the graph goes on
    ///     from the re-laid-out tensor, so that gradients with respect to the captured tensor are the true ones.
    ///   - shapes: when given, receives the shape of every value computed (for inspection).
    func run(_ input: Tensor, capturing points: Set<String> = [], views: [String: ONNXCaptureView] = [:],
             shapes: UnsafeMutablePointer<[String: [Int]]>? = nil) throws -> (output: Tensor, captured: [String: Tensor]) {
        let input = graphInput(input)
        var values: [String: ONNXValue] = [inputName: .float(input)]
        var captured: [String: Tensor] = [:]
        if points.contains(inputName) { captured[inputName] = input }
        try execute(steps, values: &values, capturing: points, views: views, captured: &captured, shapes: shapes)
        return (try output(of: values), captured)
    }

    /// [N, 3, H, W] images in the graph's own layout.
    private func graphInput(_ images: Tensor) -> Tensor {
        inputIsChannelsLast && images.rank == 4 ? images.permuted([0, 2, 3, 1]) : images
    }

    /// Runs `steps` (the program's, or a run of them such as the path from an inner point to the output) on
    /// `values`, which must hold every non-constant value they read that they do not compute themselves.
    func execute(_ steps: [ONNXStep], values: inout [String: ONNXValue], capturing points: Set<String> = [],
                 views: [String: ONNXCaptureView] = [:], captured: inout [String: Tensor],
                 shapes: UnsafeMutablePointer<[String: [Int]]>? = nil) throws {
        // Values computed by this call: only those may be consumed in place (the caller's are the caller's).
        var computed = Set<String>()
        var k = steps.startIndex
        while k < steps.endIndex {
            let step = steps[k]
            if let chain = step.chain, shapes == nil,
               let outputs = chain.run(steps[k...], values: values, capturing: points) {
                for (name, t) in outputs {
                    computed.insert(name)
                    values[name] = .float(t)
                }
                for name in chain.releases { values[name] = nil }
                k += chain.positions.count
                continue
            }
            let consuming = step.consumesResidual && computed.contains(step.inputs[1]) && !points.contains(step.inputs[1])
            let outputs = try evaluate(step, values: values, consuming: consuming)
            for (name, v) in zip(step.outputs, outputs) where !name.isEmpty {
                computed.insert(name)
                values[name] = v
                shapes?.pointee[name] = v.shape
                if points.contains(name), case .float(let t) = v {
                    if let view = views[name] {
                        let laidOut = view.captured(t)
                        captured[name] = laidOut
                        values[name] = .float(view.restored(laidOut, as: t.shape))
                    } else {
                        captured[name] = t
                    }
                }
            }
            for name in step.releases { values[name] = nil }
            k += 1
        }
    }

    /// Runs one step on `values`, naming the node in any error.
    private func evaluate(_ step: ONNXStep, values: [String: ONNXValue], consuming: Bool = false) throws -> [ONNXValue] {
        let inputs = try step.inputs.map { name -> ONNXValue? in
            if name.isEmpty { return nil }
            guard let v = values[name] ?? constants[name] else {
                throw ONNXError(file: file, problem: "node '\(step.node.name)' (\(step.node.opType)) reads '\(name)', "
                    + "which no earlier node computes")
            }
            return v
        }
        let kernel = consuming ? step.consumingKernel ?? step.kernel : step.kernel
        do { return try kernel(inputs) } catch {
            throw ONNXError(file: file, problem: "node '\(step.node.name)' (\(step.node.opType)): \(error)")
        }
    }

    /// Runs a graph whose batch is fixed at one on several images: each image is a lane, and the lanes go
    /// through the steps in lock-step. A captured point is joined across the lanes along its batch axis (the
    /// first axis of extent one of a lane's tensor, after its view), and every lane goes on from its own slice
    /// of the joined tensor: the joined tensor is then on the path to each lane's logits, so gradients with
    /// respect to it are the true ones (a join made after separate runs would sit off the path, its gradient
    /// zero). A point without an axis of extent one is not captured.
    func runLanes(_ inputs: [Tensor], capturing points: Set<String> = [], views: [String: ONNXCaptureView] = [:])
        throws -> (outputs: [Tensor], captured: [String: Tensor]) {
        var lanes: [[String: ONNXValue]] = inputs.map { [inputName: .float(graphInput($0))] }
        var captured: [String: Tensor] = [:]
        func join(_ name: String) {
            let raw = lanes.compactMap { lane -> Tensor? in
                if case .float(let t)? = lane[name] { return t } else { return nil }
            }
            guard raw.count == lanes.count else { return }
            let view = views[name]
            let laidOut = raw.map { view?.captured($0) ?? $0 }
            guard let axis = laidOut[0].shape.firstIndex(of: 1) else { return }
            let joined = Tensor.concatenate(laidOut, axis: axis)
            captured[name] = joined
            for l in lanes.indices {
                let own = joined.sliced(axis: axis, l..<(l + 1)).contiguous()
                lanes[l][name] = .float(view?.restored(own, as: raw[l].shape) ?? own)
            }
        }
        if points.contains(inputName) { join(inputName) }
        for step in steps {
            for l in lanes.indices {
                let outputs = try evaluate(step, values: lanes[l])
                for (name, v) in zip(step.outputs, outputs) where !name.isEmpty { lanes[l][name] = v }
            }
            for name in step.outputs where !name.isEmpty && points.contains(name) { join(name) }
            for name in step.releases { for l in lanes.indices { lanes[l][name] = nil } }
        }
        return (try lanes.map { try output(of: $0) }, captured)
    }

    /// The graph output among `values`.
    func output(of values: [String: ONNXValue]) throws -> Tensor {
        guard case .float(let output)? = values[outputName] ?? constants[outputName] else {
            throw ONNXError(file: file, problem: "the output '\(outputName)' is not a float tensor computed from the input")
        }
        return output
    }
}
