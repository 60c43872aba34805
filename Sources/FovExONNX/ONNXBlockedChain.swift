import Foundation
import FovExTensor

// Runs of convolutional-network steps (convolutions, poolings, the element-wise functions, sums, products,
// concatenations and batch norms between them), run forward-only in oneDNN's blocked layouts (FovExTensor's
// BlockedConvolutionChain) when a pass records nothing for differentiation.

/// What a step is as a layer of a blocked chain.
enum ONNXBlockableLayer {
    /// A fused 2-D convolution: its step reads the image, then the residual when the plan has one.
    case convolution(ConvolutionPlan)
    /// MaxPool or AveragePool on a 2-D window.
    case pooling(PoolWindow, BlockedPooling.Kind)
    case globalAveragePooling
    case elementwise([BlockedElementwise])
    case binary(BlockedBinary)
    /// Concat along axis 1 of every input.
    case concatenation(inputCount: Int)
    /// A batch normalisation with constant statistics on its own (DenseNet's, after a concatenation): a per-channel
    /// scale and shift, run as a depthwise 1×1 convolution.
    case channelAffine(scale: Tensor, shift: Tensor)

    /// The layer of a node other than a convolution, when it has one: pooling, the element-wise functions the
    /// convolutional families use (ReLU, sigmoid, hard-swish, hard-sigmoid, a clip), sums and products of two
    /// computed values, and concatenations along the channel axis.
    init?(_ node: ONNXNode, opset: Int, constants: [String: ONNXValue]) {
        func constant(_ i: Int) -> Float? {
            guard i < node.inputs.count, case .float(let t)? = constants[node.inputs[i]], t.count == 1 else { return nil }
            return t.scalars[0]
        }
        let computed = node.inputs.allSatisfy { !$0.isEmpty && constants[$0] == nil }
        switch node.opType {
        case "MaxPool":
            guard node.outputs.count < 2 || node.outputs[1].isEmpty, node.int("storage_order", default: 0) == 0,
                  let window = try? PoolWindow(node), !window.isOneDimensional else { return nil }
            self = .pooling(window, .maximum)
        case "AveragePool":
            guard let window = try? PoolWindow(node), !window.isOneDimensional else { return nil }
            self = .pooling(window, .average(countIncludePad: node.int("count_include_pad", default: 0) != 0))
        case "GlobalAveragePool":
            self = .globalAveragePooling
        case "BatchNormalization":
            guard node.int("training_mode", default: 0) == 0, !node.outputs.dropFirst().contains(where: { !$0.isEmpty }),
                  node.inputs.count == 5, case .float(let scale)? = constants[node.inputs[1]],
                  case .float(let offset)? = constants[node.inputs[2]], case .float(let mean)? = constants[node.inputs[3]],
                  case .float(let variance)? = constants[node.inputs[4]],
                  [offset, mean, variance].allSatisfy({ $0.count == scale.count }) else { return nil }
            let folded = foldBatchNorm(intoConvWeight: Tensor(repeating: 1, shape: [scale.count, 1, 1, 1]), bias: nil,
                                       mean: mean.reshaped([-1]), variance: variance.reshaped([-1]),
                                       scale: scale.reshaped([-1]), offset: offset.reshaped([-1]),
                                       epsilon: node.float("epsilon", default: 1e-5))
            self = .channelAffine(scale: folded.weight, shift: folded.bias)
        case "Relu": self = .elementwise([.relu])
        case "Sigmoid": self = .elementwise([.sigmoid])
        case "HardSwish": self = .elementwise([.hardSwish])
        case "HardSigmoid":
            self = .elementwise([.linear(alpha: node.float("alpha", default: 0.2), beta: node.float("beta", default: 0.5)),
                                 .clip(lower: 0, upper: 1)])
        case "Clip":
            // Bounds are attributes before opset 11, constant inputs after (absent: unbounded).
            let lower = opset < 11 ? node.float("min", default: -.greatestFiniteMagnitude) : node.inputs.count > 1 && !node.inputs[1].isEmpty ? constant(1) : -.greatestFiniteMagnitude
            let upper = opset < 11 ? node.float("max", default: .greatestFiniteMagnitude) : node.inputs.count > 2 && !node.inputs[2].isEmpty ? constant(2) : .greatestFiniteMagnitude
            guard let lower, let upper, !node.inputs[0].isEmpty, constants[node.inputs[0]] == nil else { return nil }
            self = .elementwise([.clip(lower: lower, upper: upper)])
        case "Add", "Mul":
            guard node.inputs.count == 2, computed else { return nil }
            self = .binary(node.opType == "Add" ? .add : .multiply)
        case "Concat":
            guard node.int("axis", default: 0) == 1, !node.inputs.isEmpty, computed else { return nil }
            self = .concatenation(inputCount: node.inputs.count)
        default:
            return nil
        }
    }

