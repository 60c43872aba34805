import FovExImaging
import FovExTensor

extension Preprocessing {
    /// The image as the model's [1, 3, S, S] input in [0, 1], resized (and cropped) per ``geometry``.
    public func input(for image: RGBImage) -> Tensor { input(for: image.tensor()) }

    /// Equally sized images as one [N, 3, S, S] batch; images of other sizes are prepared one by one
    /// and stacked.
    public func batch(for images: [RGBImage]) -> Tensor {
        precondition(!images.isEmpty, "batch(for:) needs at least one image")
        return Tensor.concatenate(images.map { input(for: $0) }, axis: 0)
    }

    /// [N, 3, H, W] pixels in [0, 1] brought to [N, 3, S, S] per ``geometry``.
    ///
    /// A short-side resize follows torchvision's `Resize(int)`: the long side becomes
    /// ⌊resize · long / short⌋; the centre crop starts at round-half-even((size − crop) / 2), as
    /// torchvision's `CenterCrop`. Upscaled bicubic values are clamped to [0, 1], as an 8-bit image
    /// resize (PIL) would.
    public func input(for pixels: Tensor) -> Tensor {
        precondition(pixels.rank == 4 && pixels.shape[1] == 3, "preprocessing needs [N, 3, H, W] pixels, got \(pixels.shape)")
        let (h, w) = (pixels.shape[2], pixels.shape[3])
        let method: ResizeMethod = interpolation == .bilinear ? .bilinear : .bicubic
        func resized(_ nh: Int, _ nw: Int) -> Tensor {
            if nh == h && nw == w { return pixels }
            let r = pixels.resized(height: nh, width: nw, method: method, antialias: antialias)
            return method == .bicubic ? r.clamped(min: 0, max: 1) : r
        }
        switch geometry {
        case .direct(let size):
            return resized(size, size)
        case let .shortSideThenCenterCrop(resize, crop):
            let (nh, nw) = h <= w ? (resize, Int(Double(resize) * Double(w) / Double(h)))
                                  : (Int(Double(resize) * Double(h) / Double(w)), resize)
            precondition(nh >= crop && nw >= crop, "centre crop \(crop) is larger than the resized \(nh)×\(nw) image")
            let top = Int((Double(nh - crop) / 2).rounded(.toNearestOrEven))
            let left = Int((Double(nw - crop) / 2).rounded(.toNearestOrEven))
            return resized(nh, nw).sliced(axis: 2, top..<(top + crop)).sliced(axis: 3, left..<(left + crop)).contiguous()
        }
    }

    /// (x − mean) / std per channel, the normalisation a model applies to its [0, 1] input inside `forward`.
    public func normalized(_ pixels: Tensor) -> Tensor {
        if mean.allSatisfy({ $0 == 0 }) && std.allSatisfy({ $0 == 1 }) { return pixels }
        precondition(pixels.rank == 4 && pixels.shape[1] == mean.count && mean.count == std.count,
                     "normalisation with \(mean.count) channel means needs [N, \(mean.count), H, W] pixels, got \(pixels.shape)")
        let m = Tensor(shape: [1, mean.count, 1, 1], scalars: mean)
        let s = Tensor(shape: [1, std.count, 1, 1], scalars: std)
        return (pixels - m) / s
    }
}
