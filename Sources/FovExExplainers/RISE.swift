import FovExModels
import FovExTensor

/// RISE (Petsiuk et al., 2018): the image is multiplied (in [0, 1] pixel space) by N random smooth
/// binary masks; the saliency is the masks averaged with the class probability each masked image
/// gets, Σ_i softmax_c(model(x ⊙ M_i))·M_i / (N·p1), min-max normalised.
///
/// A mask is an s×s grid of cells kept with probability p1, bilinearly upsampled
/// (align_corners = false) to (s+1)·⌈S/s⌉ pixels and cropped to S×S at a random shift below one
/// cell. The masks come from one seeded generator and serve every image; they are made and run in
/// batches, so memory stays bounded however many there are.
public struct RISE: Explainer {
    /// The settings of the masks; the defaults are the RISE paper's for ImageNet.
    public struct Options: Sendable, Codable, Equatable {
        /// Number of masks N (the RISE paper's ImageNet ResNet-50 setting).
        public var masks = 4000
        /// Grid cells per side s.
        public var cells = 7
        /// Probability p1 that a cell is kept.
        public var keepProbability: Float = 0.5
        /// Masked images per forward pass (8 is the fastest per image for Lite0 and ResNet-50 on 2 cores; larger
        /// batches fall out of cache).
        public var batchSize = 8
        /// Seed of the masks.
        public var seed: UInt64 = 42

        /// The default settings.
        public init() {}

        /// 1…1 000 000 masks (the RISE paper: 4000 for ImageNet).
        public static let masksBounds = OptionBounds<Int>(1...1_000_000)
        /// 1…1024 cells per side (and, checked per image, at most its side).
        public static let cellsBounds = OptionBounds<Int>(1...1024)
        /// p1 in (0, 1].
        public static let keepProbabilityBounds = OptionBounds<Float>(above: 0, through: 1)
        /// 1…4096 masked images per forward pass.
        public static let batchSizeBounds = OptionBounds<Int>(1...4096)

        /// Throws ``InvalidOptionError`` for the first value outside its accepted range.
        public func validate() throws {
            try Self.masksBounds.check(masks, option: "masks", method: "rise")
            try Self.cellsBounds.check(cells, option: "cells", method: "rise")
            try Self.keepProbabilityBounds.check(keepProbability, option: "keep_probability", method: "rise")
            try Self.batchSizeBounds.check(batchSize, option: "batch_size", method: "rise")
        }
    }

    /// The settings this explainer runs with (checked when it was built).
    public var options: Options
    /// Masks to use instead of seeded ones, [M, 1, S, S] or [M, S, S] (M replaces `options.masks`).
    public var masks: Tensor?
    /// Called after each forward batch with (masked images evaluated, total to evaluate).
    public var progress: ((_ done: Int, _ total: Int) -> Void)?
    public var name: String { "rise" }

    /// - Throws: ``InvalidOptionError`` for a value outside its accepted range.
    public init(options: Options = Options(), masks: Tensor? = nil, progress: ((_ done: Int, _ total: Int) -> Void)? = nil) throws {
        try options.validate()
        self.options = options
        self.masks = masks
        self.progress = progress
    }

    /// The options as run records write them; with given masks, their count and `mask_source = given`
    /// replace the count, grid and seed that did not make them.
    public var settings: [String: String] {
        var s = SettingsEncoder.settings(of: options)
        if let masks {
            s["masks"] = "\(masks.shape[0])"
            s["cells"] = nil
            s["seed"] = nil
            s["mask_source"] = "given"
        }
        return s
    }

