import XCTest
import FovExModels
@testable import FovExExplainers
import FovExTensor

/// The baselines against PyTorch re-statements of their reference implementations, on the same
/// random-weight models, inputs, masks and noise (fixtures from tools/make_baseline_fixtures.py).
/// Every normalised map must match to 1e-4 at every pixel.
final class BaselineParityTests: XCTestCase {
    static let tolerance: Float = 1e-4

    /// Runs `explainer` on the fixture's inputs and compares each map with the reference `key`.
    private func check(_ explainer: Explainer, _ key: String, fixture: BaselineFixture, model: ImageClassifier,
                       file: StaticString = #filePath, line: UInt = #line) throws {
        let x = try fixture.tensor("x")
        let given = try fixture.classes(key)
        let results = try explainer.explain(x, model: model, classes: given)
        XCTAssertEqual(results.map(\.classIndex), try given ?? fixture.top1(), "\(key): classes explained", file: file, line: line)
        let reference = try fixture.tensor(key)
        for (i, r) in results.enumerated() {
            XCTAssertEqual(r.method, explainer.name, file: file, line: line)
            let error = maxAbsDifference(r.map, reference.selecting(axis: 0, index: i))
            XCTAssertLessThanOrEqual(error, Self.tolerance, "\(fixture.name) \(key) image \(i): max abs error \(error)",
                                     file: file, line: line)
        }
    }

    func testCNNCAMsMatchPytorchGradCAM() throws {
        let fixture = try BaselineFixture("baseline_cnn")
        let model = try FixtureCNN(fixture)
        try check(GradCAM(), "gradcam", fixture: fixture, model: model)
        try check(GradCAMPlusPlus(), "gradcampp", fixture: fixture, model: model)
        try check(RandomCAM(channelWeights: try fixture.tensor("randomcam.weights")), "randomcam", fixture: fixture, model: model)
    }

    func testRISEMatchesTheReferenceWithTheSameMasks() throws {
        let fixture = try BaselineFixture("baseline_cnn")
        let s = try fixture.settings("rise")
        let grids = try fixture.tensor("rise.grids")
        let shifts = try fixture.tensor("rise.shifts").scalars
        let masks = RISE.masks(grids: grids, shifts: (0..<grids.shape[0]).map { (Int(shifts[2 * $0]), Int(shifts[2 * $0 + 1])) },
                               size: 32)
        var options = RISE.Options()
        options.keepProbability = Float(try XCTUnwrap(s["keep_probability"] as? Double))
        options.batchSize = 40  // not a divisor of the mask count: the last batch is short
        XCTAssertEqual(masks.shape, [try XCTUnwrap(s["masks"] as? Int), 1, 32, 32])
        try check(RISE(options: options, masks: masks), "rise", fixture: fixture, model: try FixtureCNN(fixture))
    }

    func testMeaningfulPerturbationMatchesTheReferenceWithTheSameNoise() throws {
        let fixture = try BaselineFixture("baseline_cnn")
        let model = try FixtureCNN(fixture)
        let noise = try fixture.tensor("mp.noise")
        for key in ["mp", "mp_half"] {
            let s = try fixture.settings(key)
            var options = MeaningfulPerturbation.Options()
            options.mode = .pixel  // the fixture's reference blurs with a Gaussian and adds noise to [0, 1] pixels
            options.maskSize = try XCTUnwrap(s["mask_size"] as? Int)
            options.iterations = try XCTUnwrap(s["iterations"] as? Int)
            options.learningRate = Float(try XCTUnwrap(s["learning_rate"] as? Double))
            options.l1Coefficient = Float(try XCTUnwrap(s["l1_coefficient"] as? Double))
            options.tvCoefficient = Float(try XCTUnwrap(s["tv_coefficient"] as? Double))
            options.tvBeta = Float(try XCTUnwrap(s["tv_beta"] as? Int))
            options.blurKernelSize = try XCTUnwrap(s["blur_kernel_size"] as? Int)
            options.blurSigma = Float(try XCTUnwrap(s["blur_sigma"] as? Int))
            options.alignCorners = try XCTUnwrap(s["align_corners"] as? Bool)
            let perIteration = (0..<noise.shape[0]).map { noise.selecting(axis: 0, index: $0) }
            try check(MeaningfulPerturbation(options: options, noise: perIteration), key, fixture: fixture, model: model)
        }
    }

    func testViTCAMsMatchPytorchGradCAMWithTheTokenReshape() throws {
        let fixture = try BaselineFixture("baseline_vit")
        let model = try fixture.visionTransformer()
        XCTAssertEqual(try fixture.settings("gradcam")["point"] as? String, model.defaultCAMPoint)
        try check(GradCAM(), "gradcam", fixture: fixture, model: model)
        try check(GradCAMPlusPlus(), "gradcampp", fixture: fixture, model: model)
    }

    func testGenericAttentionMatchesCheferRule() throws {
        let fixture = try BaselineFixture("baseline_vit")
        try check(GenericAttention(), "gae", fixture: fixture, model: try fixture.visionTransformer())
    }

    func testClassEmbeddingProjectionMatchesVilasGradient() throws {
        let fixture = try BaselineFixture("baseline_vit")
        let model = try fixture.visionTransformer()
        try check(ClassEmbeddingProjection(), "clsemb", fixture: fixture, model: model)
        try check(ClassEmbeddingProjection(), "clsemb_given", fixture: fixture, model: model)
    }
}
