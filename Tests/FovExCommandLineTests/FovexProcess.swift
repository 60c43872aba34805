import Foundation
import XCTest

/// Runs the built `fovex` (which `swift build --build-tests` and `make test` build beside the tests) with
/// `FOVEX_THREADS=1`, for the tests that check what the commands do and refuse.
enum FovexProcess {
    /// What a run printed and how it ended.
    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// The repository's root (three levels above this file).
    static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The `fovex` executable next to the test bundle, or in the package's `.build/release`; skips the test
    /// when neither is built.
    static func executable() throws -> URL {
        let besideTests = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("fovex")
        let inPackage = packageRoot.appendingPathComponent(".build/release/fovex")
        for candidate in [besideTests, inPackage] where FileManager.default.isExecutableFile(atPath: candidate.path) {
            return candidate
        }
        throw XCTSkip("the fovex executable is not built (run `swift build -c release` or `make test`)")
    }

    /// Runs `fovex arguments` in `directory` (the test's own when nil) with `environment` added.
    static func run(_ arguments: [String], in directory: URL? = nil,
                    environment: [String: String] = [:]) throws -> Result {
        let process = Process()
        process.executableURL = try executable()
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = directory }
        process.environment = ProcessInfo.processInfo.environment
            .merging(["FOVEX_THREADS": "1"]) { _, new in new }
            .merging(environment) { _, new in new }
        let out = Pipe(), err = Pipe()
        (process.standardOutput, process.standardError) = (out, err)
        try process.run()
        // The commands under test print little: reading one pipe to its end, then the other, cannot fill either.
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                      stderr: String(decoding: errData, as: UTF8.self))
    }
}
