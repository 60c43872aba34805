import XCTest
@testable import FovExModels
@testable import FovExExplainers
import FovExTensor

/// Properties every baseline must have whatever its reference: valid maps, localisation on toy
/// models whose logit depends on one known region, determinism, batch independence and clear errors.
final class BaselineSanityTests: XCTestCase {
    /// Settings small enough for 32×32 inputs and a test budget of seconds.
    static var riseOptions: RISE.Options {
        var o = RISE.Options()
        o.masks = 200
        o.cells = 4
        o.batchSize = 64
        return o
    }

    static var mpOptions: MeaningfulPerturbation.Options {
        var o = MeaningfulPerturbation.Options()
        o.maskSize = 8
        o.iterations = 40
        return o
    }

    /// A random ViT of the project's own architecture at 32×32 (patch 8, two blocks).
    static func randomViT() -> VisionTransformer {
        let configuration = VisionTransformer.Configuration(dimension: 32, depth: 2, heads: 2, patch: 8, imageSize: 32)
        let specs = VisionTransformer.parameters(configuration, classes: 6)
        return VisionTransformer(configuration, weights: ModelWeights(random: specs, seed: 3),
                                 identity: ModelIdentity(architecture: "vit-toy", weights: "random(seed: 3)"),
                                 classNames: (0..<6).map { "class \($0)" })
    }

    /// Every method valid for `model` but FovEx (tested on its own), with short RISE and MP runs.
    static func explainers(for model: ImageClassifier) throws -> [Explainer] {
        var options = ExplainerRegistry.Options()
        options.rise = riseOptions
        options.rise.masks = 64
        options.meaningfulPerturbation = mpOptions
        options.meaningfulPerturbation.iterations = 5
        return try ExplainerRegistry.allNames(for: model).filter { $0 != "fovex" }
            .map { try ExplainerRegistry.explainer(named: $0, for: model, options: options) }
    }

    private func assertValid(_ e: Explanation, size: Int, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(e.map.shape, [size, size], "\(e.method) map shape", file: file, line: line)
        let values = e.map.scalars
        XCTAssertTrue(values.allSatisfy { $0.isFinite && $0 >= 0 && $0 <= 1 }, "\(e.method): values outside [0, 1]",
                      file: file, line: line)
        XCTAssertEqual(values.max() ?? 0, 1, accuracy: 1e-6, "\(e.method): not normalised", file: file, line: line)
        XCTAssertEqual(values.min() ?? 1, 0, accuracy: 1e-6, "\(e.method): not normalised", file: file, line: line)
        XCTAssertTrue((0...1).contains(e.probability), file: file, line: line)
    }

    /// The (row, column) of a map's maximum.
    private func peak(_ map: Tensor) -> (row: Int, col: Int) {
        let v = map.scalars
        let i = v.indices.max { v[$0] < v[$1] }!
        return (i / map.shape[1], i % map.shape[1])
    }

    func testEveryMethodGivesNormalisedMapsOnACNNAndAViT() throws {
        var g = SeededGenerator(seed: 21)
        let x = Tensor(randomUniform: [2, 3, 32, 32], generator: &g)
        for model in [TinyConvNet(seed: 4) as ImageClassifier, Self.randomViT()] {
            let explainers = try Self.explainers(for: model)
            XCTAssertEqual(explainers.count, model is TokenClassifier ? 7 : 5)
            for explainer in explainers {
                let results = try explainer.explain(x, model: model, classes: nil)
                XCTAssertEqual(results.count, 2)
                let top1 = model.probabilities(x).argmax(alongAxis: 1)
                XCTAssertEqual(results.map(\.classIndex), top1, explainer.name)
                for r in results { assertValid(r, size: 32) }
            }
        }
    }

