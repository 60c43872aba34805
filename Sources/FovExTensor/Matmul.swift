import CDNNL
import Foundation

private let matmulCache = PrimitiveCache<DNNLPrimitive>()

/// Whether a rank-≥2 tensor can be handed to oneDNN as is: the matrix part is row- or
/// column-major and the batch part has non-zero strides.
private func matmulReady(_ t: Tensor) -> Bool {
    let r = t.rank
    guard t.strides.allSatisfy({ $0 > 0 }) || t.count == 0 else { return false }
    return t.strides[r - 1] == 1 || t.strides[r - 2] == 1
}

/// The strides oneDNN is given: a batch axis of extent 1 gets the stride of an outermost axis. Its
/// own stride never matters to the data, but oneDNN reads the order of strides as the layout, and an
/// arbitrary one (e.g. 1, from a reduction that kept the axis) reads as a batch-innermost layout that
/// only its slow reference kernel runs (measured: 230 ms for a 1×197×197 product, against < 1 ms).
private func matmulStrides(_ t: Tensor) -> [Int] {
    var strides = t.strides
    let extent = zip(t.shape, strides).map { $0 * $1 }.max() ?? 1
    for i in 0..<max(0, t.rank - 2) where t.shape[i] == 1 { strides[i] = extent }
    return strides
}

/// Runs C = A·B on oneDNN for 2-D or batched operands given by dims and strides. In bf16, A (and B unless
/// packed) are first converted to contiguous bf16 copies and packed weights are packed as bf16; C stays fp32.
private func runMatmul(_ a: Tensor, _ b: Tensor, outShape: [Int], bias: Tensor? = nil,
                       packWeights: Bool = false, precision: Precision) -> Tensor {
    let bf16 = precision == .bf16
    let type = operandType(precision)
    let aStrides = bf16 ? Tensor.contiguousStrides(for: a.shape) : matmulStrides(a)
    let bStrides = bf16 && !packWeights ? Tensor.contiguousStrides(for: b.shape) : matmulStrides(b)
    let aMD = memoryDesc(dims: a.shape, strides: aStrides, type: type)
    // Packed weights are reordered from B's own fp32 layout; unpacked bf16 ones are read from a bf16 copy.
    let bUserMD = memoryDesc(dims: b.shape, strides: bStrides, type: packWeights ? dnnl_f32 : type)
    let cMD = memoryDesc(dims: outShape, strides: Tensor.contiguousStrides(for: outShape))
    let biasShape = bias.map { _ in Array(repeating: 1, count: outShape.count - 1) + [outShape.last!] }
    let biasMD = biasShape.map { memoryDesc(dims: $0, strides: Tensor.contiguousStrides(for: $0)) }
    // B's strides belong in the key even when packed: W and its transposed view Wᵀ share a storage (the packed
    // weights' cache key), and for a square W the same shapes, yet pack to different layouts.
    let key = precision.rawValue + cacheKey(a.shape) + cacheKey(aStrides) + cacheKey(b.shape) + cacheKey(bStrides)
        + (packWeights ? "packed" : "") + "\(bias != nil)"
    let prim = matmulCache.value(for: key) {
        matmulPrimitive(src: aMD, weights: packWeights ? memoryDesc(dims: b.shape, tag: dnnl_format_tag_any, type: type) : bUserMD,
                        bias: biasMD, dst: cMD, name: key)
    }
    let out = Tensor.uninitialized(outShape)
    let aCopy = bf16 ? bf16Copy(a, strides: aStrides) : nil
    let bCopy = bf16 && !packWeights ? bf16Copy(b, strides: bStrides) : nil
    var weightsMD = bUserMD
    var weightsPtr = UnsafeMutableRawPointer(bCopy?.pointer ?? b.basePointer)
    var packed: TensorStorage?
    if packWeights {
        weightsMD = prim.queryMD(dnnl_query_weights_md)
        packed = PackedWeightCache.shared.packed(b, as: weightsMD, sourceMD: bUserMD, key: "mm:" + key)
        weightsPtr = UnsafeMutableRawPointer(packed!.pointer)
    }
    var args: [(Int32, dnnl_memory_desc_t, UnsafeMutableRawPointer)] = [
        (DNNL_ARG_SRC, aMD, UnsafeMutableRawPointer(aCopy?.pointer ?? a.basePointer)),
        (DNNL_ARG_WEIGHTS, weightsMD, weightsPtr),
        (DNNL_ARG_DST, cMD, UnsafeMutableRawPointer(out.storage.pointer)),
    ]
    if let bias, let biasMD { args.append((DNNL_ARG_BIAS, biasMD, UnsafeMutableRawPointer(bias.contiguous().basePointer))) }
    withExtendedLifetime((aCopy, bCopy, packed)) { prim.execute(args) }
    return out
}

extension Tensor {
    /// Matrix product over the last two axes, batched over the leading ones (which must match,
    /// or `other` is a plain matrix). Transposed and permuted views are read without copies.
    /// Differentiable in both operands.
    public func matmul(_ other: Tensor) -> Tensor {
        matmul(other, precisions: Precision.current.productPrecisions)
    }

