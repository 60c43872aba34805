import Foundation

extension Tensor {
    /// One axis of FovEx's fovea: exp(−(u_k − p)² / σ) at the pixel centres u_k = −1 + 2k/(size − 1), for
    /// positions p of shape [N, 1] → [N, size]. W_p is the outer product of the row and the column profile.
    /// Differentiable with respect to the positions.
    public static func foveaProfile(at positions: Tensor, size: Int, sigma: Float) -> Tensor {
        let grid = Tensor(shape: [1, size], scalars: (0..<size).map { -1 + 2 * Float($0) / Float(size - 1) })
        return ((grid - positions).pow(2) * (-1 / sigma)).exp()
    }

    /// FovEx's foveated images: x + B · clip(1 − (s + W_p), 0, 1), with W_p(u) = exp(−‖u − p‖² / σ) the fovea
    /// at each image's position p, s the memory of earlier fixations and B the peripheral difference
    /// (blurred image − image).
    ///
    /// - Parameters:
    ///   - peripheral: B, the same shape as `self` ([N, C, H, W]).
    ///   - memory: s, [N, H, W].
    ///   - positions: p, [N, 2] as (row, column) in normalised units: pixel centre i of an axis of n pixels
    ///     sits at −1 + 2i/(n − 1).
    ///   - sigma: σ_f of the fovea.
    /// - Returns: [N, C, H, W]. Differentiable with respect to every argument: the clip passes the gradient
    ///   where 0 ≤ 1 − (s + W_p) ≤ 1, as PyTorch's `clamp` does.
    ///
    /// One pass forward and one backward, instead of the dozen passes over [N, C, H, W] that composing the
    /// element-wise operations takes (a FovEx step runs this once per optimisation step, next to the model).
    /// The fovea's factors are ``foveaProfile(at:size:sigma:)``'s, so the values are the composition's bit for bit.
    public func foveated(peripheral: Tensor, memory: Tensor, positions: Tensor, sigma: Float) -> Tensor {
        precondition(rank == 4, "foveated needs images [N, C, H, W], got shape \(shape)")
        let (n, channels, height, width) = (shape[0], shape[1], shape[2], shape[3])
        precondition(peripheral.shape == shape, "foveated: peripheral \(peripheral.shape) must match the images \(shape)")
        precondition(memory.shape == [n, height, width], "foveated: memory \(memory.shape) must be [\(n), \(height), \(width)]")
        precondition(positions.shape == [n, 2], "foveated: positions \(positions.shape) must be [\(n), 2]")
        // The separable fovea: W_p[i, j] = rows[i] · cols[j].
        let (rows, cols) = withoutGradients { () -> (Tensor, Tensor) in
            let p = positions.detached()
            return (Tensor.foveaProfile(at: p.sliced(axis: 1, 0..<1), size: height, sigma: sigma).contiguous(),
                    Tensor.foveaProfile(at: p.sliced(axis: 1, 1..<2), size: width, sigma: sigma).contiguous())
        }
        let x = contiguous(), b = peripheral.contiguous(), s = memory.contiguous()
        let plane = height * width
        let out = Tensor.uninitialized(shape)
        let (xp, bp, sp, rp, cp, op) = (x.basePointer, b.basePointer, s.basePointer, rows.basePointer, cols.basePointer,
                                        out.storage.pointer)
        let mask = UnsafeMutablePointer<Float>.allocate(capacity: width)
        defer { mask.deallocate() }
        // Vectors of 16 columns: besides the width, this keeps the rare denormal fovea values (a fovea far from
        // the image) to one slow instruction per 16 pixels.
        withExtendedLifetime((x, b, s, rows, cols)) {
            for image in 0..<n {
                for i in 0..<height {
                    let r = Vec(repeating: rp[image * height + i])
                    let line = image * plane + i * width
                    forEachColumnBlock(width) { j, m in
                        let fovea = r * loadColumns(cp + image * width + j, m)
                        storeColumns(vmin(vmax(1 - (loadColumns(sp + line + j, m) + fovea), Vec(repeating: 0)),
                                          Vec(repeating: 1)), mask + j, m)
                        for c in 0..<channels {
                            let o = (image * channels + c) * plane + i * width + j
                            storeColumns(loadColumns(xp + o, m) + loadColumns(bp + o, m) * loadColumns(mask + j, m), op + o, m)
                        }
                    }
                }
            }
        }
        let wants = (peripheral: peripheral.node != nil, memory: memory.node != nil, positions: positions.node != nil)
        return out.recorded(from: [self, peripheral, memory, positions]) { g in
            // The pointers are taken again from the tensors this closure holds, which keeps their storage alive.
            let gc = g.contiguous()
            let (gp, bp, sp, rp, cp) = (gc.basePointer, b.basePointer, s.basePointer, rows.basePointer, cols.basePointer)
            let dPeripheral = wants.peripheral ? Tensor.uninitialized(shape) : nil
            let dMemory = wants.memory ? Tensor.uninitialized([n, height, width]) : nil
            let dRows = UnsafeMutablePointer<Float>.allocate(capacity: n * height)
            let dCols = UnsafeMutablePointer<Float>.allocate(capacity: n * width)
            defer { dRows.deallocate(); dCols.deallocate() }
            dCols.initialize(repeating: 0, count: n * width)
            let (zero, one) = (Vec(repeating: 0), Vec(repeating: 1))
            withExtendedLifetime(gc) {
                for image in 0..<n {
                    for i in 0..<height {
                        let rowFactor = rp[image * height + i]
                        let r = Vec(repeating: rowFactor)
                        let line = image * plane + i * width
                        var rowSum = zero
                        forEachColumnBlock(width) { j, m in
                            let colFactors = loadColumns(cp + image * width + j, m)
                            let v = 1 - (loadColumns(sp + line + j, m) + r * colFactors)
                            var gMask = zero
                            for c in 0..<channels {
                                let o = (image * channels + c) * plane + i * width + j
                                let gv = loadColumns(gp + o, m)
                                gMask += gv * loadColumns(bp + o, m)
                                if let d = dPeripheral { storeColumns(gv * vmin(vmax(v, zero), one), d.storage.pointer + o, m) }
                            }
                            // ∂/∂(s + W) of clip(1 − (s + W), 0, 1): −1 where 0 ≤ 1 − (s + W) ≤ 1.
                            let gSum = vselect((v .>= zero) .& (v .<= one), -gMask, zero)
                            if let d = dMemory { storeColumns(gSum, d.storage.pointer + line + j, m) }
                            rowSum += gSum * colFactors
                            let dc = dCols + image * width + j
                            storeColumns(loadColumns(dc, m) + gSum * r, dc, m)
                        }
                        dRows[image * height + i] = rowSum.sum()
                    }
                }
            }
            var dPositions: Tensor?
            if wants.positions {
                // factor[k] = exp(−(g_k − p)² / σ): ∂factor[k]/∂p = factor[k] · 2(g_k − p) / σ.
                let pp = positions.scalars
                var d = [Float](repeating: 0, count: 2 * n)
                for image in 0..<n {
                    for (axis, size, factors, grads) in [(0, height, rp, UnsafePointer(dRows)), (1, width, cp, UnsafePointer(dCols))] {
                        let p = pp[image * 2 + axis]
                        var total = 0.0
                        for k in 0..<size {
                            let u = -1 + 2 * Float(k) / Float(size - 1)
                            total += Double(grads[image * size + k] * factors[image * size + k] * 2 * (u - p) / sigma)
                        }
                        d[image * 2 + axis] = Float(total)
                    }
                }
                dPositions = Tensor(shape: [n, 2], scalars: d)
            }
            return [g, dPeripheral, dMemory, dPositions]
        }
    }
}

/// Runs `body` over the columns of a row in blocks of 16, the last one partial: `body(first column, count)`.
@inline(__always) private func forEachColumnBlock(_ width: Int, _ body: (Int, Int) -> Void) {
    var j = 0
    while j < width {
        body(j, Swift.min(16, width - j))
        j += 16
    }
}

@inline(__always) private func loadColumns(_ p: UnsafePointer<Float>, _ m: Int) -> Vec {
    m == 16 ? loadVec(p) : loadPartial(p, m)
}

@inline(__always) private func storeColumns(_ v: Vec, _ p: UnsafeMutablePointer<Float>, _ m: Int) {
    if m == 16 { storeVec(v, p) } else { storePartial(v, p, m) }
}
