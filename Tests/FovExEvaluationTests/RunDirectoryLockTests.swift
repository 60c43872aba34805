import XCTest
@testable import FovExEvaluation

final class RunDirectoryLockTests: XCTestCase {
    func testASecondProcessIsRefusedWithTheHoldersProcessID() throws {
        let flockTool = URL(fileURLWithPath: "/usr/bin/flock")
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: flockTool.path), "needs util-linux's flock(1) to hold the lock from another process")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fovex-lock-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let lockFile = dir.appendingPathComponent("lock")

        // Another process takes the lock as `fovex evaluate` does (flock on RUN_DIR/lock, its id inside).
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/bin/sh")
        holder.arguments = ["-c", "exec 9>>\"$1\"; \(flockTool.path) -n 9 || exit 3; echo $$ > \"$1\"; echo ready; exec sleep 60", "sh", lockFile.path]
        let out = Pipe()
        holder.standardOutput = out
        try holder.run()
        defer { holder.terminate(); holder.waitUntilExit() }
        let ready = String(decoding: out.fileHandleForReading.availableData, as: UTF8.self)
        XCTAssertEqual(ready, "ready\n")

        let config = RunConfiguration(model: "toy", weights: "random", weightsSHA256: nil, dataKind: "imagenet", methods: ["a"],
                                      metrics: ["m"], limit: nil, seed: 1, correctOnly: false, options: [:], codeVersion: "t")
        XCTAssertThrowsError(try RunStore(directory: dir, configuration: config)) { error in
            XCTAssertTrue("\(error)".contains("in use by process \(holder.processIdentifier)"), "\(error)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("config.json").path),
                       "a refused process writes nothing")
        holder.terminate()
        holder.waitUntilExit()
        // Once the holder is gone the directory opens, and this process's id is recorded.
        let store = try RunStore(directory: dir, configuration: config)
        XCTAssertEqual(try String(contentsOf: lockFile, encoding: .utf8), "\(getpid())\n")
        _ = store
    }
}
