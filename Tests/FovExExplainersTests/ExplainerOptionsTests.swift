import XCTest
import FovExModels
@testable import FovExExplainers
import FovExTensor

/// Options: refused out of range by the initialisers (typed errors, never a trap), recorded exactly
/// as they are held, and the methods listed once in the registry.
final class ExplainerOptionsTests: XCTestCase {
    private func image(size: Int = 32) -> Tensor {
        var g = SeededGenerator(seed: 5)
        return Tensor(randomUniform: [1, 3, size, size], generator: &g)
    }

    func testInitialisersRefuseOutOfRangeValuesWithTypedErrors() {
        var fovex = FovEx.Options()
        fovex.stepSize = .infinity
        XCTAssertThrowsError(try FovEx(options: fovex)) { error in
            XCTAssertEqual(error as? InvalidOptionError,
                           InvalidOptionError(method: "fovex", option: "step_size", value: "inf", accepted: "a finite number in (0.0, 2.0]"))
        }
        fovex = FovEx.Options()
        fovex.forgetting = 5
        XCTAssertThrowsError(try FovEx(options: fovex)) { XCTAssertEqual(($0 as? InvalidOptionError)?.option, "forgetting") }
        fovex = FovEx.Options()
        fovex.heatmapSigma = .nan
        XCTAssertThrowsError(try FovEx(options: fovex)) { XCTAssertEqual(($0 as? InvalidOptionError)?.option, "heatmap_sigma") }

        var mp = MeaningfulPerturbation.Options()
        mp.maskSize = 100_000
        XCTAssertThrowsError(try MeaningfulPerturbation(options: mp)) { error in
            XCTAssertEqual("\(error)", "mp: mask_size must be a whole number in 2…1024, got 100000")
        }
        mp = MeaningfulPerturbation.Options()
        mp.adamBeta2 = 1
        XCTAssertThrowsError(try MeaningfulPerturbation(options: mp)) { error in
            XCTAssertEqual("\(error)", "mp: adam_beta2 must be a finite number in [0.0, 1.0), got 1.0")
        }
        var rise = RISE.Options()
        rise.keepProbability = 0
        XCTAssertThrowsError(try RISE(options: rise)) { XCTAssertEqual(($0 as? InvalidOptionError)?.option, "keep_probability") }
        XCTAssertThrowsError(try GradCAMPlusPlus(options: .init(weighting: .init(epsilon: -1)))) {
            XCTAssertEqual(($0 as? InvalidOptionError)?.option, "epsilon")
        }
    }

    func testOptionsChangedAfterTheInitialiserAreCheckedWhenExplaining() throws {
        let model = TinyConvNet(seed: 2)
        var fovex = FovEx()
        fovex.options.stepSize = .infinity
        XCTAssertThrowsError(try fovex.explain(image(), model: model, classes: nil)) {
            XCTAssertEqual(($0 as? InvalidOptionError)?.option, "step_size")
        }
        // In range in general, but larger than this 32-pixel image allows.
        var mp = MeaningfulPerturbation.Options()
        mp.maskSize = 64
        XCTAssertThrowsError(try MeaningfulPerturbation(options: mp).explain(image(), model: model, classes: nil)) { error in
            XCTAssertEqual("\(error)", "mp: mask_size must be a whole number in 2…32 (the image side), got 64")
        }
        var blur = FovEx.Options()
        blur.blurKernelSize = 101
        XCTAssertThrowsError(try FovEx(options: blur).explain(image(), model: model, classes: nil)) {
            XCTAssertEqual(($0 as? InvalidOptionError)?.option, "blur_kernel_size")
        }
    }

