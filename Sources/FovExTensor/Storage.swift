import Foundation

/// A 64-byte-aligned buffer of `Float`s shared by tensors and their views.
///
/// oneDNN reads and writes these buffers directly, so the alignment matches what its
/// kernels prefer for full-width vector loads. Large buffers are recycled through a process-wide pool of freed buffers.
public final class TensorStorage: @unchecked Sendable {
    /// The number of floats the buffer holds.
    public let count: Int
    /// The first float, 64-byte aligned; valid for as long as the storage lives.
    public let pointer: UnsafeMutablePointer<Float>
    private let byteCount: Int

    /// Allocates `count` floats; the contents are uninitialised.
    public init(uninitializedCount count: Int) {
        self.count = count
        byteCount = (max(count, 1) * MemoryLayout<Float>.stride + 63) & ~63
        pointer = BufferPool.shared.take(byteCount: byteCount).bindMemory(to: Float.self, capacity: max(count, 1))
    }

    /// Allocates `count` floats set to `value`.
    public convenience init(count: Int, repeating value: Float) {
        self.init(uninitializedCount: count)
        // Large fills (a pooling or slice gradient's zeros) are split across the threads: one thread alone leaves
        // the other core idle for a pass over memory.
        let p = pointer
        parallelChunks(count, minimumChunk: 1 << 17) { r in (p + r.lowerBound).initialize(repeating: value, count: r.count) }
    }

    deinit { BufferPool.shared.give(UnsafeMutableRawPointer(pointer), byteCount: byteCount) }
}

/// Keeps freed large buffers for reuse by the next allocation of the same size.
///
/// Explainers run the same network hundreds of times per image, so the same activation sizes are
/// allocated and freed over and over. Left to malloc, each large buffer is a fresh mmap whose pages
/// the kernel must fault in and zero on first touch — measured as system time about equal to user
/// time on this project's workloads. Reusing buffers of the exact size avoids that. The pool holds
/// at most `FOVEX_BUFFER_POOL_MB` megabytes (default 1024; 0 turns it off); when a freed buffer would
/// overflow it, the pool is emptied first.
final class BufferPool: @unchecked Sendable {
    /// The process-wide pool.
    static let shared = BufferPool(
        capacityBytes: (ProcessInfo.processInfo.environment["FOVEX_BUFFER_POOL_MB"].flatMap(Int.init) ?? 1024) << 20)

    /// Buffers below this size go straight to malloc, whose own bins serve them well.
    static let minimumPooledBytes = 256 << 10

    private let capacityBytes: Int
    private var free: [Int: [UnsafeMutableRawPointer]] = [:]
    private var heldBytes = 0
    private let lock = NSLock()

    init(capacityBytes: Int) { self.capacityBytes = max(0, capacityBytes) }

    /// Bytes currently held for reuse.
    var pooledBytes: Int { lock.lock(); defer { lock.unlock() }; return heldBytes }

    func take(byteCount: Int) -> UnsafeMutableRawPointer {
        if byteCount >= Self.minimumPooledBytes {
            lock.lock()
            if let p = free[byteCount]?.popLast() {
                heldBytes -= byteCount
                lock.unlock()
                return p
            }
            lock.unlock()
        }
        return UnsafeMutableRawPointer.allocate(byteCount: byteCount, alignment: 64)
    }

    func give(_ p: UnsafeMutableRawPointer, byteCount: Int) {
        if byteCount >= Self.minimumPooledBytes {
            lock.lock()
            // A full pool holds sizes the current work no longer asks for (another model, another batch size):
            // it starts over rather than refusing the sizes in use now.
            if heldBytes + byteCount > capacityBytes { drainLocked() }
            if heldBytes + byteCount <= capacityBytes {
                free[byteCount, default: []].append(p)
                heldBytes += byteCount
                lock.unlock()
                return
            }
            lock.unlock()
        }
        p.deallocate()
    }

    /// Frees every pooled buffer.
    func drain() {
        lock.lock(); defer { lock.unlock() }
        drainLocked()
    }

    private func drainLocked() {
        for (_, list) in free { for p in list { p.deallocate() } }
        free = [:]
        heldBytes = 0
    }
}

extension TensorStorage {
    /// Frees the large buffers kept for reuse after their tensors were released.
    ///
    /// The pool keeps up to `FOVEX_BUFFER_POOL_MB` megabytes of freed activation buffers so that the next pass of
    /// the same network allocates nothing. A caller that has finished with one model and goes on with another
    /// (whose sizes differ) can return them to the system now; buffers in use are not affected.
    public static func releaseReusableBuffers() {
        BufferPool.shared.drain()
    }
}
