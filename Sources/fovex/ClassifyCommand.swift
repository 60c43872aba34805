import ArgumentParser
import Foundation
import FovExCommandLine
import FovExTerminal
import FovExImaging
import FovExModels
import FovExTensor

/// `fovex classify`: the top classes of each image with their probabilities.
struct ClassifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "classify",
        abstract: "Print each image's top classes with their probabilities.",
        discussion: """
        Images are prepared with the model's own preprocessing (see `fovex models list`); directories expand \
        to their jpg, jpeg and png files in name order. An image that cannot be read is reported and skipped, \
        and the command then exits with status 1.
        """)

    @Argument(help: "Images or directories of images (jpg, jpeg, png).") var images: [String]
    @OptionGroup var modelOptions: ModelOptions
    @Option(help: "How many classes to show per image.") var top = 5
    @Option(help: "Images run through the model together.") var batch = 8
    @Flag(help: "Print one JSON document instead of text.") var json = false

    /// One class and its probability.
    struct Guess: Encodable {
        var classIndex: Int
        var name: String
        var probability: Float

        enum CodingKeys: String, CodingKey { case classIndex = "class", name, probability }
    }

    /// The result for one image: its top classes, or why it could not be read.
    struct Result: Encodable {
        var image: String
        var top: [Guess]?
        var error: String?
    }

    func validate() throws {
        guard top > 0 else { throw ValidationError("--top must be positive") }
        guard batch > 0 else { throw ValidationError("--batch must be positive") }
    }

    func run() throws {
        let files = try ImageFiles.expand(images)
        let model = try modelOptions.load()
        let k = min(top, model.classNames.count)
        let progress = ProgressReporter(total: files.count, label: "classified", unit: .items("images"),
                                        enabled: ProgressReporter.stderrIsTerminal && files.count > 1)
        var results: [Result] = []
        var failures = 0
        for start in stride(from: 0, to: files.count, by: batch) {
            let chunk = files[start..<min(start + batch, files.count)]
            var inputs: [(file: URL, pixels: Tensor)] = []
            for file in chunk {
                do {
                    inputs.append((file, model.preprocessing.input(for: try RGBImage(contentsOf: file))))
                } catch {
                    failures += 1
                    progress.print("skipped \(file.relativePath): \(error)", toStandardError: true)
                    results.append(Result(image: file.relativePath, top: nil, error: "\(error)"))
                }
            }
            if !inputs.isEmpty {
                let probabilities = model.probabilities(Tensor.concatenate(inputs.map(\.pixels), axis: 0))
                for (i, input) in inputs.enumerated() {
                    let row = Array(probabilities.sliced(axis: 0, i..<(i + 1)).contiguous().scalars)
                    let guesses = Self.topK(row, k: k).map { Guess(classIndex: $0, name: model.classNames[$0], probability: row[$0]) }
                    results.append(Result(image: input.file.relativePath, top: guesses, error: nil))
                    if !json { progress.print(Self.text(for: results.last!)) }
                }
            }
            progress.advance(by: chunk.count)
        }
        progress.finish()
        if json {
            struct Document: Encodable {
                var model: ModelIdentity
                var results: [Result]
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(Document(model: model.identity, results: results)), as: UTF8.self))
        }
        if failures > 0 { throw ExitCode(1) }
    }

    /// Indices of the `k` largest values, largest first (ties in index order).
    static func topK(_ values: [Float], k: Int) -> [Int] {
        Array(values.indices.sorted { values[$0] != values[$1] ? values[$0] > values[$1] : $0 < $1 }.prefix(k))
    }

    static func text(for result: Result) -> String {
        var lines = [result.image]
        for (rank, guess) in (result.top ?? []).enumerated() {
            let percent = String(format: "%6.2f", Double(guess.probability * 100))
            lines.append("  \(rank + 1). \(percent) %  \(guess.name) (\(guess.classIndex))")
        }
        return lines.joined(separator: "\n")
    }
}