    public func explain(_ pixels: Tensor, model: ImageClassifier, classes: [Int]?) throws -> [Explanation] {
        try TargetedForward.validate(pixels, method: name)
        let o = options
        let (n, size) = (pixels.shape[0], pixels.shape[2])
        // Options set after the initialiser (they are a `var`) are checked again here.
        try o.validate()
        let given = try masks.map { m -> Tensor in
            guard (m.rank == 4 && m.shape[1] == 1 && m.shape[2] == size && m.shape[3] == size)
                    || (m.rank == 3 && m.shape[1] == size && m.shape[2] == size), m.shape[0] > 0 else {
                throw ExplainerError.badInput("rise: masks of shape \(m.shape) do not fit \(size)×\(size) images")
            }
            return m.reshaped([m.shape[0], 1, size, size])
        }
        let count = given?.shape[0] ?? o.masks
        guard given != nil || o.cells <= size else {
            throw InvalidOptionError(method: name, option: "cells", value: "\(o.cells)",
                                     accepted: "a whole number in 1…\(size) (the image side)")
        }
        let (targets, probabilities) = try TargetedForward.targets(pixels, model: model, classes: classes, method: name)
        let x = pixels.detached().contiguous()
        var generator = SeededGenerator(seed: o.seed)
        var sums = [Tensor](repeating: Tensor(zeros: [1, size * size]), count: n)
        var done = 0
        try withoutGradients {
            for start in stride(from: 0, to: count, by: o.batchSize) {
                let b = Swift.min(o.batchSize, count - start)
                let m = given?.sliced(axis: 0, start..<(start + b)).contiguous()
                    ?? RISE.randomMasks(count: b, cells: o.cells, keepProbability: o.keepProbability, size: size,
                                        generator: &generator)
                let flat = m.reshaped([b, size * size])
                for i in 0..<n {
                    let probs = model.probabilities(x.sliced(axis: 0, i..<(i + 1)) * m)
                    guard probs.shape == [b, probs.shape[1]] else {
                        throw ExplainerError.badInput("rise: the model returned \(probs.shape) outputs for \(b) masked images")
                    }
                    let weights = probs.sliced(axis: 1, targets[i]..<(targets[i] + 1)).transposed()
                    sums[i] = sums[i] + weights.matmul(flat)
                    done += b
                    progress?(done, count * n)
                }
            }
        }
        let maps = withoutGradients {
            let saliency = Tensor.concatenate(sums, axis: 0).reshaped([n, size, size]) / (Float(count) * o.keepProbability)
            return ExplainerSupport.minMaxNormalized(saliency)
        }
        let settings = self.settings
        return (0..<n).map { i in
            Explanation(method: name, map: maps.selecting(axis: 0, index: i).contiguous(), classIndex: targets[i],
                        probability: probabilities[i], settings: settings)
        }
    }

    /// `count` masks [count, 1, S, S] from `generator`. Per mask: s² uniform draws u, cell kept when
    /// u < p1 (row-major), then the shift's row and column, each ⌊u·⌈S/s⌉⌋.
    public static func randomMasks(count: Int, cells: Int, keepProbability: Float, size: Int,
                                   generator: inout SeededGenerator) -> Tensor {
        let cell = (size + cells - 1) / cells
        var grid = [Float](repeating: 0, count: count * cells * cells)
        var shifts: [(row: Int, column: Int)] = []
        for k in 0..<count {
            for j in 0..<(cells * cells) { grid[k * cells * cells + j] = generator.nextUniform() < keepProbability ? 1 : 0 }
            let row = Int(generator.nextUniform() * Float(cell)), column = Int(generator.nextUniform() * Float(cell))
            shifts.append((Swift.min(row, cell - 1), Swift.min(column, cell - 1)))
        }
        return masks(grids: Tensor(shape: [count, cells, cells], scalars: grid), shifts: shifts, size: size)
    }

    /// Masks [M, 1, S, S] from grids [M, s, s]: each grid bilinearly upsampled (align_corners = false)
    /// to (s+1)·⌈S/s⌉ pixels per side, then the S×S window at its (row, column) shift.
    public static func masks(grids: Tensor, shifts: [(row: Int, column: Int)], size: Int) -> Tensor {
        precondition(grids.rank == 3 && grids.shape[1] == grids.shape[2] && shifts.count == grids.shape[0],
                     "RISE masks need grids [M, s, s] and M shifts, got \(grids.shape) and \(shifts.count)")
        let (m, s) = (grids.shape[0], grids.shape[1])
        let up = (s + 1) * ((size + s - 1) / s)
        return withoutGradients {
            let upsampled = grids.reshaped([m, 1, s, s]).resized(height: up, width: up)
            let windows = shifts.enumerated().map { k, shift -> Tensor in
                precondition(shift.row >= 0 && shift.column >= 0 && shift.row + size <= up && shift.column + size <= up,
                             "RISE mask shift \(shift) leaves the \(up)×\(up) upsampled grid")
                return upsampled.sliced(axis: 0, k..<(k + 1))
                    .sliced(axis: 2, shift.row..<(shift.row + size)).sliced(axis: 3, shift.column..<(shift.column + size))
            }
            return Tensor.concatenate(windows, axis: 0)
        }
    }
}
