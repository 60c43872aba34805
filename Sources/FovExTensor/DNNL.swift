import CDNNL
import Foundation

// Every oneDNN call in the project goes through this file and the kernels next to it
// (Convolution.swift, Matmul.swift, BlockedInference.swift), so that an API migration touches only them.

@inline(__always) func dnnlCheck(_ status: dnnl_status_t, _ what: @autoclosure () -> String) {
    if status != dnnl_success { fatalError("oneDNN: \(what()) failed with status \(status.rawValue)") }
}

/// The process-wide oneDNN CPU engine and stream.
final class DNNLContext: @unchecked Sendable {
    static let shared = DNNLContext()
    let engine: dnnl_engine_t
    let stream: dnnl_stream_t
    let lock = NSLock()
    /// ``PrimitiveClock``'s state, guarded by `lock` like the executions it times: how many measurements are
    /// open, and the nanoseconds spent in primitives while any was.
    var clockUsers = 0
    var primitiveNanoseconds: UInt64 = 0

    private init() {
        _ = Threading.threadCount
        var e: dnnl_engine_t?
        dnnlCheck(dnnl_engine_create(&e, dnnl_cpu, 0), "engine creation")
        var s: dnnl_stream_t?
        dnnlCheck(dnnl_stream_create(&s, e, dnnl_stream_default_flags.rawValue), "stream creation")
        engine = e!
        stream = s!
    }

    /// Runs `work`, a oneDNN computation, with this thread's OpenMP team sized to ``Threading/threadCount`` and
    /// the other threads' oneDNN work held off, counting its time for ``PrimitiveClock``. The lock must not be
    /// held already.
    func runExclusively(_ work: () -> Void) {
        // OpenMP's thread count is a per-thread setting: a thread other than the one that configured it
        // (a second explainer thread) would otherwise run oneDNN on every core.
        let threads = Int32(Threading.threadCount)
        if omp_get_max_threads() != threads { omp_set_num_threads(threads) }
        lock.lock()
        let start = clockUsers > 0 ? DispatchTime.now().uptimeNanoseconds : 0
        work()
        if clockUsers > 0 { primitiveNanoseconds &+= DispatchTime.now().uptimeNanoseconds - start }
        lock.unlock()
    }
}

/// C = A·B for row-major fp32 matrices (A [m, k], B [k, n], C [m, n], each with its row stride), by oneDNN's
/// GEMM routine rather than its matmul primitive.
///
/// oneDNN 2.6's matmul primitive is slow on some row-major B operands whose rows it reads in place: the input
/// gradient of a ViT-B/16 MLP output layer (197 × 768 · 768 × 3072) took 7.6 ms against 5.5 ms here and 4.6 ms
/// on a packed copy of B; at 1576 rows (batch 8) 64.8 ms against 33.4 ms (2 threads, docs/results/floor.md).
/// The GEMM routine packs the blocks of B it needs as it goes, so no copy of the weight is kept.
func gemm(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
          c: UnsafeMutablePointer<Float>, ldc: Int) {
    DNNLContext.shared.runExclusively {
        dnnlCheck(dnnl_sgemm(CChar(UInt8(ascii: "N")), CChar(UInt8(ascii: "N")), Int64(m), Int64(n), Int64(k), 1,
                             a, Int64(lda), b, Int64(ldb), 0, c, Int64(ldc)),
                  "sgemm \(m)×\(k)·\(k)×\(n)")
    }
}

/// A matrix product `src` · B (+ bias) → `dst` whose B, of dims `weightsDims` ([K, N]), takes the layout oneDNN
/// prefers for it. Where it prefers plain row-major B (its GEMM-based kernel, which it runs where it has no
/// brgemm kernel, on CPUs without AVX-512), B is asked for with K contiguous instead: that kernel reads such a B
/// as fast or up to 2× faster when N is large and M small (197×768·768×3072: 164 against 81 GFLOP/s on a 2-core
/// Zen 3; ResNet-50's 1×1 convolutions of its last two stages 1.6–1.9×; docs/results/floor.md).
func matmulPrimitive(src: dnnl_memory_desc_t, weightsDims: [Int], type: dnnl_data_type_t, bias: dnnl_memory_desc_t?,
                     dst: dnnl_memory_desc_t, attr: dnnl_primitive_attr_t? = nil, name: String) -> DNNLPrimitive {
    let preferred = matmulPrimitive(src: src, weights: memoryDesc(dims: weightsDims, tag: dnnl_format_tag_any, type: type),
                                    bias: bias, dst: dst, attr: attr, name: name)
    guard preferred.asksForRowMajorWeights(weightsDims, type: type) else { return preferred }
    return matmulPrimitive(src: src, weights: memoryDesc(dims: weightsDims, tag: dnnl_ba, type: type), bias: bias, dst: dst,
                           attr: attr, name: name)
}