    /// ``matmul(_:)`` with the operand precisions of its forward and backward products given.
    func matmul(_ other: Tensor, precisions: (forward: Precision, backward: Precision)) -> Tensor {
        precondition(rank >= 2 && other.rank >= 2, "matmul needs rank ≥ 2 operands, got \(shape) and \(other.shape)")
        let (m, k) = (shape[rank - 2], shape[rank - 1])
        let (k2, n) = (other.shape[other.rank - 2], other.shape[other.rank - 1])
        precondition(k == k2, "matmul: inner dimensions differ: \(shape) · \(other.shape)")
        let batch = Array(shape.dropLast(2))
        let otherBatch = Array(other.shape.dropLast(2))
        var b = other
        if otherBatch != batch {
            precondition(other.rank == 2, "matmul batch dimensions \(batch) and \(otherBatch) differ")
            // [.., M, K] · [K, N]: fold the batch into M when A's rows are contiguous.
            let a2 = reshaped([-1, k])
            return a2.matmul(other, precisions: precisions).reshaped(batch + [m, n])
        }
        let a = matmulReady(self) ? self : contiguous()
        b = matmulReady(other) ? other : other.contiguous()
        let out = withoutGradients { runMatmul(a, b, outShape: batch + [m, n], precision: precisions.forward) }
        let aTracked = node != nil, bTracked = other.node != nil
        let backward = (precisions.backward, precisions.backward)
        return out.recorded(from: [self, other]) { g in
            [aTracked ? g.matmul(b.transposed(), precisions: backward) : nil,
             bTracked ? a.transposed().matmul(g, precisions: backward) : nil]
        }
    }

    /// A fully connected layer: `self · weightᵀ + bias` with PyTorch's `[out, in]` weight layout.
    /// The weight is a constant. `weight` may be a transposed view of an `[in, out]` matrix (ONNX's layout):
    /// it is read as it is, never copied, unless `packing` asks for a packed copy for the forward product.
    ///
    /// In fp32 the forward and backward products both read the weight in its own layout (oneDNN copies the
    /// blocks it needs as it goes; the backward product of a row-major weight runs on its GEMM routine, which
    /// is faster there than its matmul primitive), so a model holds each weight once, as PyTorch does: a packed
    /// copy for the forward product would hold a ViT-B/16's 86 M linear weights a second time (344 MB)
    /// (docs/results/memory.md). ``LinearWeightPacking/whereFaster`` makes that trade where it pays: on CPUs
    /// without AVX-512 the forward product on a copy packed once is 9–23 % faster from 32 rows (the ONNX models
    /// ask for it). In bf16 the operand must be converted anyway: the forward and backward products each read a
    /// bf16 copy packed on first use (half the weight's size each), whatever `packing` says.
    /// Differentiable with respect to `self`.
    public func linear(weight: Tensor, bias: Tensor? = nil, packing: LinearWeightPacking = .none) -> Tensor {
        precondition(weight.rank == 2 && shape.last == weight.shape[1],
                     "linear: input \(shape) does not match weight \(weight.shape)")
        precondition(weight.node == nil && bias?.node == nil, "linear weights are constants")
        let (outF, inF) = (weight.shape[0], weight.shape[1])
        let lead = Array(shape.dropLast())
        let x = reshaped([-1, inF])
        let w = matmulReady(weight) ? weight : weight.contiguous()
        let wT = w.transposed()  // [in, out] view
        let (precision, backwardPrecision) = Precision.current.productPrecisions
        let pack = precision == .bf16
        let y = withoutGradients {
            if !pack && packing == .whereFaster && PackedGEMM.applies(rows: x.shape[0], weight: w) {
                return PackedGEMM.product(x, weight: w, bias: bias)
            }
            return runMatmul(x, wT, outShape: [x.shape[0], outF], bias: bias, packWeights: pack, precision: precision)
        }
        return y.recorded(from: [x]) { g in
            let gc = g.contiguous()
            // A row-major fp32 weight goes to oneDNN's GEMM routine (see ``gemm(m:n:k:a:lda:b:ldb:c:ldc:)``); a
            // transposed view of an [in, out] matrix is read well by the matmul primitive.
            if backwardPrecision == .fp32 && w.strides[1] == 1 && w.strides[0] >= inF && gc.shape[0] > 0 {
                let dx = Tensor.uninitialized([gc.shape[0], inF])
                gemm(m: gc.shape[0], n: inF, k: outF, a: gc.basePointer, lda: outF, b: w.basePointer, ldb: w.strides[0],
                     c: dx.storage.pointer, ldc: inF)
                return [dx]
            }
            return [runMatmul(gc, w, outShape: [gc.shape[0], inF], packWeights: backwardPrecision == .bf16,
                              precision: backwardPrecision)]
        }.reshaped(lead + [outF])
    }
}
