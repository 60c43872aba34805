import ArgumentParser
import Foundation
import FovExCommandLine
import FovExTerminal
import FovExEvaluation
import FovExExplainers
import FovExImaging
import FovExModels
import FovExTensor

/// `fovex explain`: attribution maps for images, written as overlays, maps, JSON and a gallery.
struct ExplainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "explain",
        abstract: "Explain images with FovEx (and the baselines), writing overlays, maps, JSON records and a gallery.",
        discussion: """
        Each image is resized straight to the model's input size (the paper's protocol) so that maps and \
        scanpaths line up with the photo; the overlay is drawn at the photo's own resolution. Outputs are named \
        after each image's name without its extension, or with it where two inputs share a name (a.jpg and \
        a.png). An image that cannot be read is reported and skipped; the others are explained, the gallery is \
        written, and the command then exits with status 1.
        """)

    @Argument(help: "Images or directories of images (jpg, jpeg, png).") var images: [String]
    @OptionGroup var modelOptions: ModelOptions
    @Option(help: "Methods, comma-separated: \(ExplainerRegistry.names.joined(separator: ", ")), or 'all' (every method valid for the model).")
    var method: String = "fovex"
    @Option(name: .customLong("class"), parsing: .unconditional, help: "Explain this class index instead of the prediction.")
    var classIndex: Int?
    @OptionGroup var explainerOptions: ExplainerOptions
    @Option(parsing: .unconditional, help: "Images explained together.") var batch = 1
    @Option(help: "Output directory.") var out: String

    func validate() throws {
        try RunOptionChecks.check(batch, RunOptionChecks.batchBounds, flag: "--batch")
        if let classIndex, classIndex < 0 { throw ValidationError("--class must be a class index ≥ 0, got \(classIndex)") }
        try RunOptionChecks.checkOutputDirectory(out)
    }

    func run() throws {
        let files = try ImageFiles.expand(images)
        let model = try modelOptions.load()
        var options = try explainerOptions.registryOptions()
        let progress = ProgressReporter(total: files.count, label: "explained")
        options.progress = { method, done, total in progress.setDetail(done < total ? "\(method) \(done)/\(total)" : nil) }
        let explainers = try ExplainerRegistry.explainers(method, for: model, options: options)
        let writer = try ExplanationWriter(directory: URL(fileURLWithPath: out))
        let size = model.preprocessing.inputSize
        var geometry = model.preprocessing
        geometry.geometry = .direct(size: size)
        var written: [WrittenExplanation] = []
        var inputs: [String: String] = [:]
        var failures: [String] = []
        let stems = OutputNames.stems(for: files)
        progress.update(done: 0, total: files.count * explainers.count)
        for start in stride(from: 0, to: files.count, by: batch) {
            // A file that cannot be read is reported and left out; the others go on (see the README's policy).
            var chunk: [(file: URL, stem: String, photo: RGBImage)] = []
            for i in start..<min(start + batch, files.count) {
                do { chunk.append((files[i], stems[i], try RGBImage(contentsOf: files[i]))) } catch {
                    failures.append("\(files[i].relativePath): \(error)")
                    progress.print("skipped \(files[i].relativePath): \(error)", toStandardError: true)
                    progress.advance(by: explainers.count)
                }
            }
            guard !chunk.isEmpty else { continue }
            let pixels = Tensor.concatenate(chunk.map { geometry.input(for: $0.photo) }, axis: 0)
            for explainer in explainers {
                let classes = classIndex.map { c in Array(repeating: c, count: chunk.count) }
                let results = try explainer.explain(pixels, model: model, classes: classes)
                for (i, e) in results.enumerated() {
                    written.append(try writer.write(e, photo: chunk[i].photo, imageName: chunk[i].file.relativePath,
                                                    stem: chunk[i].stem, model: model))
                }
                progress.advance(by: chunk.count)
            }
            for item in chunk {
                let name = item.stem + ".input.png"
                try item.photo.writePNG(to: writer.directory.appendingPathComponent(name))
                inputs[item.file.relativePath] = name
            }
        }
        progress.finish()
        try writer.writeGallery(written, inputs: inputs, title: "\(model.identity.architecture): \(explainers.map(\.name).joined(separator: ", "))")
        for w in written where w.method == explainers[0].name {
            print("\(w.image): \(w.className) (\(String(format: "%.1f", w.probability * 100)) %) → \(w.overlay)")
        }
        print("Gallery: \(writer.directory.appendingPathComponent("index.html").path)")
        if !failures.isEmpty {
            FileHandle.standardError.write(Data(("\(failures.count) of \(files.count) images could not be read:\n"
                + failures.map { "  \($0)\n" }.joined()).utf8))
            throw ExitCode(1)
        }
    }
}

/// Image arguments: files as given, directories expanded to their images in name order.
enum ImageFiles {
    static let extensions: Set<String> = ["jpg", "jpeg", "png"]

    static func expand(_ paths: [String]) throws -> [URL] {
        var out: [URL] = []
        let fm = FileManager.default
        for p in paths {
            var isDir: ObjCBool = false
            guard fm.fileExists(atPath: p, isDirectory: &isDir) else { throw ValidationError("\(p): no such file or directory") }
            if isDir.boolValue {
                let names = try fm.contentsOfDirectory(atPath: p).filter { extensions.contains(($0 as NSString).pathExtension.lowercased()) }.sorted()
                out += names.map { URL(fileURLWithPath: p).appendingPathComponent($0) }
            } else {
                out.append(URL(fileURLWithPath: p))
            }
        }
        guard !out.isEmpty else { throw ValidationError("no images found in \(paths.joined(separator: ", "))") }
        return out
    }
}
