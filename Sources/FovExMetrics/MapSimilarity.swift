import Foundation

/// The similarities of two saliency maps that the model-randomisation sanity check of Adebayo et al.
/// (2018) reports, in the conventions of Quantus' `MPRT` (Hedström et al., 2023) and the libraries it
/// calls: Spearman's rank correlation as `scipy.stats.spearmanr`, SSIM as
/// `skimage.metrics.structural_similarity` with `data_range` the range over both maps, and the
/// Pearson correlation of `skimage.feature.hog` descriptors.
///
/// Maps are row-major `height`×`width` arrays. Every function returns 1 for two identical maps (a map that
/// did not change is as similar as it can be) and nil where the value is undefined otherwise (a
/// constant map has no ranks or correlation, where SciPy answers NaN).
public enum MapSimilarity {
    /// The map divided by its largest absolute value (Quantus' `normalise_by_max`); an all-zero map stays zero.
    public static func normalisedByMax(_ a: [Double]) -> [Double] {
        let m = a.reduce(0) { Swift.max($0, Swift.abs($1)) }
        return m > 0 ? a.map { $0 / m } : a
    }

    /// Pearson's correlation coefficient (`scipy.stats.pearsonr`).
    public static func pearson(_ a: [Double], _ b: [Double]) -> Double? {
        precondition(a.count == b.count, "pearson: \(a.count) and \(b.count) values")
        if a == b { return 1 }
        let n = Double(a.count)
        let ma = a.reduce(0, +) / n, mb = b.reduce(0, +) / n
        var sab = 0.0, saa = 0.0, sbb = 0.0
        for i in a.indices {
            let da = a[i] - ma, db = b[i] - mb
            sab += da * db
            saa += da * da
            sbb += db * db
        }
        guard saa > 0, sbb > 0 else { return nil }
        return Swift.max(-1, Swift.min(1, sab / (saa * sbb).squareRoot()))
    }

    /// Ranks 1…n with ties given their average rank (`scipy.stats.rankdata`'s default).
    public static func ranks(_ a: [Double]) -> [Double] {
        let order = a.indices.sorted { a[$0] < a[$1] }
        var r = [Double](repeating: 0, count: a.count)
        var i = 0
        while i < order.count {
            var j = i
            while j + 1 < order.count && a[order[j + 1]] == a[order[i]] { j += 1 }
            let average = Double(i + j) / 2 + 1
            for k in i...j { r[order[k]] = average }
            i = j + 1
        }
        return r
    }

    /// Spearman's rank correlation (`scipy.stats.spearmanr`): Pearson's correlation of the average ranks.
    public static func spearman(_ a: [Double], _ b: [Double]) -> Double? {
        if a == b { return 1 }
        return pearson(ranks(a), ranks(b))
    }

    /// The mean structural similarity of `skimage.metrics.structural_similarity` on 2-D maps with its
    /// defaults (a 7×7 uniform window, K1 = 0.01, K2 = 0.03, sample covariances, the mean over the
    /// windows that lie inside the map), and `dataRange` as given, or when nil the range over both maps
    /// (Quantus' `ssim`).
    public static func ssim(_ a: [Double], _ b: [Double], width: Int, height: Int, dataRange: Double? = nil) -> Double? {
        precondition(a.count == width * height && b.count == width * height, "ssim: maps are not \(height)×\(width)")
        if a == b { return 1 }
        let window = 7, pad = window / 2
        guard width >= window, height >= window else { return nil }
        let range = dataRange ?? ((Swift.max(a.max()!, b.max()!)) - Swift.min(a.min()!, b.min()!))
        let c1 = (0.01 * range) * (0.01 * range), c2 = (0.03 * range) * (0.03 * range)
        let np = Double(window * window), covarianceNorm = np / (np - 1)
        // Window sums over the valid centres only: the border windows are cropped from the mean anyway.
        func windowMeans(_ v: [Double]) -> [Double] {
            var rows = [Double](repeating: 0, count: width * height)
            for y in 0..<height { for x in pad..<(width - pad) {
                var s = 0.0
                for dx in -pad...pad { s += v[y * width + x + dx] }
                rows[y * width + x] = s
            }}
            var out = [Double](repeating: 0, count: width * height)
            for y in pad..<(height - pad) { for x in pad..<(width - pad) {
                var s = 0.0
                for dy in -pad...pad { s += rows[(y + dy) * width + x] }
                out[y * width + x] = s / np
            }}
            return out
        }
        let ux = windowMeans(a), uy = windowMeans(b)
        let uxx = windowMeans(a.map { $0 * $0 }), uyy = windowMeans(b.map { $0 * $0 })
        let uxy = windowMeans(zip(a, b).map { $0 * $1 })
        var total = 0.0, count = 0
        for y in pad..<(height - pad) { for x in pad..<(width - pad) {
            let i = y * width + x
            let vx = covarianceNorm * (uxx[i] - ux[i] * ux[i]), vy = covarianceNorm * (uyy[i] - uy[i] * uy[i])
            let vxy = covarianceNorm * (uxy[i] - ux[i] * uy[i])
            let numerator = (2 * ux[i] * uy[i] + c1) * (2 * vxy + c2)
            let denominator = (ux[i] * ux[i] + uy[i] * uy[i] + c1) * (vx + vy + c2)
            guard denominator != 0 else { return nil }
            total += numerator / denominator
            count += 1
        }}
        return total / Double(count)
    }

