import Foundation
import CDNNL

/// `FOVEX_THREADS` set to something other than a usable thread count.
public struct ThreadCountError: Error, Equatable, CustomStringConvertible {
    /// The variable's value as given.
    public var value: String
    /// The largest count accepted on this machine.
    public var maximum: Int

    public var description: String {
        "FOVEX_THREADS must be a whole number in 1…\(maximum) (up to 4 threads per core on this machine), got '\(value)'"
    }
}

/// The number of threads the kernels use: 2 by default (this project's machines have 2 cores),
/// or the value of the `FOVEX_THREADS` environment variable.
public enum Threading {
    /// The configured count, behind a lock: explainers may run on several threads at once, and the
    /// first of them to ask reads the environment.
    nonisolated(unsafe) private static var configured: Int?
    private static let lock = NSLock()

    /// The default when `FOVEX_THREADS` is not set.
    public static let defaultThreadCount = 2

    /// The thread count in use; the first read applies `FOVEX_THREADS` (or ``defaultThreadCount``).
    public static var threadCount: Int {
        lock.lock()
        defer { lock.unlock() }
        if let c = configured { return c }
        var n = defaultThreadCount
        do {
            if let v = try environmentThreadCount() { n = v }
        } catch {
            // The command line refuses a bad value before it gets here; a library user is told once.
            FileHandle.standardError.write(Data("warning: \(error); using \(n) threads\n".utf8))
        }
        setLocked(n)
        return n
    }

    /// `FOVEX_THREADS` as a thread count, or nil when it is not set.
    ///
    /// - Throws: ``ThreadCountError`` unless it is a whole number in 1…4 × this machine's cores:
    ///   more threads than that only wait for each other (1000 ran 67× slower on 2 cores).
    public static func environmentThreadCount() throws -> Int? {
        guard let value = ProcessInfo.processInfo.environment["FOVEX_THREADS"] else { return nil }
        return try threadCount(parsing: value, cores: ProcessInfo.processInfo.activeProcessorCount)
    }

    /// `value` as a thread count for a machine of `cores` cores.
    ///
    /// - Throws: ``ThreadCountError`` unless `value` is a whole number in 1…4 × `cores`.
    public static func threadCount(parsing value: String, cores: Int) throws -> Int {
        let maximum = 4 * Swift.max(cores, 1)
        guard let n = Int(value.trimmingCharacters(in: .whitespaces)), (1...maximum).contains(n) else {
            throw ThreadCountError(value: value, maximum: maximum)
        }
        return n
    }

    /// Sets the thread count for oneDNN (OpenMP) and for the Swift kernels.
    public static func setThreadCount(_ n: Int) {
        precondition(n > 0, "thread count must be positive")
        lock.lock()
        defer { lock.unlock() }
        setLocked(n)
    }

    private static func setLocked(_ n: Int) {
        configured = n
        omp_set_num_threads(Int32(n))
    }
}

/// What one OpenMP team member needs to run its share of a ``parallelFor(_:_:)``.
private struct ParallelJob {
    let body: (Int) -> Void
    let count: Int
}

/// Runs `body(i)` for every `i` in `0..<count` on the OpenMP thread team that oneDNN uses, `i` dealt
/// round-robin to at most `count` threads; returns when all have finished.
///
/// The Swift kernels share oneDNN's team rather than keeping a pool of their own: after a parallel region
/// libgomp's workers spin for a few milliseconds (its default wait policy, which the tool keeps so that
/// back-to-back kernels start without a wake-up), and a second pool's threads would compete with them
/// for the same cores. Measured on 2 cores: ResNet-50 forward + gradient at batch 8 took 76 ms/image with
/// a Dispatch pool; on the shared team, 66 ms at batch 1 against 73 ms with OMP_WAIT_POLICY=PASSIVE, and
/// Lite0 13.5 against 18.3 ms. Called from inside a team, it runs on the calling thread.
func parallelFor(_ count: Int, _ body: (Int) -> Void) {
    if count <= 1 { if count == 1 { body(0) }; return }
    withoutActuallyEscaping(body) { escaping in
        var job = ParallelJob(body: escaping, count: count)
        withUnsafeMutablePointer(to: &job) { p in
            GOMP_parallel({ raw in
                let job = raw!.assumingMemoryBound(to: ParallelJob.self).pointee
                let threads = Int(omp_get_num_threads())
                var i = Int(omp_get_thread_num())
                while i < job.count { job.body(i); i += threads }
            }, UnsafeMutableRawPointer(p), UInt32(Swift.min(count, Threading.threadCount)), 0)
        }
    }
}
