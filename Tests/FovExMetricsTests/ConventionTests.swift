import XCTest
import FovExCheckpoints
import FovExModels
@testable import FovExMetrics
import FovExTensor

/// Each metric convention pinned by values computed by hand from its source's formula.
final class ConventionTests: XCTestCase {
    /// 4×4, zeros except 1 at (1, 1) and 3 at (3, 3).
    let twoPeaks = Tensor(shape: [4, 4], scalars: [0, 0, 0, 0,
                                                   0, 1, 0, 0,
                                                   0, 0, 0, 0,
                                                   0, 0, 0, 3])
    let a = PixelPoint(x: 1, y: 1), b = PixelPoint(x: 3, y: 3)

    func testNSSDegreesOfFreedomAndRepeatsFollowEachSource() {
        // mean 1/4; Σ(v − mean)² = 9; MIT and FixaTons divide by n − 1 = 15, pysaliency by 16.
        let sample = (9.0 / 15).squareRoot()
        let ddof1 = ((1 - 0.25) / sample + (3 - 0.25) / sample) / 2
        XCTAssertEqual(NSS(convention: .mit).evaluate(map: twoPeaks, fixations: [a, b, a], otherFixations: []).value, ddof1, accuracy: 1e-9)
        // FixaTons divides by the maximum first, which a z-score does not see; repeats count once.
        XCTAssertEqual(NSS(convention: .fixatons).evaluate(map: twoPeaks, fixations: [a, b, a], otherFixations: []).value, ddof1, accuracy: 1e-9)
        // pysaliency: std 0.75, z(1) = 1, z(3) = 11/3, and the repeated fixation counts twice.
        XCTAssertEqual(NSS(convention: .pysaliency).evaluate(map: twoPeaks, fixations: [a, b, a], otherFixations: []).value,
                       (1 + 11.0 / 3 + 1) / 3, accuracy: 1e-9)
    }

    func testFixaTonsNSSSeesTheMapThroughImresizesEightBits() {
        // 0.001 becomes byte 0 (0.001·255 + 0.5 truncates to 0), the background's value: the map /max
        // is then 1 at (3, 3) only: mean 1/16, sample std √(1/16) = 1/4, z at (1, 1) = −1/4.
        var v = [Float](repeating: 0, count: 16)
        v[5] = 0.001; v[15] = 1
        let map = Tensor(shape: [4, 4], scalars: v)
        let fixatons = NSS(convention: .fixatons).evaluate(map: map, imageHeight: 4, imageWidth: 4, fixations: [a], otherFixations: [])
        XCTAssertEqual(fixatons.value, -0.25, accuracy: 1e-9)
        let mit = NSS(convention: .mit).evaluate(map: map, imageHeight: 4, imageWidth: 4, fixations: [a], otherFixations: [])
        XCTAssertGreaterThan(mit.value, -0.25, "unquantised, 0.001 stands above the background")
        XCTAssertEqual(GazeConvention.bytescaled([2, 4, 3]), [0, 255, 128])
    }

    func testNSSOfAConstantMapIsWhatEachSourceGives() {
        let flat = Tensor(repeating: 0.5, shape: [4, 4])
        XCTAssertEqual(NSS(convention: .fixatons).evaluate(map: flat, fixations: [a], otherFixations: []).value, 1)
        XCTAssertEqual(NSS(convention: .pysaliency).evaluate(map: flat, fixations: [a], otherFixations: []).value, 0)
        let mit = NSS(convention: .mit).evaluate(map: flat, fixations: [a], otherFixations: [])
        XCTAssertTrue(mit.isMissing)
        XCTAssertTrue(mit.missingReason?.contains("zero standard deviation") ?? false)
    }

    func testAUCJuddFalsePositiveCountsFollowEachSource() {
        // Normalised values 0 (13 pixels), 1/3, 2/3, 1; fixations on 1 and 1/3; N_p − N_f = 14.
        let map = Tensor(shape: [4, 4], scalars: [0, 0, 0, 0,
                                                  0, 1, 0, 0,
                                                  0, 0, 2, 0,
                                                  0, 0, 0, 3])
        func auc(_ c: GazeConvention, _ f: [PixelPoint]) -> Double {
            AUCJudd(convention: c, jitter: 0).evaluate(map: map, fixations: f, otherFixations: []).value
        }
        // MIT: FP (1 − 1)/14, (3 − 2)/14 → points (0,0) (0,½) (1/14,1) (1,1).
        XCTAssertEqual(auc(.mit, [b, a]), 0.75 / 14 + 13.0 / 14, accuracy: 1e-12)
        // FixaTons: FP (1 − 0)/14, (3 − 1)/14 → (0,0) (1/14,½) (2/14,1) (1,1).
        XCTAssertEqual(auc(.fixatons, [b, a]), 0.25 / 14 + 0.75 / 14 + 12.0 / 14, accuracy: 1e-12)
        // pysaliency: thresholds 4, 3, 1, 0; negatives 13 zeros and the 2 → (0,0) (0,½) (1/14,1) (1,1).
        XCTAssertEqual(auc(.pysaliency, [b, a]), 0.75 / 14 + 13.0 / 14, accuracy: 1e-12)
        // A repeated fixation on (1, 1): positives 3, 1, 1 → (0, 1/3) then (1/14, 1).
        XCTAssertEqual(auc(.pysaliency, [b, a, a]), (1.0 / 3 + 1) / 2 / 14 + 13.0 / 14, accuracy: 1e-12)
        XCTAssertEqual(auc(.mit, [b, a, a]), auc(.mit, [b, a]), "a binary fixation map counts a pixel once")
    }