    /// The histogram-of-oriented-gradients descriptor of `skimage.feature.hog` with its defaults: 9
    /// unsigned orientations, 8×8-pixel cells, 3×3-cell blocks normalised by L2-Hys (ε = 1e−5, clip at
    /// 0.2), central-difference gradients (zero on the border rows and columns), flattened block by block.
    /// Nil when the map is smaller than one block.
    public static func hog(_ a: [Double], width: Int, height: Int, orientations: Int = 9, cell: Int = 8,
                           block: Int = 3) -> [Double]? {
        precondition(a.count == width * height, "hog: the map is not \(height)×\(width)")
        let cellsY = height / cell, cellsX = width / cell
        guard cellsY >= block, cellsX >= block else { return nil }
        var magnitude = [Double](repeating: 0, count: a.count), orientation = [Double](repeating: 0, count: a.count)
        for y in 0..<height { for x in 0..<width {
            let gy = y > 0 && y < height - 1 ? a[(y + 1) * width + x] - a[(y - 1) * width + x] : 0
            let gx = x > 0 && x < width - 1 ? a[y * width + x + 1] - a[y * width + x - 1] : 0
            magnitude[y * width + x] = (gx * gx + gy * gy).squareRoot()
            // NumPy's `%` takes the sign of the divisor: the angle in [0, 180).
            let degrees = atan2(gy, gx) * 180 / .pi
            orientation[y * width + x] = degrees - 180 * (degrees / 180).rounded(.down)
        }}
        let binWidth = 180 / Double(orientations)
        var histogram = [Double](repeating: 0, count: cellsY * cellsX * orientations)
        for cy in 0..<cellsY { for cx in 0..<cellsX {
            for y in (cy * cell)..<((cy + 1) * cell) { for x in (cx * cell)..<((cx + 1) * cell) {
                let o = orientation[y * width + x]
                // Bin i holds i·w ≤ o < (i + 1)·w, compared as skimage compares.
                for i in 0..<orientations where o < binWidth * Double(i + 1) && o >= binWidth * Double(i) {
                    histogram[(cy * cellsX + cx) * orientations + i] += magnitude[y * width + x]
                }
            }}
        }}
        let cellArea = Double(cell * cell)
        for i in histogram.indices { histogram[i] /= cellArea }
        let eps = 1e-5
        var out: [Double] = []
        out.reserveCapacity((cellsY - block + 1) * (cellsX - block + 1) * block * block * orientations)
        for by in 0...(cellsY - block) { for bx in 0...(cellsX - block) {
            var v: [Double] = []
            for y in by..<(by + block) { for x in bx..<(bx + block) {
                v += histogram[((y * cellsX + x) * orientations)..<((y * cellsX + x + 1) * orientations)]
            }}
            var norm = (v.reduce(0) { $0 + $1 * $1 } + eps * eps).squareRoot()
            v = v.map { Swift.min($0 / norm, 0.2) }
            norm = (v.reduce(0) { $0 + $1 * $1 } + eps * eps).squareRoot()
            out += v.map { $0 / norm }
        }}
        return out
    }

    /// Pearson's correlation of the two maps' ``hog(_:width:height:orientations:cell:block:)`` descriptors.
    public static func hogSimilarity(_ a: [Double], _ b: [Double], width: Int, height: Int) -> Double? {
        if a == b { return 1 }
        guard let ha = hog(a, width: width, height: height), let hb = hog(b, width: width, height: height) else { return nil }
        return pearson(ha, hb)
    }
}

/// The four similarities of the sanity check between a map from the trained model and one from a
/// randomised model, as Adebayo et al. report them.
public struct SanitySimilarities: Sendable, Codable, Equatable {
    /// Spearman's rank correlation of the absolute values.
    public var spearmanAbs: Double?
    /// Spearman's rank correlation of the signed values.
    public var spearman: Double?
    /// SSIM of the absolute maps, each normalised by its maximum.
    public var ssim: Double?
    /// Pearson's correlation of the HOG descriptors of the absolute maps, each normalised by its maximum.
    public var hog: Double?

    /// The names the values are reported under, in order.
    public static let names = ["spearman_abs", "spearman", "ssim", "hog"]

    /// The values in ``names`` order.
    public var values: [Double?] { [spearmanAbs, spearman, ssim, hog] }

    /// The similarities of `trained` and `randomised` (row-major `height`×`width` maps): each map is
    /// normalised by its largest absolute value (Quantus' `normalise_by_max`), the signed Spearman is taken
    /// on that, and the other three on its absolute value (Quantus' `abs=True`).
    public init(trained: [Double], randomised: [Double], width: Int, height: Int) {
        let a = MapSimilarity.normalisedByMax(trained), b = MapSimilarity.normalisedByMax(randomised)
        let absA = a.map(Swift.abs), absB = b.map(Swift.abs)
        spearman = MapSimilarity.spearman(a, b)
        spearmanAbs = MapSimilarity.spearman(absA, absB)
        ssim = MapSimilarity.ssim(absA, absB, width: width, height: height)
        hog = MapSimilarity.hogSimilarity(absA, absB, width: width, height: height)
    }
}