extension DNNLPrimitive {
    /// Whether this matmul primitive, created with weights of layout `format_tag_any`, chose plain row-major weights
    /// of dims `weightsDims`: its GEMM-based kernel, which oneDNN runs where it has no brgemm kernel (CPUs without
    /// AVX-512).
    func asksForRowMajorWeights(_ weightsDims: [Int], type: dnnl_data_type_t = dnnl_f32) -> Bool {
        var (chosen, rowMajor) = (queryMD(dnnl_query_weights_md), memoryDesc(dims: weightsDims, tag: dnnl_ab, type: type))
        return dnnl_memory_desc_equal(&chosen, &rowMajor) != 0
    }
}

/// A matrix product `src` · `weights` (+ bias) → `dst` with exactly these layouts (`weights` may say
/// `format_tag_any`).
func matmulPrimitive(src: dnnl_memory_desc_t, weights: dnnl_memory_desc_t, bias: dnnl_memory_desc_t?,
                     dst: dnnl_memory_desc_t, attr: dnnl_primitive_attr_t? = nil, name: String) -> DNNLPrimitive {
    var desc = dnnl_matmul_desc_t()
    var (s, w, d, b) = (src, weights, dst, bias ?? dnnl_memory_desc_t())
    dnnlCheck(withUnsafePointer(to: &b) { bp in dnnl_matmul_desc_init(&desc, &s, &w, bias != nil ? bp : nil, &d) },
              "matmul desc \(name)")
    return withUnsafePointer(to: &desc) { DNNLPrimitive(opDesc: UnsafeRawPointer($0), attr: attr) }
}

/// A memory descriptor for a dense tensor (f32 unless told) described by dims and strides.
func memoryDesc(dims: [Int], strides: [Int], type: dnnl_data_type_t = dnnl_f32) -> dnnl_memory_desc_t {
    var md = dnnl_memory_desc_t()
    let d = dims.map(Int64.init), s = strides.map(Int64.init)
    dnnlCheck(dnnl_memory_desc_init_by_strides(&md, Int32(dims.count), d, type, s), "memory desc \(dims) \(strides)")
    return md
}

func memoryDesc(dims: [Int], tag: dnnl_format_tag_t, type: dnnl_data_type_t = dnnl_f32) -> dnnl_memory_desc_t {
    var md = dnnl_memory_desc_t()
    dnnlCheck(dnnl_memory_desc_init_by_tag(&md, Int32(dims.count), dims.map(Int64.init), type, tag), "memory desc \(dims)")
    return md
}

/// A created primitive with its descriptor; released with the cache entry.
///
/// Every primitive is created with a user-managed scratchpad, given a fresh buffer at each execution. oneDNN's
/// default (library) scratchpad is one buffer per thread, so a primitive may run only on the thread that created
/// it; the caches share primitives between threads (two explanations running at once), which that would break.
final class DNNLPrimitive: @unchecked Sendable {
    let pd: dnnl_primitive_desc_t
    let primitive: dnnl_primitive_t
    private let scratchpadMD: dnnl_memory_desc_t
    private let scratchpadBytes: Int

