import FovExImaging
import FovExTensor

extension Preprocessing {
    /// The image as the model's [1, 3, S, S] input in [0, 1], resized (and cropped) per ``geometry``.
    ///
    /// With `antialias`, the resize is PIL's on an 8-bit image (as torchvision's transforms on PIL
    /// images do): the horizontal pass, then the vertical one, each rounded back to 8 bits. That
    /// rounding moves EfficientNet-Lite0's top-1 on the 1300-image set from 1079 to the reference 1082.
    public func input(for image: RGBImage) -> Tensor {
        let pixels = image.tensor()
        guard antialias else { return input(for: pixels) }
        let plan = ResizePlan(self, height: image.height, width: image.width)
        var x = pixels
        if plan.width != image.width {
            x = x.resized(height: image.height, width: plan.width, method: method, antialias: true).quantizedToBytes()
        }
        if plan.height != image.height {
            x = x.resized(height: plan.height, width: plan.width, method: method, antialias: true).quantizedToBytes()
        }
        return plan.cropped(x)
    }

    /// Equally sized images as one [N, 3, S, S] batch; images of other sizes are prepared one by one
    /// and stacked.
    public func batch(for images: [RGBImage]) -> Tensor {
        precondition(!images.isEmpty, "batch(for:) needs at least one image")
        return Tensor.concatenate(images.map { input(for: $0) }, axis: 0)
    }

    /// [N, 3, H, W] pixels in [0, 1] brought to [N, 3, S, S] per ``geometry``, in floating point
    /// (differentiable). Upscaled bicubic values are clamped to [0, 1], as an image's would be.
    public func input(for pixels: Tensor) -> Tensor {
        precondition(pixels.rank == 4 && pixels.shape[1] == 3, "preprocessing needs [N, 3, H, W] pixels, got \(pixels.shape)")
        let plan = ResizePlan(self, height: pixels.shape[2], width: pixels.shape[3])
        var x = pixels
        if plan.height != pixels.shape[2] || plan.width != pixels.shape[3] {
            x = x.resized(height: plan.height, width: plan.width, method: method, antialias: antialias)
            if method == .bicubic { x = x.clamped(min: 0, max: 1) }
        }
        return plan.cropped(x)
    }

    private var method: ResizeMethod {
        switch interpolation {
        case .bilinear: return .bilinear
        case .bicubic: return .bicubic
        case .nearest: return .nearest
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

/// The resize target and crop window for one input size.
///
/// A short-side resize follows torchvision's `Resize(int)`: the long side becomes
/// ⌊resize · long / short⌋; the centre crop starts at round-half-even((size − crop) / 2), as
/// torchvision's `CenterCrop`.
private struct ResizePlan {
    let height: Int
    let width: Int
    let crop: (top: Int, left: Int, size: Int)?

    init(_ p: Preprocessing, height h: Int, width w: Int) {
        switch p.geometry {
        case .direct(let size):
            (height, width, crop) = (size, size, nil)
        case let .shortSideThenCenterCrop(resize, size):
            (height, width) = h <= w ? (resize, Int(Double(resize) * Double(w) / Double(h)))
                                     : (Int(Double(resize) * Double(h) / Double(w)), resize)
            precondition(height >= size && width >= size,
                         "centre crop \(size) is larger than the resized \(height)×\(width) image")
            crop = (Int((Double(height - size) / 2).rounded(.toNearestOrEven)),
                    Int((Double(width - size) / 2).rounded(.toNearestOrEven)), size)
        }
    }

    func cropped(_ x: Tensor) -> Tensor {
        guard let crop else { return x }
        return x.sliced(axis: 2, crop.top..<(crop.top + crop.size)).sliced(axis: 3, crop.left..<(crop.left + crop.size))
            .contiguous()
    }
}

extension Tensor {
    /// Values clamped to [0, 1] and rounded to the nearest multiple of 1/255, as an 8-bit image stores them.
    fileprivate func quantizedToBytes() -> Tensor {
        Tensor(shape: shape, scalars: scalars.map { (Swift.min(Swift.max($0, 0), 1) * 255).rounded() / 255 })
    }
}
