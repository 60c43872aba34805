import FovExTensor

extension RGBImage {
    /// The pixels as a [1, 3, height, width] tensor with values in [0, 1] (byte / 255).
    public func tensor() -> Tensor {
        let plane = width * height
        let out = Tensor.uninitialized([1, 3, height, width])
        let dst = out.basePointer
        pixels.withUnsafeBufferPointer { src in
            for i in 0..<plane {
                dst[i] = Float(src[3 * i]) / 255
                dst[plane + i] = Float(src[3 * i + 1]) / 255
                dst[2 * plane + i] = Float(src[3 * i + 2]) / 255
            }
        }
        return out
    }

    /// Stacks equally sized images into one [N, 3, height, width] tensor with values in [0, 1].
    public static func batchTensor(_ images: [RGBImage]) -> Tensor {
        precondition(!images.isEmpty, "batchTensor needs at least one image")
        let (w, h) = (images[0].width, images[0].height)
        precondition(images.allSatisfy { $0.width == w && $0.height == h },
                     "batchTensor needs images of one size; sizes: \(images.map { "\($0.width)×\($0.height)" })")
        return Tensor.concatenate(images.map { $0.tensor() }, axis: 0)
    }

    /// Builds an image from a [1, 3, H, W] or [3, H, W] tensor of values in [0, 1].
    ///
    /// Values are clamped to [0, 1] and rounded to the nearest byte; NaN becomes 0.
    public init(_ tensor: Tensor) {
        let s = tensor.shape
        precondition((s.count == 4 && s[0] == 1 && s[1] == 3) || (s.count == 3 && s[0] == 3),
                     "RGBImage needs a [1, 3, H, W] or [3, H, W] tensor, got \(s)")
        let (h, w) = (s[s.count - 2], s[s.count - 1])
        let plane = w * h
        let values = tensor.contiguous()
        let src = values.basePointer
        let bytes = [UInt8](unsafeUninitializedCapacity: 3 * plane) { dst, initialized in
            for i in 0..<plane {
                for c in 0..<3 { dst[3 * i + c] = byte(fromUnit: src[c * plane + i]) }
            }
            initialized = 3 * plane
        }
        self.init(width: w, height: h, pixels: bytes)
    }
}

/// Maps [0, 1] to 0…255 with rounding; out-of-range values clamp and NaN becomes 0.
@inline(__always)
func byte(fromUnit v: Float) -> UInt8 {
    guard v > 0 else { return 0 }
    guard v < 1 else { return 255 }
    return UInt8(v * 255 + 0.5)
}
