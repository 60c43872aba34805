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
