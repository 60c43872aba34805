import Foundation
import FovExTensor

/// Whose code NSS and AUC-Judd follow. The three sources agree on the idea and differ in details
/// that move the numbers: the standard deviation's degrees of freedom, how a map reaches the
/// image's size, whether a fixated pixel counts once or once per fixation, and how ties are broken.
public enum GazeConvention: String, Sendable, Codable, CaseIterable {
    /// FixaTons (Zanca et al., 2018; `FixaTons/_visual_attention_metrics.py`), the paper's source.
    /// The map reaches the image's size through `scipy.misc.imresize`: scaled to 8 bits over its
    /// min–max range, resized bilinearly and rounded to 8 bits again. NSS divides by the maximum and
    /// z-scores with the sample standard deviation (ddof 1) over the binary fixation map (each fixated
    /// pixel once); a map with no spread is left unscaled. AUC-Judd adds Uniform(0, 1e−7) jitter,
    /// min–max normalises, and its false-positive rate at the i-th threshold (0-based) is
    /// (#pixels ≥ thr − i) / (N_p − N_f), one more than the MIT code counts (FixaTons' port from
    /// MATLAB's 1-based loop keeps `i`).
    case fixatons
    /// The MIT saliency benchmark (Bylinskii et al., `cvzoya/saliency`, `code_forMetrics/NSS.m`,
    /// `AUC_Judd.m`): MATLAB's `imresize` (bicubic, Keys a = −0.5) on the unquantised map; NSS with
    /// MATLAB's `std` (ddof 1) over the binary fixation map; AUC-Judd with Uniform(0, 1e−7) jitter and
    /// FP = (#pixels ≥ thr − i) / (N_p − N_f) for the i-th threshold, i counted from 1.
    case mit
    /// pysaliency (Kümmerer, `pysaliency/metrics.py`, `SaliencyMapModel.AUC_Judd`): the map must be at
    /// the image's size (here: resized bilinearly, half-pixel centres); every fixation counts, repeats
    /// included, at its truncated pixel (`x_int`); NSS with the population standard deviation (ddof 0)
    /// and a constant map scoring 0; AUC-Judd with Gaussian N(0, (1e−7)²) jitter, the fixations'
    /// values as positives, the unfixated pixels as negatives and the fixated values as thresholds.
    case pysaliency

    /// The fixations a metric scores under this convention: pysaliency's every fixation (repeats
    /// included, truncated to a pixel) where the sample has the observers' scanpaths; otherwise the
    /// data set's distinct fixated pixels.
    func fixations(of gaze: HumanGaze) -> [PixelPoint] {
        guard self == .pysaliency, let scanpaths = gaze.scanpaths else { return gaze.fixatedPixels }
        return scanpaths.flatMap(\.fixations).compactMap { f -> PixelPoint? in
            guard f.x.isFinite, f.y.isFinite, f.x >= 0, f.y >= 0 else { return nil }
            let p = PixelPoint(x: Int(f.x), y: Int(f.y))
            return p.x < gaze.width && p.y < gaze.height ? p : nil
        }
    }

    /// `values` (h×w) at `to`'s size as this convention's source resizes it. `always` applies
    /// FixaTons' 8-bit scaling even when the size already matches (its NSS calls `imresize`
    /// unconditionally; its AUC-Judd only when the sizes differ).
    func resized(_ values: [Float], from: (Int, Int), to: (Int, Int), always: Bool) -> [Float] {
        switch self {
        case .pysaliency:
            return MapCheck.resized(values, from: from, to: to)
        case .mit:
            guard from != to else { return values }
            let t = Tensor(shape: [1, 1, from.0, from.1], scalars: values)
            return withoutGradients { t.resized(height: to.0, width: to.1, method: .bicubic, antialias: true) }.contiguous().scalars
        case .fixatons:
            guard always || from != to else { return values }
            let bytes = GazeConvention.bytescaled(values)
            guard from != to else { return bytes }
            return MapCheck.resized(bytes, from: from, to: to).map { Swift.min(Swift.max($0.rounded(), 0), 255) }
        }
    }

    /// `scipy.misc.bytescale`: (v − min) · 255 / (max − min) + 0.5, truncated to 0…255 (all 0 for a
    /// constant map).
    static func bytescaled(_ values: [Float]) -> [Float] {
        guard let lo = values.min(), let hi = values.max() else { return values }
        let scale = hi > lo ? 255 / (Double(hi) - Double(lo)) : 1
        return values.map { Float(Swift.min(Swift.max(((Double($0) - Double(lo)) * scale + 0.5).rounded(.down), 0), 255)) }
    }
}