    /// Creates the primitive of `pd`, whose attribute asks for a user-managed scratchpad.
    init(pd: dnnl_primitive_desc_t) {
        self.pd = pd
        var p: dnnl_primitive_t?
        dnnlCheck(dnnl_primitive_create(&p, pd), "primitive creation")
        primitive = p!
        scratchpadMD = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0)?.pointee ?? dnnl_memory_desc_t()
        scratchpadBytes = mdSize(scratchpadMD)
    }

    /// Creates a primitive for an operation descriptor, with `attr`'s post-ops (the attribute is set to a
    /// user-managed scratchpad; the caller still owns and destroys it).
    convenience init(opDesc: UnsafeRawPointer, attr: dnnl_primitive_attr_t? = nil, hint: dnnl_primitive_desc_t? = nil) {
        var pd: dnnl_primitive_desc_t?
        withUserScratchpad(attr) { attr in
            dnnlCheck(dnnl_primitive_desc_create(&pd, opaque(opDesc), attr, DNNLContext.shared.engine, hint),
                      "primitive descriptor creation")
        }
        self.init(pd: pd!)
    }

    deinit {
        for m in memories { dnnl_memory_destroy(m.memory) }
        dnnl_primitive_destroy(primitive)
        dnnl_primitive_desc_destroy(pd)
    }

    /// oneDNN's name for the kernel it chose ("jit:avx2", "brgemm:avx512_core", "ref:any", …).
    var implementation: String {
        var name: UnsafePointer<CChar>?
        guard dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &name) == dnnl_success, let name else { return "" }
        return String(cString: name)
    }

    func queryMD(_ what: dnnl_query_t, _ index: Int32 = 0) -> dnnl_memory_desc_t {
        dnnl_primitive_desc_query_md(pd, what, index)!.pointee
    }

    /// The memory objects of the last call, reused while the arguments keep their descriptors (only their
    /// buffers are set anew): creating and destroying four or five per call was a visible part of the time
    /// between a ResNet's kernels (docs/design/onnx-speed.md). Guarded by the context's lock.
    private var memories: [(arg: Int32, md: dnnl_memory_desc_t, memory: dnnl_memory_t)] = []

    /// Runs the primitive on raw buffers, each described by its memory descriptor.
    func execute(_ args: [(Int32, dnnl_memory_desc_t, UnsafeMutableRawPointer)]) {
        let ctx = DNNLContext.shared
        let scratchpad = scratchpadBytes > 0 ? TensorStorage(uninitializedCount: (scratchpadBytes + 3) / 4) : nil
        var all = args
        if let scratchpad { all.append((DNNL_ARG_SCRATCHPAD, scratchpadMD, UnsafeMutableRawPointer(scratchpad.pointer))) }
        ctx.runExclusively {
            let reusable = memories.count == all.count
                && zip(memories, all).allSatisfy { $0.arg == $1.0 && mdEqual($0.md, $1.1) }
            if !reusable {
                for m in memories { dnnl_memory_destroy(m.memory) }
                memories = all.map { arg, md, ptr in
                    var m: dnnl_memory_t?
                    var mdv = md
                    dnnlCheck(dnnl_memory_create(&m, &mdv, ctx.engine, ptr), "memory creation")
                    return (arg, md, m!)
                }
            } else {
                for (m, a) in zip(memories, all) {
                    dnnlCheck(dnnl_memory_set_data_handle(m.memory, a.2), "memory handle")
                }
            }
            var execArgs = memories.map { dnnl_exec_arg_t(arg: $0.arg, memory: $0.memory) }
            dnnlCheck(dnnl_primitive_execute(primitive, ctx.stream, Int32(execArgs.count), &execArgs), "execution")
            dnnlCheck(dnnl_stream_wait(ctx.stream), "stream wait")
        }
        withExtendedLifetime(scratchpad) {}
    }
}

/// The time spent inside oneDNN's primitives (convolutions, matrix products, reorders) and its GEMM routine
/// while some work runs.
///
/// A pass's time minus its primitives' time is what everything else costs (element-wise kernels, pooling,
/// normalisation, copies, the bookkeeping between kernels). `fovex bench models` reports both from the same
/// passes, so the split does not depend on how fast the machine happens to be at that moment, as a comparison
/// with kernels timed at another moment does. Primitives that other threads run meanwhile are counted too.
public enum PrimitiveClock {
    /// Runs `body` and returns its result with the seconds spent in oneDNN primitives while it ran.
    public static func measuring<T>(_ body: () throws -> T) rethrows -> (result: T, primitiveSeconds: Double) {
        let ctx = DNNLContext.shared
        ctx.lock.lock()
        ctx.clockUsers += 1
        let before = ctx.primitiveNanoseconds
        ctx.lock.unlock()
        defer {
            ctx.lock.lock()
            ctx.clockUsers -= 1
            ctx.lock.unlock()
        }
        let result = try body()
        ctx.lock.lock()
        let elapsed = ctx.primitiveNanoseconds &- before
        ctx.lock.unlock()
        return (result, Double(elapsed) / 1e9)
    }
}