    func testSettingsAreTheOptionsAsHeld() throws {
        var o = FovEx.Options()
        o.stepSize = 0.25
        o.seed = .max
        o.variant = .refined
        let s = try FovEx(options: o).settings
        XCTAssertEqual(s["step_size"], "0.25")
        XCTAssertEqual(s["seed"], "18446744073709551615")
        XCTAssertEqual(s["variant"], "refined")
        XCTAssertEqual(s["random_restarts"], "true")
        XCTAssertNil(s["heatmap_forgetting"], "an empty list is not recorded")
        XCTAssertEqual(Set(s.keys), ["fixations", "steps_per_fixation", "step_size", "fovea_sigma", "forgetting",
                                     "blur_kernel_size", "blur_sigma", "heatmap_sigma", "random_restarts", "seed", "variant"])
        o.fixations = 2
        o.heatmapForgetting = [1, 0.5]
        XCTAssertEqual(try FovEx(options: o).settings["heatmap_forgetting"], "1.0,0.5")
        // Every stored option of MP is recorded; given noise replaces the σ and seed that did not make it.
        let mp = try MeaningfulPerturbation().settings
        XCTAssertEqual(Set(mp.keys), ["mode", "mask_size", "iterations", "learning_rate", "l1_coefficient", "tv_coefficient",
                                      "tv_beta", "blur_kernel_size", "blur_sigma", "noise_standard_deviation",
                                      "align_corners", "adam_beta1", "adam_beta2", "adam_epsilon", "seed"])
        XCTAssertEqual(mp["noise_standard_deviation"], "0.2")
        XCTAssertEqual(mp["mode"], "reference")
        let given = try MeaningfulPerturbation(noise: [Tensor(zeros: [1, 3, 4, 4])]).settings
        XCTAssertEqual(given["noise"], "given")
        XCTAssertNil(given["seed"])
    }

    func testCAMSettingsRecordThePointUsedAndTheirRule() throws {
        let model = TinyConvNet(seed: 2)
        let x = image()
        let grad = try GradCAM().explain(x, model: model, classes: nil)[0]
        XCTAssertEqual(grad.settings, ["point": model.defaultCAMPoint])
        let plus = try GradCAMPlusPlus(options: .init(weighting: .init(epsilon: 1e-3))).explain(x, model: model, classes: nil)[0]
        XCTAssertEqual(plus.settings, ["point": model.defaultCAMPoint, "epsilon": "0.001"])
        XCTAssertEqual(try RandomCAM(options: .init(weighting: .init(seed: 9))).explain(x, model: model, classes: nil)[0].settings,
                       ["point": model.defaultCAMPoint, "seed": "9"])
        let channels = model.forward(x, capturing: [model.defaultCAMPoint]).captured[model.defaultCAMPoint]!.shape[1]
        XCTAssertEqual(RandomCAM(channelWeights: Tensor(repeating: 1, shape: [channels])).settings, ["weights": "given"])
        XCTAssertEqual(grad.method, "gradcam")
        XCTAssertEqual(plus.method, "gradcam++")
    }

    func testTheRegistryTableNamesEveryMethodOnceWithWhatItNeeds() throws {
        XCTAssertEqual(ExplainerRegistry.names, ["gradcam", "gradcam++", "randomcam", "rise", "mp", "gae", "clsemb", "fovex",
                                                 "uniform", "centre"])
        XCTAssertEqual(Set(ExplainerRegistry.names).count, ExplainerRegistry.names.count)
        XCTAssertEqual(ExplainerRegistry.tokenOnlyNames, ["gae", "clsemb"])
        let model = TinyConvNet(seed: 2)
        for name in ExplainerRegistry.names(validFor: model) {
            XCTAssertEqual(try ExplainerRegistry.explainer(named: name, for: model).name, name)
        }
        var options = ExplainerRegistry.Options()
        options.rise.cells = 0
        XCTAssertThrowsError(try ExplainerRegistry.explainer(named: "rise", for: model, options: options)) {
            XCTAssertEqual(($0 as? InvalidOptionError)?.option, "cells")
        }
    }

    /// One target resolver: every method refuses an out-of-range class with the same message.
    func testEveryMethodResolvesTargetsAlike() throws {
        let model = TinyConvNet(seed: 2)
        var options = ExplainerRegistry.Options()
        options.rise.masks = 8
        options.meaningfulPerturbation.iterations = 1
        options.fovex.fixations = 1
        options.fovex.stepsPerFixation = 1
        for name in ExplainerRegistry.names(validFor: model) {
            let explainer = try ExplainerRegistry.explainer(named: name, for: model, options: options)
            XCTAssertThrowsError(try explainer.explain(image(), model: model, classes: [99])) { error in
                XCTAssertEqual("\(error)", "\(name): class 99 is out of range 0..<5")
            }
            XCTAssertThrowsError(try explainer.explain(image(), model: model, classes: [1, 2])) { error in
                XCTAssertEqual("\(error)", "\(name): 2 classes given for 1 images")
            }
        }
    }
}