    func testAUCJuddJittersByDefaultAndTheSeedRepeats() {
        let flat = Tensor(repeating: 0.2, shape: [8, 8])
        XCTAssertEqual(AUCJudd().jitter, 1e-7)
        XCTAssertEqual(AUCJudd(jitter: 0).evaluate(map: flat, fixations: [a], otherFixations: []).value, 0.5)
        for c in GazeConvention.allCases {
            let m = AUCJudd(convention: c, seed: 9)
            let v = m.evaluate(map: flat, fixations: [a, b], otherFixations: []).value
            XCTAssertEqual(v, m.evaluate(map: flat, fixations: [a, b], otherFixations: []).value)
            XCTAssertTrue((0...1).contains(v), "\(c): \(v)")
        }
    }

    func testPysaliencyCountsEveryObserversFixationAtItsTruncatedPixel() {
        let gaze = HumanGaze(width: 4, height: 4, fixatedPixels: [PixelPoint(x: 2, y: 2)],
                             scanpaths: [ObserverScanpath(observer: "o1", fixations: [HumanFixation(x: 1.9, y: 1.2), HumanFixation(x: 3.5, y: 3.99)]),
                                         ObserverScanpath(observer: "o2", fixations: [HumanFixation(x: 1.1, y: 1.7), HumanFixation(x: 4.2, y: 0)])])
        XCTAssertEqual(GazeConvention.pysaliency.fixations(of: gaze), [a, b, a])
        XCTAssertEqual(GazeConvention.mit.fixations(of: gaze), [PixelPoint(x: 2, y: 2)])
    }

    func testAverageDropConventionsByHand() {
        // LinearToy: class-0 logit = Σ red pixels; mean 0.5. Image 0: red 1 everywhere, Y = σ(4).
        let model = LinearToy(weights: [1, 1, 1, 1] + [Float](repeating: 0, count: 8), size: 2)
        let x = Tensor(shape: [1, 3, 2, 2], scalars: [1, 1, 1, 1] + [Float](repeating: 0, count: 8))
        let maps = Tensor(shape: [1, 2, 2], scalars: [0.8, 0.6, 0.4, 0.2])
        func drop(_ c: DropConvention) -> Double { AverageDrop(convention: c).evaluate(model: model, pixels: x, maps: maps, classes: [0])[0].value }
        // Grad-CAM++: O = σ(0.8 + 0.6 + 0.4 + 0.2) = σ(2).
        XCTAssertEqual(drop(.gradcamPlusPlus), 100 * (sigmoid(4) - sigmoid(2)) / sigmoid(4), accuracy: 1e-4)
        // top50: the median is 0.5, so 0.4 and 0.2 go to 0: O = σ(1.4).
        XCTAssertEqual(drop(.top50), 100 * (sigmoid(4) - sigmoid(1.4)) / sigmoid(4), accuracy: 1e-4)
        // normalised: red pixels 0.5 + 0.5·E → logit 2 + 0.5·2 = 3; absolute drop.
        XCTAssertEqual(drop(.normalised), 100 * (sigmoid(4) - sigmoid(3)), accuracy: 1e-4)
        // Image with red −1: normalised red pixels 0.5 − 1.5·E → logit −1 > −4, an increase.
        let dark = Tensor(shape: [1, 3, 2, 2], scalars: [-1, -1, -1, -1] + [Float](repeating: 0, count: 8))
        XCTAssertEqual(AverageIncrease(convention: .normalised).evaluate(model: model, pixels: dark, maps: maps, classes: [0])[0].value, 100)
        XCTAssertEqual(AverageDrop(convention: .normalised).evaluate(model: model, pixels: dark, maps: maps, classes: [0])[0].value, 0)
        XCTAssertEqual(AverageDrop(convention: .top50).options["average_drop_convention"], "top50")
    }

