import ArgumentParser
import Foundation
import FovExExplainers
import FovExTensor

/// The ranges of the commands' own numeric options and the checks shared by several commands,
/// declared once; each command's `validate()` calls them, so a bad value is refused when the command
/// line is parsed, before anything is loaded or written.
public enum RunOptionChecks {
    /// `--limit`: at least one image.
    public static let limitBounds = OptionBounds<Int>(1...Int.max)
    /// `--deletion-step`: 1…1 048 576 pixels per step (a 1024² image in one step).
    public static let deletionStepBounds = OptionBounds<Int>(1...1_048_576)
    /// `--batch`: 1…1024 images per pass.
    public static let batchBounds = OptionBounds<Int>(1...1024)

    /// Throws a parse error naming `flag` unless `value` lies in `bounds`.
    public static func check(_ value: Int, _ bounds: OptionBounds<Int>, flag: String) throws {
        guard bounds.contains(value) else {
            let accepted = bounds.upper == Int.max ? "a whole number ≥ \(bounds.lower)" : bounds.accepted
            throw ValidationError("\(flag) must be \(accepted), got \(value)")
        }
    }

    /// Throws a parse error unless `path` names a directory to write (not empty: an empty name would
    /// quietly write into the current directory).
    public static func checkOutputDirectory(_ path: String, flag: String = "--out") throws {
        guard !path.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw ValidationError("\(flag) needs a directory name, got '\(path)'")
        }
    }

    /// Throws unless `FOVEX_THREADS`, when set, is a thread count this machine can use.
    public static func checkThreadEnvironment() throws {
        _ = try Threading.environmentThreadCount()
    }
}
