import ArgumentParser

/// `--data KIND:DIR`, `--limit N` and `--correct-only`: which data set a run reads and which of its
/// images, shared by `evaluate` and `sanity`. The subset is seeded by the shared `--seed`.
public struct DataSelectionOptions: ParsableArguments {
    @Option(help: "KIND:DIR, KIND being imagenet or gaze.") public var data: String
    @Option(parsing: .unconditional, help: "Evaluate at most N images (a seeded subset).") public var limit: Int?
    @Flag(help: "Draw the --limit images among those the model classifies correctly (the paper's protocol; the same set whatever the shard count).")
    public var correctOnly = false

    public init() {}

    public func validate() throws {
        if let limit { try RunOptionChecks.check(limit, RunOptionChecks.limitBounds, flag: "--limit") }
    }

    /// `--data` split into its kind (`imagenet` or `gaze`) and directory.
    public func kindAndDirectory() throws -> (kind: String, directory: String) {
        let parts = data.split(separator: ":", maxSplits: 1).map(String.init)
        guard parts.count == 2, ["imagenet", "gaze"].contains(parts[0]) else {
            throw ValidationError("--data must be imagenet:DIR or gaze:DIR, got '\(data)'")
        }
        return (parts[0], parts[1])
    }
}
