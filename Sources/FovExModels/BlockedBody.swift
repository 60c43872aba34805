import FovExTensor

// The built-in convolutional networks' bodies as ``BlockedConvolutionChain``s: a pass that records nothing
// (classification, RISE's masked images, deletion and insertion curves, average drop and increase) runs the
// convolutions from the stem to the global pooling in oneDNN's preferred activation layout, as ONNX graphs do
// (docs/design/onnx-speed.md). Passes that record gradients, compute in bf16 or capture inner points run the
// differentiable ops, whose channels-last activations the backward kernels read.

/// A built-in model's convolutional body as a blocked chain, with when it may stand in for the model's own ops.
struct BlockedBody {
    let chain: BlockedConvolutionChain

    /// The globally pooled features [N, C] of `input`, or nil when the pass must run the model's own ops: chains are
    /// off, points are captured, the pass computes in bf16 or may record gradients through `input`, or the chain
    /// declines the shape.
    func pooledFeatures(_ input: Tensor, enabled: Bool, capturing points: Set<String>) -> Tensor? {
        guard enabled, points.isEmpty, BlockedConvolutionChain.mayRun(on: [input]), let pooled = chain([input])?[0] else {
            return nil
        }
        return pooled.reshaped([pooled.shape[0], pooled.shape[1]])
    }
}

/// Builds a ``BlockedConvolutionChain`` of one input (value 0) layer by layer, handing back each layer's value.
struct BlockedBodyBuilder {
    private(set) var layers: [BlockedLayer] = []

    /// Appends `layer` and returns the index of its output.
    mutating func append(_ layer: BlockedLayer) -> Int {
        layers.append(layer)
        return layers.count
    }

    /// Appends `convolution` reading `input`, with `residual` added and `activation` applied.
    mutating func append(_ convolution: FoldedConvolution, reading input: Int, residual: Int? = nil,
                         activation: ConvActivation? = nil) -> Int {
        append(.convolution(BlockedConvolution(input: input, weight: convolution.weight, bias: convolution.bias,
                                               stride: convolution.stride, padding: convolution.padding, dilation: 1,
                                               groups: convolution.groups, residual: residual, activation: activation)))
    }

    /// The body whose single output, `pooled`, is a global average pooling.
    func body(pooled output: Int) -> BlockedBody {
        BlockedBody(chain: BlockedConvolutionChain(layers: layers, inputCount: 1, outputs: [output]))
    }
}
