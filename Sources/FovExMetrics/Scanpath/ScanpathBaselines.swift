import Foundation
import FovExTensor

/// Scanpaths that give the scanpath metrics a floor: what agreement with human observers looks like
/// without any model of the image (uniform and centre-biased random fixations) or with a saliency map
/// but no model of eye movements (greedy peaks of the map with inhibition of return).
///
/// The random ones are seeded; the saliency one is deterministic given its map.
public enum ScanpathBaseline {
    /// `count` fixations uniformly distributed over the image's pixel area.
    public static func uniform(count: Int, width: Int, height: Int, generator: inout SeededGenerator) -> [ScanpathPoint] {
        (0..<count).map { _ in
            ScanpathPoint(x: Double(generator.nextUniform()) * Double(width - 1),
                          y: Double(generator.nextUniform()) * Double(height - 1))
        }
    }

    /// `count` fixations from an isotropic-per-axis Gaussian at the image centre with standard
    /// deviations `sigmaX`·width and `sigmaY`·height; draws outside the image are drawn again, so the
    /// distribution is the Gaussian truncated to the image.
    public static func centreBiased(count: Int, width: Int, height: Int, sigmaX: Double, sigmaY: Double,
                                    generator: inout SeededGenerator) -> [ScanpathPoint] {
        let (cx, cy) = (Double(width - 1) / 2, Double(height - 1) / 2)
        var out: [ScanpathPoint] = []
        while out.count < count {
            let x = cx + Double(generator.nextNormal()) * sigmaX * Double(width)
            let y = cy + Double(generator.nextNormal()) * sigmaY * Double(height)
            if x >= 0, x <= Double(width - 1), y >= 0, y <= Double(height - 1) { out.append(ScanpathPoint(x: x, y: y)) }
        }
        return out
    }

    /// The `count` highest peaks of a saliency map taken greedily: the maximum is fixated, everything
    /// within `inhibitionRadius` (a fraction of the map's shorter side) of it is inhibited, and the
    /// next maximum is taken, until `count` fixations are found or the whole map is inhibited.
    ///
    /// `map` is [h, w] (e.g. Grad-CAM at the model's input size); fixations are returned in pixels
    /// of the `width`×`height` image the map was resized from (map pixel i covers image
    /// [i·W/w, (i+1)·W/w), as a straight resize does). Ties go to the first pixel in row-major order.
    public static func saliencyPeaks(map: Tensor, count: Int, width: Int, height: Int,
                                     inhibitionRadius: Double = 0.1) -> [ScanpathPoint] {
        let (h, w) = (map.shape[0], map.shape[1])
        var values = map.contiguous().scalars.map { $0.isFinite ? $0 : -.infinity }
        let r = inhibitionRadius * Double(min(h, w))
        let r2 = r * r
        var out: [ScanpathPoint] = []
        while out.count < count {
            var best = -1
            var bestValue = -Float.infinity
            for (i, v) in values.enumerated() where v > bestValue { best = i; bestValue = v }
            guard best >= 0 else { break }
            let (py, px) = (best / w, best % w)
            out.append(ScanpathPoint(x: (Double(px) + 0.5) * Double(width) / Double(w) - 0.5,
                                     y: (Double(py) + 0.5) * Double(height) / Double(h) - 0.5))
            let span = Int(r.rounded(.up))
            for y in max(0, py - span)...min(h - 1, py + span) {
                for x in max(0, px - span)...min(w - 1, px + span) {
                    let (dx, dy) = (Double(x - px), Double(y - py))
                    if dx * dx + dy * dy <= r2 { values[y * w + x] = -.infinity }
                }
            }
        }
        return out
    }
}