    func testRISEKernelIsScipysGaussianOfAnImpulseFoldedByReflection() {
        // size 3, σ 1: radius ⌊4.5⌋ = 4, w_k ∝ exp(−k²/2). Reflection (period 6) sends offsets −3, 0, 3 of the
        // centre sample back onto it, and offsets −2, 1, 4 from sample 0.
        let w = (0...4).map { exp(-Double($0 * $0) / 2) }
        let total = w[0] + 2 * (w[1] + w[2] + w[3] + w[4])
        let k = InsertionMetric.riseKernel(size: 3, sigma: 1)
        XCTAssertEqual(Double(k[1]), (w[0] + 2 * w[3]) / total, accuracy: 1e-7)
        XCTAssertEqual(Double(k[0]), (w[2] + w[1] + w[4]) / total, accuracy: 1e-7)
        XCTAssertEqual(k[0], k[2])
        let rise = InsertionMetric.riseKernel(size: 11, sigma: 5)
        XCTAssertEqual(Double(rise.reduce(0, +)), 1, accuracy: 1e-6, "reflection keeps the mass")
        XCTAssertLessThan(rise[0], rise[5])
    }

    func testRISEBlurFadesTheBorderToTheMeanColour() {
        let model = LinearToy(weights: [Float](repeating: 0, count: 3 * 32 * 32), size: 32)
        let x = Tensor(repeating: 0.9, shape: [1, 3, 32, 32])
        var m = InsertionMetric()
        m.blur = .rise
        let b = m.blurred(x, model: model)
        let k = InsertionMetric.riseKernel(size: 11, sigma: 5)
        let inside = Double(k[5...].reduce(0, +))  // the kernel's mass on the image at a corner, per axis
        XCTAssertEqual(Double(b[0, 0, 16, 16]), 0.9, accuracy: 1e-5)
        XCTAssertEqual(Double(b[0, 0, 0, 0]), 0.5 + 0.4 * inside * inside, accuracy: 1e-5)
        m.blur = .paper
        XCTAssertEqual(Double(m.blurred(x, model: model)[0, 0, 0, 0]), 0.9, accuracy: 1e-5, "reflection keeps a flat image flat")
        XCTAssertEqual(m.options["insertion_blur"], "paper")
    }
}

/// The pysaliency convention against pysaliency itself (tools/make_pysaliency_fixtures.py): real OSIE
/// fixations of four images, every observer's, on an 80×60 grid, scored on smooth maps with ties.
final class PysaliencyParityTests: XCTestCase {
    func testNSSAndAUCJuddMatchPysaliencyOnOSIEFixations() throws {
        let dir = try XCTUnwrap(Bundle.module.url(forResource: "Fixtures", withExtension: nil))
        let r = try SafetensorsReader(url: dir.appendingPathComponent("pysaliency_osie.safetensors"))
        func tensor(_ name: String) throws -> Tensor {
            let t = try r.tensor(named: name)
            return Tensor(shape: t.shape, scalars: t.values)
        }
        for k in 0..<4 {
            let map = try tensor("osie\(k)_map")
            let xy = try tensor("osie\(k)_fixations").scalars
            let fixations = stride(from: 0, to: xy.count, by: 2).map { HumanFixation(x: xy[$0], y: xy[$0 + 1]) }
            let gaze = HumanGaze(width: 80, height: 60, fixatedPixels: [],
                                 scanpaths: [ObserverScanpath(observer: "all", fixations: fixations)])
            let points = GazeConvention.pysaliency.fixations(of: gaze)
            XCTAssertEqual(points.count, fixations.count)
            XCTAssertGreaterThan(Set(points).count, 0)
            let nss = NSS(convention: .pysaliency).evaluate(map: map, imageHeight: 60, imageWidth: 80, fixations: points, otherFixations: [])
            let auc = AUCJudd(convention: .pysaliency, jitter: 0).evaluate(map: map, imageHeight: 60, imageWidth: 80,
                                                                          fixations: points, otherFixations: [])
            XCTAssertEqual(nss.value, Double(try tensor("osie\(k)_nss").scalar), accuracy: 1e-5, "nss, image \(k)")
            XCTAssertEqual(auc.value, Double(try tensor("osie\(k)_auc").scalar), accuracy: 1e-6, "auc, image \(k)")
            // MIT counts each fixated pixel once and FP by index: not pysaliency's number on these maps.
            let mit = AUCJudd(convention: .mit, jitter: 0).evaluate(map: map, imageHeight: 60, imageWidth: 80, fixations: points, otherFixations: [])
            XCTAssertNotEqual(mit.value, auc.value, accuracy: 1e-9, "image \(k)")
        }
    }
}