    func testEveryMethodFindsTheRegionTheLogitDependsOn() throws {
        let spot = (row: 9, col: 22)
        // A modest gain keeps the class probability away from saturation, so that perturbations of the
        // spot change it (RISE, Meaningful Perturbation).
        let cnnToy = SpotClassifier(spot: spot, gain: 0.1)
        // MP in pixel mode: the reference mode's 11×11 median filter of a 32×32 toy image takes most of the
        // image's structure with the spot, which this localisation check is not about.
        var pixelMP = Self.mpOptions
        pixelMP.mode = .pixel
        for explainer in [GradCAM(), GradCAMPlusPlus(), try RISE(options: Self.riseOptions),
                          try MeaningfulPerturbation(options: pixelMP)] as [Explainer] {
            let result = try explainer.explain(cnnToy.image(), model: cnnToy, classes: [0])[0]
            let p = peak(result.map)
            XCTAssertLessThanOrEqual(Swift.max(abs(p.row - spot.row), abs(p.col - spot.col)), 2,
                                     "\(explainer.name) peaks at \(p), the spot is at \(spot)")
        }
        // The token toy's logit flows through the class token's attention to the spot's patch (rows
        // 8–11, columns 20–23 for patch 4).
        let tokenToy = SpotTokenClassifier(spot: spot)
        for explainer in [GenericAttention(), ClassEmbeddingProjection()] as [Explainer] {
            let result = try explainer.explain(cnnToy.image(), model: tokenToy, classes: nil)[0]
            XCTAssertEqual(result.classIndex, 0)
            let p = peak(result.map)
            XCTAssertTrue((7...12).contains(p.row) && (19...24).contains(p.col),
                          "\(explainer.name) peaks at \(p), the spot's patch spans rows 8–11, columns 20–23")
            XCTAssertEqual(result.map[2, 2], 0, accuracy: 1e-6, "\(explainer.name): patches without the spot carry nothing")
        }
    }

    func testRandomCAMDiffersFromGradCAMAndRepeatsWithItsSeed() throws {
        let model = TinyConvNet(seed: 8)
        var g = SeededGenerator(seed: 2)
        let x = Tensor(randomUniform: [1, 3, 32, 32], generator: &g)
        let grad = try GradCAM().explain(x, model: model, classes: [1])[0].map
        let random = try RandomCAM().explain(x, model: model, classes: [1])[0].map
        XCTAssertGreaterThan(maxAbsDifference(grad, random), 0.2)
        XCTAssertEqual(try RandomCAM().explain(x, model: model, classes: [1])[0].map.scalars, random.scalars)
        let weights = RandomCAMWeights.seededWeights(channels: 500, seed: 42).scalars
        XCTAssertTrue(weights.allSatisfy { (-1...1).contains($0) })
        XCTAssertEqual(weights.reduce(0, +) / 500, 0, accuracy: 0.1, "Uniform(−1, 1) has mean 0")
        XCTAssertNotEqual(RandomCAMWeights.seededWeights(channels: 8, seed: 7).scalars, RandomCAMWeights.seededWeights(channels: 8, seed: 42).scalars)
        // Weights given as the map's own Grad-CAM weights reproduce Grad-CAM.
        let (a, gradients, _) = try CAMSupport.activations(x, model: model, classes: [1], point: "conv2",
                                                           withGradients: true, method: "test")
        let gradWeights = GradCAMWeights.channelWeights(gradients: gradients!)
        XCTAssertEqual(a.shape[1], gradWeights.shape[1])
        let replayed = try RandomCAM(channelWeights: gradWeights).explain(x, model: model, classes: [1])[0].map
        XCTAssertLessThanOrEqual(maxAbsDifference(replayed, grad), 1e-6)
    }

