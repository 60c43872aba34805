/// `image` with `heatmap` drawn over it in `colormap` colours.
///
/// The heat map (values in [0, 1]) is resized to the image with bilinear interpolation
/// (`align_corners=false`) when the sizes differ; each pixel becomes
/// `(1 − alpha)·image + alpha·colour`, rounded.
public func overlay(heatmap: FloatMap, on image: RGBImage, alpha: Float = 0.5, colormap: Colormap = .jet) -> RGBImage {
    precondition((0...1).contains(alpha), "overlay alpha must be in [0, 1], got \(alpha)")
    guard image.width > 0 && image.height > 0 else { return image }
    let map = heatmap.resized(width: image.width, height: image.height)
    let table = colormap.table
    var out = image.pixels
    for (i, v) in map.values.enumerated() {
        let k = colormap.index(for: v)
        for c in 0..<3 {
            let heat = k.map { table[3 * $0 + c] * 255 } ?? 0
            let blended = (1 - alpha) * Float(out[3 * i + c]) + alpha * heat
            out[3 * i + c] = UInt8(min(max(blended + 0.5, 0), 255))
        }
    }
    return RGBImage(width: image.width, height: image.height, pixels: out)
}
