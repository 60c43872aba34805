extension Tensor {
    /// The tensor's planes (last two axes) median-filtered over `kernelSize`×`kernelSize` windows,
    /// as OpenCV's `medianBlur` filters an 8-bit image: values are first rounded to multiples of
    /// 1/255 (the 8-bit image's levels, clamped to [0, 1]) and the border is replicated. The
    /// output has the input's shape. Not differentiable (a constant of the inputs it is made from).
    ///
    /// The reference Meaningful Perturbation (`explain.py`) takes its deleted pixels from
    /// `cv2.medianBlur(image, 11)`; working on the 256 levels lets each window's median be read
    /// from a histogram instead of a sort.
    public func medianFiltered(kernelSize k: Int) -> Tensor {
        precondition(k > 0 && k % 2 == 1, "medianFiltered: kernel size \(k) must be odd and positive")
        precondition(rank >= 2, "medianFiltered needs a tensor with height and width axes, got shape \(shape)")
        let (h, w) = (shape[rank - 2], shape[rank - 1])
        let source = contiguous().scalars
        var out = [Float](repeating: 0, count: source.count)
        let half = k / 2
        let middle = (k * k) / 2  // 0-based position of the median among k² values
        var levels = [Int](repeating: 0, count: h * w)
        for plane in 0..<(h * w == 0 ? 0 : source.count / (h * w)) {
            let base = plane * h * w
            for i in 0..<(h * w) {
                let v = source[base + i]
                levels[i] = v.isFinite ? Int((Swift.min(Swift.max(v, 0), 1) * 255).rounded()) : 0
            }
            var histogram = [Int](repeating: 0, count: 256)
            for y in 0..<h {
                // Huang's sliding histogram: build the first window of the row, then move it by one column.
                for l in histogram.indices { histogram[l] = 0 }
                for dy in -half...half {
                    let row = Swift.min(Swift.max(y + dy, 0), h - 1) * w
                    for dx in -half...half { histogram[levels[row + Swift.min(Swift.max(dx, 0), w - 1)]] += 1 }
                }
                for x in 0..<w {
                    if x > 0 {
                        let leaving = Swift.min(Swift.max(x - 1 - half, 0), w - 1)
                        let entering = Swift.min(x + half, w - 1)
                        for dy in -half...half {
                            let row = Swift.min(Swift.max(y + dy, 0), h - 1) * w
                            histogram[levels[row + leaving]] -= 1
                            histogram[levels[row + entering]] += 1
                        }
                    }
                    var seen = 0, level = 0
                    while true {
                        seen += histogram[level]
                        if seen > middle { break }
                        level += 1
                    }
                    out[base + y * w + x] = Float(level) / 255
                }
            }
        }
        return Tensor(shape: shape, scalars: out)
    }
}