/// Runs `body` with `attr` (or, when nil, a new attribute) set to a user-managed scratchpad.
func withUserScratchpad(_ attr: dnnl_primitive_attr_t?, _ body: (dnnl_primitive_attr_t?) -> Void) {
    var own: dnnl_primitive_attr_t?
    if attr == nil { dnnlCheck(dnnl_primitive_attr_create(&own), "attribute creation") }
    defer { if let own { dnnl_primitive_attr_destroy(own) } }
    let a = attr ?? own
    dnnlCheck(dnnl_primitive_attr_set_scratchpad_mode(a, dnnl_scratchpad_mode_user), "user scratchpad attribute")
    body(a)
}

@inline(__always) private func opaque(_ p: UnsafeRawPointer) -> const_dnnl_op_desc_t { const_dnnl_op_desc_t(p) }

func mdSize(_ md: dnnl_memory_desc_t) -> Int {
    var m = md
    return dnnl_memory_desc_get_size(&m)
}

func mdEqual(_ a: dnnl_memory_desc_t, _ b: dnnl_memory_desc_t) -> Bool {
    var x = a, y = b
    return dnnl_memory_desc_equal(&x, &y) != 0
}

/// Copies `src` (described by `srcMD`) into `dst` (described by `dstMD`) with a oneDNN reorder.
/// With a `key` naming both layouts, the reorder primitive is kept for the next call.
func reorder(_ src: UnsafeMutableRawPointer, _ srcMD: dnnl_memory_desc_t,
             _ dst: UnsafeMutableRawPointer, _ dstMD: dnnl_memory_desc_t, key: String? = nil) {
    let primitive = key.map { reorderCache.value(for: $0) { reorderPrimitive(srcMD, dstMD) } } ?? reorderPrimitive(srcMD, dstMD)
    primitive.execute([(DNNL_ARG_FROM, srcMD, src), (DNNL_ARG_TO, dstMD, dst)])
}

/// A reorder primitive from layout `from` to layout `to` of the same values.
func reorderPrimitive(_ from: dnnl_memory_desc_t, _ to: dnnl_memory_desc_t) -> DNNLPrimitive {
    var s = from, d = to
    var pd: dnnl_primitive_desc_t?
    let e = DNNLContext.shared.engine
    withUserScratchpad(nil) { attr in
        dnnlCheck(dnnl_reorder_primitive_desc_create(&pd, &s, e, &d, e, attr), "reorder descriptor")
    }
    return DNNLPrimitive(pd: pd!)
}

private let reorderCache = PrimitiveCache<DNNLPrimitive>()

/// Copies the elements of `t` into `dst`, laid out with `strides` and converted to `dataType`, with a cached
/// oneDNN reorder. `t` must not overlap itself (no zero strides on axes longer than 1).
func reorder(_ t: Tensor, into dst: UnsafeMutableRawPointer, strides: [Int], dataType: dnnl_data_type_t = dnnl_f32) {
    // Axes of extent 1 get a stride that cannot be mistaken for an inner axis (as in Matmul.swift).
    func canonical(_ s: [Int]) -> [Int] {
        let outer = zip(t.shape, s).map { $0 * $1 }.max() ?? 1
        return zip(t.shape, s).map { $0 == 1 ? outer : $1 }
    }
    let (from, to) = (canonical(t.strides), canonical(strides))
    reorder(UnsafeMutableRawPointer(t.basePointer), memoryDesc(dims: t.shape, strides: from),
            dst, memoryDesc(dims: t.shape, strides: to, type: dataType), key: cacheKey(t.shape) + cacheKey(from) + "→" + cacheKey(to) + "\(dataType.rawValue)")
}

/// `values` in brackets, comma-separated, for a cache key: an array's own description (`"\(values)"`) prints
/// each element through a dynamic cast, several times slower on the per-call path.
func cacheKey(_ values: [Int]) -> String {
    "[" + values.map(String.init).joined(separator: ",") + "]"
}

