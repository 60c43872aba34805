import Foundation

extension Tensor {
    /// The tensor blurred by a separable Gaussian in its last two axes, each plane (channel)
    /// on its own, as torchvision's `gaussian_blur`.
    ///
    /// The 1-D kernel samples exp(−½(x/σ)²) at x = −(K−1)/2 … (K−1)/2 and is normalised to sum 1;
    /// the border is padded by K/2 (reflect by default, which needs K/2 smaller than the height and
    /// width). The output has the input's shape. Differentiable.
    public func gaussianBlurred(kernelSize: Int, sigma: Float, padding: PaddingMode = .reflect) -> Tensor {
        precondition(kernelSize > 0 && kernelSize % 2 == 1, "gaussianBlurred: kernel size \(kernelSize) must be odd and positive")
        precondition(sigma > 0, "gaussianBlurred: sigma \(sigma) must be positive")
        precondition(rank >= 2, "gaussianBlurred needs a tensor with height and width axes, got shape \(shape)")
        let kernel = Tensor.gaussianKernel(size: kernelSize, sigma: sigma)
        let rows = AxisResampling.correlation(size: shape[rank - 2], kernel: kernel, padding: padding)
        let columns = AxisResampling.correlation(size: shape[rank - 1], kernel: kernel, padding: padding)
        return separablyResampled(rows: rows, columns: columns)
    }

    /// The tensor correlated in its last two axes with the separable kernel `kernel` ⊗ `kernel` (odd
    /// length), each plane on its own, the border padded by `kernel.count / 2` (reflect, or zeros).
    /// The output has the input's shape. Differentiable.
    public func separablyBlurred(kernel: [Float], padding: PaddingMode) -> Tensor {
        precondition(kernel.count % 2 == 1, "separablyBlurred: the kernel's length \(kernel.count) must be odd")
        precondition(rank >= 2, "separablyBlurred needs a tensor with height and width axes, got shape \(shape)")
        let rows = AxisResampling.correlation(size: shape[rank - 2], kernel: kernel, padding: padding)
        let columns = AxisResampling.correlation(size: shape[rank - 1], kernel: kernel, padding: padding)
        return separablyResampled(rows: rows, columns: columns)
    }

    /// torchvision's 1-D Gaussian kernel: exp(−½(x/σ)²) at `size` evenly spaced points from
    /// −(size−1)/2 to (size−1)/2, divided by its sum.
    public static func gaussianKernel(size: Int, sigma: Float) -> [Float] {
        let half = Double(size - 1) / 2
        let pdf = (0..<size).map { i -> Double in
            let x = (Double(i) - half) / Double(sigma)
            return Foundation.exp(-0.5 * x * x)
        }
        let total = pdf.reduce(0, +)
        return pdf.map { Float($0 / total) }
    }
}

extension AxisResampling {
    /// Cross-correlation with an odd-length `kernel` centred on each output, the border padded by
    /// `kernel.count / 2` (reflected, or zeros dropped from the sum); output size equals `size`.
    static func correlation(size n: Int, kernel: [Float], padding: PaddingMode) -> AxisResampling {
        let half = kernel.count / 2
        if padding == .reflect {
            precondition(half < n, "reflect padding by \(half) needs an axis longer than that, got \(n)")
        }
        let rows = (0..<n).map { i -> [(index: Int, weight: Float)] in
            kernel.enumerated().compactMap { k, w in
                var s = i + k - half
                if s < 0 || s >= n {
                    if padding == .zeros { return nil }
                    s = s < 0 ? -s : 2 * (n - 1) - s
                }
                return (s, w)
            }
        }
        return AxisResampling(inputSize: n, rows: rows)
    }
}
