import Foundation

/// The ImageNet-1k (ILSVRC 2012) classes in the standard index order used by torchvision, timm and
/// the TensorFlow EfficientNet-Lite checkpoints.
///
/// They are read once from the bundled `imagenet_classes.tsv` (one class a line, `synset<TAB>name`, written by
/// `tools/make_imagenet_classes.py`), which SwiftPM copies next to the built products.
public enum ImageNetClasses {
    /// Short class names (spaces written as underscores), indexed by class.
    public static var names: [String] { table.names }

    /// WordNet synset identifiers (`n01440764`, …), indexed by class.
    public static var synsets: [String] { table.synsets }

    private static let table: (names: [String], synsets: [String]) = {
        // The resource is part of the build: without it the package was installed incompletely, which no caller
        // can repair, so this stops with the file's expected place rather than running with wrong labels.
        guard let url = Bundle.module.url(forResource: "imagenet_classes", withExtension: "tsv") else {
            preconditionFailure("imagenet_classes.tsv is missing from \(Bundle.module.bundlePath)")
        }
        guard let text = try? String(contentsOf: url, encoding: .utf8) else {
            preconditionFailure("cannot read \(url.path)")
        }
        let rows = text.split(separator: "\n").map { $0.split(separator: "\t", omittingEmptySubsequences: false) }
        precondition(rows.count == 1000 && rows.allSatisfy { $0.count == 2 },
                     "\(url.path) must hold 1000 lines of synset<TAB>name")
        return (rows.map { String($0[1]) }, rows.map { String($0[0]) })
    }()
}