    func testRISEMasksFollowTheGridAndBatchingDoesNotChangeTheMap() throws {
        var g = SeededGenerator(seed: 5)
        let masks = RISE.randomMasks(count: 300, cells: 4, keepProbability: 0.3, size: 32, generator: &g)
        XCTAssertEqual(masks.shape, [300, 1, 32, 32])
        let values = masks.scalars
        XCTAssertTrue(values.allSatisfy { (0...1).contains($0) })
        XCTAssertEqual(values.reduce(0, +) / Float(values.count), 0.3, accuracy: 0.03, "masks keep about p1 of the image")
        // A single kept cell, unshifted: the upsampled (5×8 = 40 pixels) grid's first cell is fully
        // on around its centre and off two cells away.
        let one = RISE.masks(grids: Tensor(shape: [1, 4, 4], scalars: (0..<16).map { $0 == 0 ? 1 : 0 }), shifts: [(0, 0)], size: 32)
        XCTAssertEqual(one[0, 0, 0, 0], 1, accuracy: 1e-6)
        XCTAssertEqual(one[0, 0, 20, 20], 0, accuracy: 1e-6)

        let model = TinyConvNet(seed: 6)
        let x = Tensor(randomUniform: [2, 3, 32, 32], generator: &g)
        var options = Self.riseOptions
        options.masks = 70
        var reports: [(Int, Int)] = []
        let batch = try RISE(options: options, progress: { reports.append(($0, $1)) }).explain(x, model: model, classes: nil)
        XCTAssertEqual(reports.last?.0, 140)
        XCTAssertEqual(reports.last?.1, 140)
        options.batchSize = 16
        for i in 0..<2 {
            let single = try RISE(options: options).explain(x.sliced(axis: 0, i..<(i + 1)), model: model, classes: nil)[0]
            XCTAssertLessThanOrEqual(maxAbsDifference(single.map, batch[i].map), 1e-5, "image \(i)")
        }
    }

    func testMeaningfulPerturbationIsSeededAndBatchIndependent() throws {
        let model = TinyConvNet(seed: 9)
        var g = SeededGenerator(seed: 4)
        let x = Tensor(randomUniform: [2, 3, 32, 32], generator: &g)
        var options = Self.mpOptions
        options.iterations = 6
        var last = 0
        let batch = try MeaningfulPerturbation(options: options, progress: { done, _ in last = done }).explain(x, model: model, classes: nil)
        XCTAssertEqual(last, 6)
        for i in 0..<2 {
            let single = try MeaningfulPerturbation(options: options).explain(x.sliced(axis: 0, i..<(i + 1)), model: model, classes: nil)[0]
            XCTAssertLessThanOrEqual(maxAbsDifference(single.map, batch[i].map), 1e-4, "image \(i)")
        }
        options.seed = 43
        let reseeded = try MeaningfulPerturbation(options: options).explain(x, model: model, classes: nil)
        XCTAssertGreaterThan(maxAbsDifference(reseeded[0].map, batch[0].map), 0)
    }

    /// `reference` mode draws its noise in the model's normalised space: in pixels each channel's noise
    /// is scaled by that channel's std; `pixel` mode adds it as drawn.
    func testReferenceModeNoiseIsScaledByTheNormalisationStd() throws {
        let noise = Tensor(shape: [1, 3, 1, 2], scalars: [1, -2, 1, -2, 1, -2])
        let std: [Float] = [0.229, 0.224, 0.225]
        XCTAssertEqual(MeaningfulPerturbation.noiseInPixels(noise, mode: .reference, std: std).scalars,
                       [0.229, -0.458, 0.224, -0.448, 0.225, -0.45])
        XCTAssertEqual(MeaningfulPerturbation.noiseInPixels(noise, mode: .pixel, std: std).scalars, noise.scalars)
    }

    /// The reference takes its deleted pixels from an 11×11 median filter, the pixel mode from a Gaussian:
    /// on the same seeded noise the two give different maps.
    func testReferenceModeIsTheDefaultAndDiffersFromPixelMode() throws {
        XCTAssertEqual(MeaningfulPerturbation.Options().mode, .reference)
        let model = TinyConvNet(seed: 9)
        var g = SeededGenerator(seed: 8)
        let x = Tensor(randomUniform: [1, 3, 32, 32], generator: &g)
        var options = Self.mpOptions
        options.iterations = 6
        let reference = try MeaningfulPerturbation(options: options).explain(x, model: model, classes: nil)[0].map
        options.mode = .pixel
        let pixel = try MeaningfulPerturbation(options: options).explain(x, model: model, classes: nil)[0].map
        XCTAssertGreaterThan(maxAbsDifference(reference, pixel), 1e-3)
    }

