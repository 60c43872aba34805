import FovExTensor

/// A continuous fixation map: each distinct fixated pixel set to 1, then blurred with a Gaussian of
/// `sigma` pixels (kernel 2·⌈3σ⌉ + 1, capped to fit the map, zero padding, normalised to sum 1), as
/// saliency benchmarks build their CC and KLD targets. σ 0 leaves the binary fixation map.
func fixationDensity(_ fixations: [PixelPoint], height: Int, width: Int, sigma: Float) -> [Float] {
    var v = [Float](repeating: 0, count: height * width)
    for f in fixations { v[f.y * width + f.x] = 1 }
    guard sigma > 0 else { return v }
    let radius = Swift.min(Int((3 * sigma).rounded(.up)), (Swift.min(height, width) - 1) / 2)
    let t = Tensor(shape: [1, 1, height, width], scalars: v)
    return withoutGradients { t.gaussianBlurred(kernelSize: 2 * radius + 1, sigma: sigma, padding: .zeros) }.scalars
}
