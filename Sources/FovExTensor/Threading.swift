import Foundation
import CDNNL

/// The number of threads the kernels use: 2 by default (this project's machines have 2 cores),
/// or the value of the `FOVEX_THREADS` environment variable.
public enum Threading {
    nonisolated(unsafe) private static var configured: Int?

    public static var threadCount: Int {
        if let c = configured { return c }
        var n = 2
        if let s = ProcessInfo.processInfo.environment["FOVEX_THREADS"], let v = Int(s), v > 0 { n = v }
        setThreadCount(n)
        return n
    }

    /// Sets the thread count for oneDNN (OpenMP) and for the Swift kernels.
    public static func setThreadCount(_ n: Int) {
        precondition(n > 0, "thread count must be positive")
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
/// The Swift kernels share oneDNN's team rather than keeping a pool of their own: after a oneDNN call
/// its workers keep spinning for a while, and a second pool's threads would then compete with them for
/// the same cores (measured: ResNet-50 forward + gradient at batch 8 took 76 ms/image with a Dispatch
/// pool and 65 ms with the spinning turned off). Called from inside a team, it runs on the calling thread.
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
