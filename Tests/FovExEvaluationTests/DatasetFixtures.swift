import Foundation
import FovExImaging
import FovExModels
import FovExTensor
import XCTest

/// The committed layouts of `Fixtures/`, copied to a temporary folder with their images drawn.
enum DatasetFixtures {
    static func source(_ name: String) throws -> URL {
        let dir = try XCTUnwrap(Bundle.module.url(forResource: "Fixtures", withExtension: nil))
        return dir.appendingPathComponent(name)
    }

    /// A copy of fixture `name` under `tmp`, with `images` (relative path → width × height) drawn:
    /// a gradient with a bright square, so that every image differs and decodes as drawn.
    static func layout(_ name: String, in tmp: URL, images: [String: (Int, Int)]) throws -> URL {
        let root = tmp.appendingPathComponent(name)
        try FileManager.default.copyItem(at: try source(name), to: root)
        for (path, (w, h)) in images.sorted(by: { $0.key < $1.key }) {
            try drawImage(width: w, height: h, seed: path.utf8.reduce(0) { $0 &+ Int($1) }, to: root.appendingPathComponent(path))
        }
        return root
    }

    static func drawImage(width: Int, height: Int, seed: Int, to url: URL) throws {
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        var image = RGBImage(width: width, height: height)
        for y in 0..<height { for x in 0..<width {
            let bright = abs(x - seed % width) < 3 && abs(y - (seed / 3) % height) < 3
            let v = UInt8(bright ? 250 : (x * 97 + y * 31 + seed) % 180)
            image[x, y] = RGBColor(red: v, green: UInt8((Int(v) + 40) % 256), blue: UInt8((Int(v) * 3) % 256))
        }}
        if url.pathExtension.lowercased() == "png" { try image.writePNG(to: url) } else { try image.writeJPEG(to: url, quality: 95) }
    }
}

/// A small random convolutional classifier (conv → tanh → conv → global mean → linear) on 32×32 inputs,
/// with the inner points Grad-CAM and RandomCAM read.
final class ToyConvNet: ImageClassifier {
    let w1, b1, w2, fc: Tensor

    init(seed: UInt64, classes: Int = 5) {
        var g = SeededGenerator(seed: seed)
        w1 = Tensor(randomNormal: [8, 3, 3, 3], standardDeviation: 0.5, generator: &g)
        b1 = Tensor(randomNormal: [8], standardDeviation: 0.1, generator: &g)
        w2 = Tensor(randomNormal: [8, 8, 3, 3], standardDeviation: 0.3, generator: &g)
        fc = Tensor(randomNormal: [classes, 8], standardDeviation: 1, generator: &g)
    }

    var identity: ModelIdentity { ModelIdentity(architecture: "toy-conv", weights: "random") }
    var preprocessing: Preprocessing {
        Preprocessing(geometry: .direct(size: 32), interpolation: .bilinear, antialias: false,
                      mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25])
    }
    var classNames: [String] { (0..<fc.shape[0]).map { "class \($0)" } }
    var innerPoints: [String] { ["conv1", "conv2"] }
    var defaultCAMPoint: String { "conv2" }

    func forward(_ pixels: Tensor, capturing points: Set<String>) -> ClassifierOutput {
        let x = (pixels - 0.5) / 0.25
        let c1 = x.conv2d(weight: w1, bias: b1, padding: .symmetric(1)).tanh()
        let c2 = c1.conv2d(weight: w2, stride: 2, padding: .symmetric(1)).tanh()
        var captured: [String: Tensor] = [:]
        if points.contains("conv1") { captured["conv1"] = c1 }
        if points.contains("conv2") { captured["conv2"] = c2 }
        return ClassifierOutput(logits: head(c2.mean(alongAxes: [2, 3])), captured: captured)
    }

    /// The linear head as a product summed per row, not ``Tensor/linear(weight:bias:)``: oneDNN's GEMM on AVX2 CPUs
    /// sums a row's products in an order that depends on how many rows it is given (its last bit differs between a
    /// batch of one and of three), and this model serves the tests that a batch gives exactly what its images give
    /// one at a time.
    private func head(_ pooled: Tensor) -> Tensor {
        let (n, k) = (pooled.shape[0], pooled.shape[1])
        return (pooled.reshaped([n, 1, k]) * fc.reshaped([1, fc.shape[0], k])).sum(alongAxes: [2])
    }
}