    var isConvolution: Bool {
        if case .convolution = self { return true }
        return false
    }

    /// The chain layer, given the indices of the values the step reads.
    func layer(reading inputs: [Int]) -> BlockedLayer {
        switch self {
        case .convolution(let plan):
            return .convolution(BlockedConvolution(
                input: inputs[0], weight: plan.weight, bias: plan.bias, stride: plan.stride, padding: plan.padding,
                dilation: plan.dilation, groups: plan.groups, residual: plan.hasResidual ? inputs[1] : nil,
                activation: plan.activation))
        case let .pooling(window, kind):
            return .pooling(BlockedPooling(input: inputs[0], kind: kind, kernel: window.kernel, stride: window.stride) { h, w in
                // The window's padding with ceil mode's overhang: −∞ for a maximum (oneDNN never lets padding win),
                // but an average would count the overhang, so a window that has one declines the size.
                guard let (pads, _, _) = try? window.explicitPadding(height: h, width: w) else { return nil }
                if case .average = kind, pads[0].after != window.pads[2] || pads[1].after != window.pads[3] { return nil }
                return (pads[0].before, pads[0].after, pads[1].before, pads[1].after)
            })
        case .globalAveragePooling:
            return .globalAveragePooling(input: inputs[0])
        case .elementwise(let functions):
            return .elementwise(input: inputs[0], functions)
        case .binary(let operation):
            return .binary(operation, inputs[0], inputs[1])
        case .concatenation:
            return .concatenation(inputs)
        case let .channelAffine(scale, shift):
            return .convolution(BlockedConvolution(input: inputs[0], weight: scale, bias: shift, stride: 1, padding: .symmetric(0),
                                                   dilation: 1, groups: scale.shape[0], residual: nil, activation: nil))
        }
    }
}

/// A run of consecutive blockable steps holding at least two convolutions, as one ``BlockedConvolutionChain``.
///
/// The program runs it in place of its steps when the pass records nothing (gradients off, or no input of the
/// run tracked), computes in fp32, captures no value the run computes, and does not collect shapes; otherwise
/// the steps run one by one on the differentiable ops.
final class ONNXBlockedChain {
    let chain: BlockedConvolutionChain
    /// The values the run reads from before it, in the chain's input order.
    let inputs: [String]
    /// The values the run computes that later steps (or the program's output) read, in the chain's output order.
    let outputs: [String]
    /// Every value the run computes.
    let computed: Set<String>
    /// The values the run's steps release.
    let releases: [String]
    /// The run's steps' positions in the program.
    let positions: Range<Int>

    /// Fewer convolutions than this are not worth the reorders into and out of the blocked layout.
    static let minimumConvolutions = 2

