import Foundation

extension Tensor {
    /// The elements at the given positions of the row-major flattened tensor, as a tensor of `shape`:
    /// element `i` of the result is element `sources[i]` of `self`. A position may be picked several times
    /// or never.
    ///
    /// The building block for index-driven reorderings that have no strided view: strided slices, edge
    /// padding, scatters into a copy. Differentiable: the gradient adds each output element's gradient into
    /// its source position.
    public func gatheringElements(_ sources: [Int], shape: [Int]) -> Tensor {
        precondition(sources.count == shape.reduce(1, *),
                     "gatheringElements: \(sources.count) positions for shape \(shape)")
        let n = count
        precondition(sources.allSatisfy { $0 >= 0 && $0 < n }, "gatheringElements: a position outside 0..<\(n)")
        let c = contiguous()
        let out = Tensor.uninitialized(shape)
        let src = c.basePointer, dst = out.storage.pointer
        for (i, s) in sources.enumerated() { dst[i] = src[s] }
        let inShape = self.shape
        return out.recorded(from: [c]) { g in
            let gc = g.contiguous()
            let r = Tensor(zeros: inShape)
            let gp = gc.basePointer, rp = r.storage.pointer
            for (i, s) in sources.enumerated() { rp[s] += gp[i] }
            return [r]
        }
    }
}
