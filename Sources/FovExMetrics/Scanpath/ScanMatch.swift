/// ScanMatch (Cristino, Mathôt, Theeuwes & Gilchrist, 2010), as FixaTons runs it (`scanMatch_metric`,
/// built on GazeParser's port of the MATLAB toolbox).
///
/// The image is divided into `xBins`×`yBins` regions; each fixation becomes its region's symbol
/// (repeated once per `temporalBin` ms of its duration when temporal binning is on), and the two
/// symbol strings are aligned with Needleman–Wunsch. Substituting region a for b scores
/// `threshold − dist(a, b)` (grid distance), so regions closer than `threshold` cells count as matches;
/// gaps cost `gapValue`. The score is the alignment matrix's maximum over `threshold · max(m, n)`, so
/// scanpaths of different lengths are compared by leaving the shorter one's extra length unmatched.
/// Higher is more similar, 1 for identical strings.
///
/// Temporal binning needs durations on both sides; a generated scanpath has none, so the evaluation
/// protocol compares spatially (`temporalBin` 0) throughout, for humans and models alike.
public struct ScanMatch: ScanpathMetric {
    /// Columns of the grid fixations are binned into.
    public var xBins: Int
    /// Rows of that grid.
    public var yBins: Int
    /// The substitution-matrix threshold (ScanMatch's default: the grid diagonal scaled as the reference does).
    public var threshold: Double
    /// The alignment's gap penalty.
    public var gapValue: Double
    /// Milliseconds per repeated symbol; 0 compares positions only.
    public var temporalBin: Double

    public var name: String { "scanmatch" }
    public var direction: MetricDirection { .higherIsBetter }
    public var options: [String: String] {
        ["x_bins": "\(xBins)", "y_bins": "\(yBins)", "threshold": "\(threshold)", "gap_value": "\(gapValue)",
         "temporal_bin": "\(temporalBin)"]
    }

    /// FixaTons' defaults: 14×8 regions, GazeParser's threshold 3.5 and gap 0.
    public init(xBins: Int = 14, yBins: Int = 8, threshold: Double = 3.5, gapValue: Double = 0, temporalBin: Double = 0) {
        self.xBins = xBins
        self.yBins = yBins
        self.threshold = threshold
        self.gapValue = gapValue
        self.temporalBin = temporalBin
    }

    public func compare(_ predicted: [ScanpathPoint], with human: [ScanpathPoint], width: Int, height: Int) -> MetricResult {
        if temporalBin != 0, predicted.contains(where: { $0.duration == nil }) || human.contains(where: { $0.duration == nil }) {
            return MetricResult(value: .nan, warnings: ["scanmatch: temporal binning needs a duration for every fixation"])
        }
        let a = sequence(predicted, width: width, height: height), b = sequence(human, width: width, height: height)
        guard !a.isEmpty || !b.isEmpty else {
            return MetricResult(value: .nan, warnings: ["scanmatch: both scanpaths are empty"])
        }
        return MetricResult(value: score(a, b))
    }

    /// Region symbols as GazeParser's `fixationToSequence`: coordinates clamped to the image and
    /// truncated, region column ⌊x · xBins / W⌋ and row ⌊y · yBins / H⌋ computed as `numpy.arange` does.
    public func sequence(_ path: [ScanpathPoint], width: Int, height: Int) -> [Int] {
        let (mx, my) = (Double(xBins) / Double(width), Double(yBins) / Double(height))
        var out: [Int] = []
        for p in path {
            let x = Int(min(max(p.x, 0), Double(width - 1)).rounded(.towardZero))
            let y = Int(min(max(p.y, 0), Double(height - 1)).rounded(.towardZero))
            let symbol = Int(Double(y) * my) * xBins + Int(Double(x) * mx)
            if temporalBin != 0 {
                // The source truncates the duration to whole milliseconds before binning.
                let ms = max(p.duration ?? 0, 0).rounded(.towardZero)
                let repeats = Int((ms / temporalBin).rounded(.toNearestOrEven))
                out += Array(repeating: symbol, count: repeats)
            } else {
                out.append(symbol)
            }
        }
        return out
    }

    /// Substitution score of two region symbols: `threshold − grid distance`.
    func substitution(_ a: Int, _ b: Int) -> Double {
        let (ax, ay, bx, by) = (a % xBins, a / xBins, b % xBins, b / xBins)
        let d = Double((ax - bx) * (ax - bx) + (ay - by) * (ay - by)).squareRoot()
        return threshold - d
    }

    /// Needleman–Wunsch with GazeParser's initialisation (`F[i][0] = gap · (i + 1)`) and normalisation
    /// (the matrix's maximum over `threshold · max(m, n)`).
    func score(_ a: [Int], _ b: [Int]) -> Double {
        let (n, m) = (a.count, b.count)
        var f = [[Double]](repeating: [Double](repeating: 0, count: m + 1), count: n + 1)
        for i in 0...n { f[i][0] = gapValue * Double(i + 1) }
        for j in 0...m { f[0][j] = gapValue * Double(j + 1) }
        var best = f[0].max()!
        for i in 0...n { best = max(best, f[i][0]) }
        for i in stride(from: 1, through: n, by: 1) {
            for j in stride(from: 1, through: m, by: 1) {
                let match = f[i - 1][j - 1] + substitution(a[i - 1], b[j - 1])
                f[i][j] = max(match, f[i][j - 1] + gapValue, f[i - 1][j] + gapValue)
                best = max(best, f[i][j])
            }
        }
        return best / (threshold * Double(max(m, n)))
    }
}