    private init?(_ steps: ArraySlice<ONNXStep>, readLater: Set<String>) {
        guard steps.allSatisfy({ $0.outputs.count == 1 }) else { return nil }
        let computed = steps.map { $0.outputs[0] }
        var index: [String: Int] = [:], inputs: [String] = []
        for step in steps {
            for name in step.inputs.prefix(step.blockable!.readCount) where index[name] == nil && !computed.contains(name) {
                index[name] = inputs.count
                inputs.append(name)
            }
        }
        var layers: [BlockedLayer] = []
        let run = Array(steps)
        var k = 0
        while k < run.count {
            let step = run[k]
            // Steps run in the graph's order, so every value a step reads is an input or already indexed.
            let reads = step.inputs.prefix(step.blockable!.readCount).map { index[$0]! }
            if k + 1 < run.count, let swish = ONNXBlockedChain.silu(run[k], run[k + 1], readers: run, readLater: readLater) {
                // x · σ(x), which PyTorch exports as Sigmoid and Mul: one pass instead of two.
                layers.append(.elementwise(input: reads[0], [.swish]))
                index[swish] = inputs.count + layers.count - 1
                k += 2
                continue
            }
            layers.append(step.blockable!.layer(reading: reads))
            index[step.outputs[0]] = inputs.count + layers.count - 1
            k += 1
        }
        outputs = computed.filter(readLater.contains)
        guard !outputs.isEmpty else { return nil }
        chain = BlockedConvolutionChain(layers: layers, inputCount: inputs.count, outputs: outputs.map { index[$0]! })
        self.inputs = inputs
        self.computed = Set(computed)
        releases = steps.flatMap(\.releases)
        positions = steps.first!.position..<(steps.last!.position + 1)
    }

    /// The output of `product` when `sigmoid` and `product` compute x · σ(x) and nothing else reads σ(x).
    private static func silu(_ sigmoid: ONNXStep, _ product: ONNXStep, readers run: [ONNXStep], readLater: Set<String>) -> String? {
        guard case .elementwise([.sigmoid])? = sigmoid.blockable, case .binary(.multiply)? = product.blockable else { return nil }
        let (x, s) = (sigmoid.inputs[0], sigmoid.outputs[0])
        guard Set(product.inputs) == [x, s], !readLater.contains(s),
              run.filter({ $0.inputs.contains(s) }).count == 1 else { return nil }
        return product.outputs[0]
    }

    /// Finds the runs of blockable steps and attaches each run's chain to its first step.
    static func attach(to steps: inout [ONNXStep], graphOutput: String) {
        var start = 0
        while start < steps.count {
            guard steps[start].blockable != nil else { start += 1; continue }
            var end = start
            while end < steps.count, steps[end].blockable != nil { end += 1 }
            let run = steps[start..<end]
            if run.filter({ $0.blockable!.isConvolution }).count >= minimumConvolutions {
                let readLater = Set(steps[end...].flatMap(\.inputs)).union([graphOutput])
                steps[start].chain = ONNXBlockedChain(run, readLater: readLater)
            }
            start = end
        }
    }

    /// The run's outputs, when the chain can stand in for the steps at the start of `steps` on `values`; nil
    /// when the pass may record gradients through it, computes in bf16, captures a value it computes, or the
    /// chain declines the shapes.
    func run(_ steps: ArraySlice<ONNXStep>, values: [String: ONNXValue], capturing points: Set<String>) -> [(String, Tensor)]? {
        guard computed.isDisjoint(with: points), steps.count >= positions.count,
              zip(steps.prefix(positions.count), positions).allSatisfy({ $0.position == $1 }) else { return nil }
        var tensors: [Tensor] = []
        for name in inputs {
            guard case .float(let t)? = values[name] else { return nil }
            tensors.append(t)
        }
        guard BlockedConvolutionChain.mayRun(on: tensors), let results = chain(tensors) else { return nil }
        return Array(zip(outputs, results))
    }
}

extension ONNXBlockableLayer {
    /// How many of the step's inputs the layer reads (a convolution's residual is its second).
    var readCount: Int {
        switch self {
        case .convolution(let plan): return plan.hasResidual ? 2 : 1
        case .binary: return 2
        case .concatenation(let n): return n
        default: return 1
        }
    }
}
