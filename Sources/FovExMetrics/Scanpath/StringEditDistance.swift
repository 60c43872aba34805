/// String edit distance between scanpaths (FixaTons, `string_edit_distance`; Zanca et al.).
///
/// The image is cut into an n×n grid (cell size `width / n` by `height / n`, integer division as in
/// the source), each fixation becomes the letter of its cell, and the two strings are compared with
/// NLTK's `edit_distance(…, transpositions=True)`: insertions, deletions and substitutions cost 1, and
/// so does swapping two letters (Damerau–Levenshtein, in NLTK's unrestricted form). Scanpaths of
/// different lengths need no special case: the length difference is paid in insertions. The value is
/// the raw number of edits, as the source returns it; lower is more similar.
public struct StringEditDistance: ScanpathMetric {
    /// Cells per side of the grid fixations become letters in.
    public var gridSize: Int
    public var name: String { "sed" }
    public var direction: MetricDirection { .lowerIsBetter }
    public var options: [String: String] { ["grid_size": "\(gridSize)"] }

    /// The metric on a `gridSize`×`gridSize` grid.
    public init(gridSize: Int = 4) { self.gridSize = gridSize }

    public func compare(_ predicted: [ScanpathPoint], with human: [ScanpathPoint], width: Int, height: Int) -> MetricResult {
        let a = Self.string(predicted, width: width, height: height, gridSize: gridSize)
        let b = Self.string(human, width: width, height: height, gridSize: gridSize)
        return MetricResult(value: Double(Self.editDistance(a, b)))
    }

    /// The cell index of each fixation: `x // (W // n) + (y // (H // n)) · n` after truncating the
    /// coordinates to integers, as the source's `scanpath_to_string` does (the letter is `a` + index).
    public static func string(_ path: [ScanpathPoint], width: Int, height: Int, gridSize: Int) -> [Int] {
        let (ws, hs) = (max(1, width / gridSize), max(1, height / gridSize))
        return path.map { p in
            let x = Int(p.x.rounded(.towardZero)), y = Int(p.y.rounded(.towardZero))
            return floorDiv(x, ws) + floorDiv(y, hs) * gridSize
        }
    }

    /// NLTK's `edit_distance` with `transpositions=True`: a transposition may close a gap, with the
    /// letters between the swapped pair paid as insertions and deletions.
    public static func editDistance(_ s1: [Int], _ s2: [Int]) -> Int {
        let (n, m) = (s1.count, s2.count)
        var lev = [[Int]](repeating: [Int](repeating: 0, count: m + 1), count: n + 1)
        for i in 0...n { lev[i][0] = i }
        for j in 0...m { lev[0][j] = j }
        var lastLeft: [Int: Int] = [:]
        for i in stride(from: 1, through: n, by: 1) {
            var lastRightBuffer = 0
            for j in stride(from: 1, through: m, by: 1) {
                let ll = lastLeft[s2[j - 1]] ?? 0
                let lr = lastRightBuffer
                if s1[i - 1] == s2[j - 1] { lastRightBuffer = j }
                let a = lev[i - 1][j] + 1
                let b = lev[i][j - 1] + 1
                let c = lev[i - 1][j - 1] + (s1[i - 1] != s2[j - 1] ? 1 : 0)
                var d = c + 1
                if ll > 0 && lr > 0 { d = lev[ll - 1][lr - 1] + i - ll + j - lr - 1 }
                lev[i][j] = min(a, b, c, d)
            }
            lastLeft[s1[i - 1]] = i
        }
        return lev[n][m]
    }

    /// Python's `//` on integers (rounds toward −∞).
    static func floorDiv(_ a: Int, _ b: Int) -> Int {
        let q = a / b
        return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
    }
}
