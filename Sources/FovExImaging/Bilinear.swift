extension FloatMap {
    /// The map resampled to `width`×`height` by bilinear interpolation with `align_corners=false`
    /// (pixel centres aligned, edges clamped), matching PyTorch's
    /// `F.interpolate(mode: "bilinear", align_corners: false)` without antialiasing.
    public func resized(width newWidth: Int, height newHeight: Int) -> FloatMap {
        precondition(newWidth > 0 && newHeight > 0, "resize target \(newWidth)×\(newHeight) must be positive")
        precondition(width > 0 && height > 0, "cannot resize an empty \(width)×\(height) map")
        if newWidth == width && newHeight == height { return self }
        let xs = Self.taps(from: width, to: newWidth)
        let ys = Self.taps(from: height, to: newHeight)
        var out = [Float](repeating: 0, count: newWidth * newHeight)
        values.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for (oy, ty) in ys.enumerated() {
                    let row0 = ty.i0 * width, row1 = ty.i1 * width
                    let o = oy * newWidth
                    for (ox, tx) in xs.enumerated() {
                        let top = src[row0 + tx.i0] * (1 - tx.t) + src[row0 + tx.i1] * tx.t
                        let bottom = src[row1 + tx.i0] * (1 - tx.t) + src[row1 + tx.i1] * tx.t
                        dst[o + ox] = top * (1 - ty.t) + bottom * ty.t
                    }
                }
            }
        }
        return FloatMap(width: newWidth, height: newHeight, values: out)
    }

    /// Source indices and weights along one axis: PyTorch's `area_pixel_compute_source_index`
    /// (scale = in/out, source clamped at 0) followed by its neighbour clamp at the far edge.
    private static func taps(from n: Int, to m: Int) -> [(i0: Int, i1: Int, t: Float)] {
        let scale = Float(n) / Float(m)
        return (0..<m).map { o in
            let src = max((Float(o) + 0.5) * scale - 0.5, 0)
            let i0 = min(Int(src), n - 1)
            let i1 = min(i0 + 1, n - 1)
            return (i0, i1, src - Float(i0))
        }
    }
}
