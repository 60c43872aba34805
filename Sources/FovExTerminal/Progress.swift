import Foundation

/// A one-line progress display on standard error: done/total, rate and time left, redrawn in place.
///
/// It prints only when standard error is a terminal, so logs and pipes stay clean. Safe to call from
/// any thread (downloads report from URLSession's queue).
///
///     let progress = ProgressReporter(total: files.count, label: "classified")
///     for file in files { …; progress.advance() }
///     progress.finish()
public final class ProgressReporter: @unchecked Sendable {
    /// How counts are written.
    public enum Unit {
        /// Plain counts: `12/100 images, 3.4/s`.
        case items(String)
        /// Byte counts in MB: `12.3/97.8 MB, 45.6 MB/s`.
        case bytes
    }

    private let label: String
    private let unit: Unit
    private let enabled: Bool
    private let start = Date()
    private let lock = NSLock()
    private var total: Int?
    private var done = 0
    private var lastDraw = Date.distantPast
    private var lastWidth = 0
    private var finished = false
    private var detail: String?

    /// A reporter for `total` units of work (nil when unknown), shown after `label`.
    ///
    /// - Parameter enabled: whether to draw; by default, when standard error is a terminal.
    public init(total: Int?, label: String, unit: Unit = .items(""), enabled: Bool = ProgressReporter.stderrIsTerminal) {
        self.total = total
        self.label = label
        self.unit = unit
        self.enabled = enabled
    }

    /// True when standard error is an interactive terminal (and not a `dumb` one).
    public static var stderrIsTerminal: Bool {
        isatty(STDERR_FILENO) == 1 && ProcessInfo.processInfo.environment["TERM"] != "dumb"
    }

    /// Records `count` more units done.
    public func advance(by count: Int = 1) {
        lock.lock(); defer { lock.unlock() }
        done += count
        drawIfDue()
    }

    /// Sets the units done so far, and the total when it becomes known.
    public func update(done: Int, total: Int? = nil) {
        lock.lock(); defer { lock.unlock() }
        self.done = done
        if let total { self.total = total }
        drawIfDue()
    }

    /// Shows `text` after the counts (inner progress of the item in flight, e.g. `rise 1200/4000`); nil removes it.
    public func setDetail(_ text: String?) {
        lock.lock(); defer { lock.unlock() }
        detail = text
        drawIfDue()
    }

    /// Draws the final state and ends the line (when a line was shown at all); later calls do nothing.
    public func finish() {
        lock.lock(); defer { lock.unlock() }
        guard enabled, !finished else { return }
        finished = true
        if lastWidth > 0 { draw(final: true) }
    }

    /// Prints a line on standard output (or standard error) without tearing the progress line: the
    /// line is cleared first and drawn again after.
    public func print(_ text: String, toStandardError: Bool = false) {
        lock.lock(); defer { lock.unlock() }
        // Output going to a file or pipe cannot tear the line on the terminal; only a shared terminal needs the redraw.
        let showing = enabled && !finished && lastWidth > 0 && (toStandardError || isatty(STDOUT_FILENO) == 1)
        if showing { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
        if toStandardError {
            FileHandle.standardError.write(Data((text + "\n").utf8))
        } else {
            Swift.print(text)
            fflush(stdout)
        }
        if showing { draw(final: false) }
    }

    /// The status text for `done` of `total` after `elapsed` seconds (no terminal control characters).
    public func line(done: Int, total: Int?, elapsed: Double, final: Bool) -> String {
        var parts = [label]
        switch unit {
        case .items(let noun):
            let count = total.map { "\(done)/\($0)" } ?? "\(done)"
            parts.append(noun.isEmpty ? count : "\(count) \(noun)")
        case .bytes:
            parts.append(total.map { "\(Self.megabytes(done))/\(Self.megabytes($0)) MB" } ?? "\(Self.megabytes(done)) MB")
        }
        if let total, total > 0 { parts.append("(\(100 * done / total) %)") }
        if elapsed > 0.2 && done > 0 {
            let rate = Double(done) / elapsed
            switch unit {
            case .items: parts.append(rate >= 10 ? String(format: "%.0f/s", rate) : String(format: "%.2f/s", rate))
            case .bytes: parts.append(String(format: "%.1f MB/s", rate / 1e6))
            }
            if final {
                parts.append("in " + Self.duration(elapsed))
            } else if let total, done < total {
                parts.append("ETA " + Self.duration(Double(total - done) / rate))
            }
        }
        if let detail, !final { parts.append("· " + detail) }
        return parts.joined(separator: " ")
    }

    private func drawIfDue() {
        guard enabled, !finished else { return }
        let now = Date()
        // A redraw per item would cost more than small items take.
        guard now.timeIntervalSince(lastDraw) >= 0.1 else { return }
        lastDraw = now
        draw(final: false)
    }

    private func draw(final: Bool) {
        let text = line(done: done, total: total, elapsed: Date().timeIntervalSince(start), final: final)
        let padding = String(repeating: " ", count: max(0, lastWidth - text.count))
        lastWidth = max(text.count, 1)
        FileHandle.standardError.write(("\r" + text + padding + (final ? "\n" : "")).data(using: .utf8)!)
    }

    /// `bytes` in MB (10⁶ bytes) with one decimal, as the progress line writes them.
    public static func megabytes(_ bytes: Int) -> String { String(format: "%.1f", Double(bytes) / 1e6) }

    /// `m:ss`, or `h:mm:ss` from an hour on.
    public static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite else { return "?" }
        let s = Int(seconds.rounded())
        return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60)
                         : String(format: "%d:%02d", s / 60, s % 60)
    }
}