/// A thread-safe cache of primitives keyed by shape and layout.
final class PrimitiveCache<Value>: @unchecked Sendable {
    private var entries: [String: Value] = [:]
    private let lock = NSLock()

    func value(for key: String, make: () -> Value) -> Value {
        lock.lock()
        if let v = entries[key] { lock.unlock(); return v }
        lock.unlock()
        let v = make()
        lock.lock()
        entries[key] = v
        lock.unlock()
        return v
    }
}

/// Tensors derived from weights — reordered into a primitive's preferred layout, or rearranged for
/// another formulation of the same operation — cached per (weight storage, use).
///
/// An entry holds its source weakly: a model that is released takes its derived copies with it (they are
/// dropped at the next insertion), instead of the cache keeping every model's weights alive until it holds
/// `capacity` entries. A storage allocated later at a released one's address does not match the entry, whose
/// source reads nil.
final class PackedWeightCache: @unchecked Sendable {
    static let shared = PackedWeightCache()
    private struct Entry { weak var source: TensorStorage?; let derived: TensorStorage }
    private var entries: [String: Entry] = [:]
    private var order: [String] = []
    private let lock = NSLock()
    /// Most recently derived weights kept; a ViT-L holds about 200 linear and attention weights.
    let capacity = 1024

    /// `weights` as a primitive reads them in layout `md`: their own buffer when `sourceMD` already is that layout,
    /// else the copy reordered into it (``packed(_:as:sourceMD:key:)``). `owner` keeps the buffer alive.
    func operand(_ weights: Tensor, as md: dnnl_memory_desc_t, sourceMD: dnnl_memory_desc_t,
                 key: String) -> (pointer: UnsafeMutableRawPointer, owner: TensorStorage) {
        var (wanted, given) = (md, sourceMD)
        if dnnl_memory_desc_equal(&wanted, &given) != 0 {
            return (UnsafeMutableRawPointer(mutating: weights.basePointer), weights.storage)
        }
        let copy = packed(weights, as: md, sourceMD: sourceMD, key: key)
        return (UnsafeMutableRawPointer(copy.pointer), copy)
    }

    /// `weights` reordered from `sourceMD` to `md`.
    func packed(_ weights: Tensor, as md: dnnl_memory_desc_t, sourceMD: dnnl_memory_desc_t, key: String) -> TensorStorage {
        derived(from: weights, key: key) {
            let packed = TensorStorage(uninitializedCount: (mdSize(md) + 3) / 4)
            reorder(UnsafeMutableRawPointer(weights.basePointer), sourceMD, UnsafeMutableRawPointer(packed.pointer), md)
            return packed
        }
    }

    /// Bytes held in derived copies of any of `storages` (a model's weights: what it holds beyond them).
    func derivedBytes(from storages: [TensorStorage]) -> Int {
        let sources = Set(storages.map(ObjectIdentifier.init))
        lock.lock(); defer { lock.unlock() }
        return entries.values.filter { $0.source.map { sources.contains(ObjectIdentifier($0)) } ?? false }
            .reduce(0) { $0 + $1.derived.count * 4 }
    }

    /// What `make` builds from `weights` for the use named by `key`, built once.
    func derived(from weights: Tensor, key: String, make: () -> TensorStorage) -> TensorStorage {
        let fullKey = "\(ObjectIdentifier(weights.storage).hashValue):\(weights.offset):\(key)"
        lock.lock()
        if let e = entries[fullKey], e.source === weights.storage { lock.unlock(); return e.derived }
        lock.unlock()
        let derived = make()
        lock.lock()
        // Entries of released weights go first (a pass over at most `capacity` entries, once per weight and use).
        let released = Set(entries.filter { $0.value.source == nil }.keys)
        if !released.isEmpty {
            for key in released { entries.removeValue(forKey: key) }
            order.removeAll { released.contains($0) }
        }
        if entries[fullKey] == nil { order.append(fullKey) }
        entries[fullKey] = Entry(source: weights.storage, derived: derived)
        if order.count > capacity { entries.removeValue(forKey: order.removeFirst()) }
        lock.unlock()
        return derived
    }
}