    /// RandomCAM draws new weights for every image, the same for an image wherever it comes.
    func testRandomCAMDrawsFreshWeightsPerImageSeededByTheImage() throws {
        let model = TinyConvNet(seed: 8)
        var g = SeededGenerator(seed: 12)
        let a = Tensor(randomUniform: [1, 3, 32, 32], generator: &g)
        let b = Tensor(randomUniform: [1, 3, 32, 32], generator: &g)
        let (acts, _, _) = try CAMSupport.activations(Tensor.concatenate([a, b], axis: 0), model: model, classes: [0, 0],
                                                      point: "conv2", withGradients: false, method: "test")
        let w = try RandomCAMWeights().channelWeights(activations: acts, gradients: nil,
                                                      pixels: Tensor.concatenate([a, b], axis: 0), point: "conv2")
        let c = w.shape[1]
        XCTAssertNotEqual(Array(w.scalars[0..<c]), Array(w.scalars[c..<(2 * c)]), "one draw per image")
        XCTAssertTrue(w.scalars.allSatisfy { (-1...1).contains($0) })
        // Image b's weights are the same alone, first in a batch or second.
        let alone = try RandomCAMWeights().channelWeights(activations: acts.sliced(axis: 0, 1..<2).contiguous(), gradients: nil,
                                                          pixels: b, point: "conv2")
        XCTAssertEqual(alone.scalars, Array(w.scalars[c..<(2 * c)]))
        let mapInBatch = try RandomCAM().explain(Tensor.concatenate([b, a], axis: 0), model: model, classes: nil)[0].map
        XCTAssertLessThanOrEqual(maxAbsDifference(try RandomCAM().explain(b, model: model, classes: nil)[0].map, mapInBatch), 1e-5)
        // Another seed, other weights for the same image.
        let reseeded = try RandomCAMWeights(seed: 7).channelWeights(activations: acts.sliced(axis: 0, 1..<2).contiguous(),
                                                                    gradients: nil, pixels: b, point: "conv2")
        XCTAssertNotEqual(reseeded.scalars, alone.scalars)
    }

    func testTotalVariationAndMaskUpsamplingMatchHandValues() throws {
        // Rows [0, 1], [1, 1]: |Δ| along rows is (1, 0), along columns (1, 0); β = 3 → 0.5 + 0.5.
        let m = Tensor(shape: [1, 1, 2, 2], scalars: [0, 1, 1, 1])
        XCTAssertEqual(MeaningfulPerturbation.totalVariation(m, beta: 3).scalar, 1, accuracy: 1e-6)
        let n = Tensor(shape: [1, 1, 2, 2], scalars: [0, 2, 0, 2])
        XCTAssertEqual(MeaningfulPerturbation.totalVariation(n, beta: 3).scalar, 8, accuracy: 1e-5)
    }

