import Foundation

/// An exclusive lock on a run directory, held while a ``RunStore`` is open, so that two processes
/// never write the same rows.
///
/// It is a `flock` on `RUN_DIR/lock`, which also holds the holder's process id for the refusal
/// message. The kernel drops the lock when the process ends, however it ends, so a killed run
/// never leaves a stale lock. Within one process the lock is shared: stores opened twice on one
/// directory (a library user reopening a run) use the same lock.
public final class RunDirectoryLock {
    /// The lock file, `RUN_DIR/lock`.
    public let url: URL
    private let key: String

    /// Open locks of this process: path → (descriptor, users).
    nonisolated(unsafe) private static var held: [String: (fd: Int32, users: Int)] = [:]
    private static let guardLock = NSLock()

    /// Takes the lock, or throws ``RunStoreError/locked(_:holder:)`` naming the process that holds it.
    public init(directory: URL) throws {
        url = directory.appendingPathComponent("lock")
        key = url.standardizedFileURL.resolvingSymlinksInPath().path
        RunDirectoryLock.guardLock.lock()
        defer { RunDirectoryLock.guardLock.unlock() }
        if let entry = RunDirectoryLock.held[key] {
            RunDirectoryLock.held[key] = (entry.fd, entry.users + 1)
            return
        }
        let fd = open(url.path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw RunStoreError.io(url, "cannot open the lock file: \(String(cString: strerror(errno)))") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let reason = errno
            var holder = "another process"
            if reason == EWOULDBLOCK, let text = try? String(contentsOf: url, encoding: .utf8),
               let pid = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
                holder = "process \(pid)"
            }
            close(fd)
            guard reason == EWOULDBLOCK else {
                throw RunStoreError.io(url, "cannot lock: \(String(cString: strerror(reason)))")
            }
            throw RunStoreError.locked(directory, holder: holder)
        }
        let pid = Data("\(getpid())\n".utf8)
        ftruncate(fd, 0)
        _ = pid.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        RunDirectoryLock.held[key] = (fd, 1)
    }

    deinit {
        RunDirectoryLock.guardLock.lock()
        defer { RunDirectoryLock.guardLock.unlock() }
        guard let entry = RunDirectoryLock.held[key] else { return }
        if entry.users > 1 {
            RunDirectoryLock.held[key] = (entry.fd, entry.users - 1)
        } else {
            // The id is left in the file: only a held flock means the directory is in use.
            flock(entry.fd, LOCK_UN)
            close(entry.fd)
            RunDirectoryLock.held[key] = nil
        }
    }
}
