import XCTest
import FovExImaging
@testable import FovExModels
import FovExTensor

final class PreprocessTests: XCTestCase {
    /// A [1, 3, h, w] image whose value encodes channel, row and column.
    private func ramp(_ h: Int, _ w: Int) -> Tensor {
        Tensor(shape: [1, 3, h, w], scalars: (0..<(3 * h * w)).map { i in
            let c = i / (h * w), y = (i / w) % h, x = i % w
            return (Float(c) * 0.2 + Float(y) / Float(3 * h) + Float(x) / Float(3 * w))
        })
    }

    func testDirectResizeGivesTheSquareInput() {
        let p = ResNet.imageNetPreprocessing
        let out = p.input(for: ramp(300, 200))
        XCTAssertEqual(out.shape, [1, 3, 224, 224])
        XCTAssertEqual(p.inputSize, 224)
    }

    func testShortSideResizeThenCentreCropTakesTheMiddle() {
        let p = Preprocessing(geometry: .shortSideThenCenterCrop(resize: 100, crop: 80), interpolation: .bilinear,
                              antialias: true, mean: [0, 0, 0], std: [1, 1, 1])
        let image = ramp(150, 300)
        let out = p.input(for: image)
        XCTAssertEqual(out.shape, [1, 3, 80, 80])
        // Short side 150 → 100, long side 300 → 200; the crop starts at (10, 60).
        let resized = image.resized(height: 100, width: 200, method: .bilinear, antialias: true)
        XCTAssertEqual(out[0, 1, 0, 0], resized[0, 1, 10, 60])
        XCTAssertEqual(out[0, 2, 79, 79], resized[0, 2, 89, 139])
    }

    func testCropOffsetRoundsHalfToEvenAsTorchvision() {
        // 101 − 80 = 21 → offset round(10.5) = 10.
        let p = Preprocessing(geometry: .shortSideThenCenterCrop(resize: 101, crop: 80), interpolation: .bilinear,
                              antialias: false, mean: [0, 0, 0], std: [1, 1, 1])
        let image = ramp(101, 101)
        XCTAssertEqual(p.input(for: image)[0, 0, 0, 0], image[0, 0, 10, 10])
    }

    func testUpscaledBicubicStaysInUnitRange() {
        var values = [Float](repeating: 0, count: 3 * 8 * 8)
        for i in stride(from: 0, to: values.count, by: 2) { values[i] = 1 }
        let p = EfficientNetLite.Configuration.lite0.preprocessing
        let out = p.input(for: Tensor(shape: [1, 3, 8, 8], scalars: values))
        XCTAssertEqual(out.shape, [1, 3, 224, 224])
        XCTAssertGreaterThanOrEqual(out.scalars.min()!, 0)
        XCTAssertLessThanOrEqual(out.scalars.max()!, 1)
    }

    func testNormalisationPerModelFamily() {
        let x = Tensor(repeating: 1, shape: [1, 3, 2, 2])
        let lite = EfficientNetLite.Configuration.lite0.preprocessing.normalized(x)
        XCTAssertEqual(lite[0, 0, 0, 0], (255 - 127) / 128, accuracy: 1e-6)
        let resnet = ResNet.imageNetPreprocessing.normalized(x)
        XCTAssertEqual(resnet[0, 2, 1, 1], (1 - 0.406) / 0.225, accuracy: 1e-6)
        let vit = VisionTransformer.defaultPreprocessing.normalized(Tensor(zeros: [1, 3, 2, 2]))
        XCTAssertEqual(vit.scalars, [Float](repeating: -1, count: 12))
    }

    func testImagesBecomeABatch() {
        let a = RGBImage(width: 40, height: 30, color: .white), b = RGBImage(width: 30, height: 40, color: .black)
        let batch = VisionTransformer.defaultPreprocessing.batch(for: [a, b])
        XCTAssertEqual(batch.shape, [2, 3, 224, 224])
        XCTAssertEqual(batch[0, 1, 100, 100], 1, accuracy: 1e-6)
        XCTAssertEqual(batch[1, 1, 100, 100], 0, accuracy: 1e-6)
    }

    func testImagesAreResizedAsEightBitImages() {
        let (w, h) = (37, 29)
        let pixels = (0..<(w * h * 3)).map { (i: Int) -> UInt8 in
            let level: Int = (i * 37 + (i / 3) * 11) % 256
            return UInt8(level)
        }
        let image = RGBImage(width: w, height: h, pixels: pixels)
        let p = EfficientNetLite.Configuration.lite0.preprocessing
        let viaImage = p.input(for: image), viaTensor = p.input(for: image.tensor())
        XCTAssertEqual(viaImage.shape, [1, 3, 224, 224])
        let levels = viaImage.scalars.map { $0 * 255 }
        XCTAssertTrue(levels.allSatisfy { abs($0 - $0.rounded()) < 1e-3 }, "not 8-bit levels")
        // Two roundings to 8 bits: within 1/255 of the floating-point resize, and not identical to it.
        let diffs = zip(viaImage.scalars, viaTensor.scalars).map { abs($0 - $1) }
        XCTAssertLessThanOrEqual(diffs.max()!, 1.5 / 255)
        XCTAssertGreaterThan(diffs.max()!, 0)
    }

    func testClassNamesAreTheImageNetList() throws {
        XCTAssertEqual(ImageNetClasses.names.count, 1000)
        XCTAssertEqual(Set(ImageNetClasses.synsets).count, 1000)
        XCTAssertEqual(ImageNetClasses.names[0], "tench")
        XCTAssertEqual(try ModelRegistry.randomModel("resnet18", seed: 0).classNames, ImageNetClasses.names)
        let csv = dataDirectory().appendingPathComponent("imagenet/classes.csv")
        guard let text = try? String(contentsOf: csv, encoding: .utf8) else {
            print("skipped comparing with imagenet/classes.csv: not found at \(csv.path)")
            return
        }
        let rows = text.split(whereSeparator: \.isNewline).dropFirst().map { $0.split(separator: ",", maxSplits: 2) }
        XCTAssertEqual(rows.map { String($0[2]) }, ImageNetClasses.names)
        XCTAssertEqual(rows.map { String($0[1]) }, ImageNetClasses.synsets)
    }
}