    func testTokenMethodsRefuseCNNsAndTheRegistryKnowsWhichMethodsFit() throws {
        let cnn = TinyConvNet(seed: 1)
        let vit = Self.randomViT()
        XCTAssertEqual(ExplainerRegistry.names(validFor: cnn), ["gradcam", "gradcam++", "randomcam", "rise", "mp", "fovex", "uniform", "centre"])
        XCTAssertEqual(ExplainerRegistry.names(validFor: vit), ExplainerRegistry.names)
        // `all` leaves out the maps that ignore the image; they are asked for by name.
        XCTAssertEqual(try ExplainerRegistry.explainers("all", for: cnn).map(\.name), ["gradcam", "gradcam++", "randomcam", "rise", "mp", "fovex"])
        XCTAssertEqual(try ExplainerRegistry.explainers("all,centre", for: cnn).map(\.name).last, "centre")
        XCTAssertEqual(try ExplainerRegistry.explainers("GradCAM, rise,gradcam", for: cnn).map(\.name), ["gradcam", "rise"])
        for method in ["gae", "clsemb"] {
            XCTAssertThrowsError(try ExplainerRegistry.explainer(named: method, for: cnn)) { error in
                let text = "\(error)"
                XCTAssertTrue(text.contains(method) && text.contains("tiny-conv") && text.contains("Vision Transformer"), text)
            }
        }
        let x = Tensor(repeating: 0.5, shape: [1, 3, 32, 32])
        for explainer in [GenericAttention(), ClassEmbeddingProjection()] as [Explainer] {
            XCTAssertThrowsError(try explainer.explain(x, model: cnn, classes: nil)) { error in
                guard case ExplainerError.unsupportedModel = error else { return XCTFail("\(error)") }
            }
        }
        XCTAssertThrowsError(try ExplainerRegistry.explainer(named: "lime", for: cnn)) { XCTAssertTrue("\($0)".contains("gradcam")) }
        assertBadInput(try ExplainerRegistry.explainers(" , ", for: cnn), mentioning: ["no method given", "gradcam"])
    }

    func testBadRequestsAreClearErrors() throws {
        let model = TinyConvNet(seed: 2)
        let x = Tensor(repeating: 0.5, shape: [1, 3, 32, 32])
        XCTAssertThrowsError(try GradCAM(options: .init(point: "layer9")).explain(x, model: model, classes: nil)) { error in
            guard case ExplainerError.unknownPoint("layer9", let available) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(available, model.innerPoints)
        }
        assertBadInput(try GradCAM().explain(x, model: model, classes: [9]), mentioning: ["class 9", "0..<5"])
        assertBadInput(try GradCAM().explain(x, model: model, classes: [1, 2]), mentioning: ["2 classes", "1 images"])
        assertBadInput(try RISE().explain(Tensor(zeros: [1, 3, 32, 16]), model: model, classes: nil),
                       mentioning: ["rise", "square", "[1, 3, 32, 16]"])
        assertBadInput(try RISE(masks: Tensor(zeros: [4, 1, 16, 16])).explain(x, model: model, classes: nil),
                       mentioning: ["rise", "[4, 1, 16, 16]", "32×32"])
        assertBadInput(try RandomCAM(channelWeights: Tensor(zeros: [3])).explain(x, model: model, classes: nil),
                       mentioning: ["randomcam", "[3]", "8 channels"])
        assertBadInput(try MeaningfulPerturbation(options: Self.mpOptions, noise: [x]).explain(x, model: model, classes: nil),
                       mentioning: ["mp", "1 noise tensors", "\(Self.mpOptions.iterations) iterations"])
        // The CAM on the ViT's default point uses its patch grid: 4×4 tokens at patch 8.
        let vit = Self.randomViT()
        let (a, g, _) = try CAMSupport.activations(x, model: vit, classes: nil, point: vit.defaultCAMPoint,
                                                   withGradients: true, method: "test")
        XCTAssertEqual(a.shape, [1, 32, 4, 4])
        XCTAssertEqual(g?.shape, [1, 32, 4, 4])
    }

    /// Checks that `expression` throws ``ExplainerError/badInput(_:)`` whose message names every one of `fragments`.
    func assertBadInput<T>(_ expression: @autoclosure () throws -> T, mentioning fragments: [String],
                           file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try expression(), file: file, line: line) { error in
            guard case ExplainerError.badInput(let message) = error else {
                return XCTFail("expected a bad-input error, got \(error)", file: file, line: line)
            }
            for fragment in fragments {
                XCTAssertTrue(message.contains(fragment), "'\(message)' does not mention '\(fragment)'", file: file, line: line)
            }
        }
    }
}
