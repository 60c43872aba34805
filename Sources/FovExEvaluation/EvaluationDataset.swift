import Foundation
import FovExMetrics
import FovExModels
import FovExWeights

/// A data set the evaluator runs on: its images, identified by their path relative to the data
/// set's root, and the ground truth it gives each of them as metric annotations.
public protocol EvaluationDataset {
    /// `imagenet` or `gaze`, as `--data` names it.
    var kind: String { get }
    /// The directory the data set was read from.
    var root: URL { get }
    /// Every image's path relative to `root`, sorted; unique by construction.
    var imageIDs: [String] { get }
    /// What the samples of this data set carry (with `.model`, which every sample has).
    var provides: MetricNeeds { get }
    /// Kind, root and a digest of the image list and the annotations, for run records.
    var identity: DatasetIdentity { get }

    /// The image file of `id`; nil for an id the data set does not list.
    func file(of id: String) -> URL?
    /// The labelled class of `id`, where the data set has labels.
    func label(of id: String) -> Int?
    /// The annotations of `id` for an image decoded at `imageWidth`×`imageHeight` and explained at
    /// the model's `inputSize`², and warnings about annotations left out (each names what and why).
    func annotations(of id: String, imageWidth: Int, imageHeight: Int, inputSize: Int,
                     needs: MetricNeeds) -> (annotations: SampleAnnotations, warnings: [String])
}

/// What a run records about its data set, so that a run directory is never fed another one.
public struct DatasetIdentity: Sendable, Codable, Equatable {
    /// `imagenet` or `gaze`.
    public var kind: String
    /// The root as given (made absolute); informative only: the same data may live elsewhere on another machine.
    public var path: String
    /// SHA-256 of the image list and every annotation as loaded, in a canonical text form.
    public var digest: String

    /// An identity, as read from a run record.
    public init(kind: String, path: String, digest: String) {
        self.kind = kind
        self.path = path
        self.digest = digest
    }

    /// The identity of a data set whose canonical description (one line per image, in id order) is `lines`.
    static func make(kind: String, root: URL, lines: [String]) -> DatasetIdentity {
        var text = Data()
        for line in lines { text.append(contentsOf: Array(line.utf8)); text.append(0x0A) }
        return DatasetIdentity(kind: kind, path: root.standardizedFileURL.path, digest: SHA256.hash(text).hexString)
    }

    /// Whether two identities name the same data (the path may differ).
    func sameData(as other: DatasetIdentity) -> Bool { kind == other.kind && digest == other.digest }
}

extension URL {
    /// This file's path relative to `root` when it lies below it, else its full path.
    func path(relativeTo root: URL) -> String {
        let base = root.standardizedFileURL.path, full = standardizedFileURL.path
        let prefix = base.hasSuffix("/") ? base : base + "/"
        return full.hasPrefix(prefix) ? String(full.dropFirst(prefix.count)) : full
    }
}
