import CDNNL
import Foundation

/// How a fully connected layer's forward product reads its weight (``Tensor/linear(weight:bias:packing:)``).
public enum LinearWeightPacking: Sendable {
    /// The weight as it is: the model holds each weight once. oneDNN copies the blocks it needs on every call.
    case none
    /// A copy of the weight packed once for oneDNN's GEMM kernels, on CPUs where that is faster: where oneDNN's
    /// matmul has no kernel of its own for the weight's layout and runs its GEMM driver, which repacks the whole
    /// weight at every call (CPUs without AVX-512). There ViT-B/16's four products ran 9–13 % faster at 197 rows
    /// and 13–23 % faster at 50 (2-core Zen 3; `tools/onednn/packed_gemm.cpp`, docs/design/onnx-speed.md). The copy
    /// (about the weight's size) is held beside the weight, which the backward product still reads, so it costs
    /// memory; products of fewer than 32 rows, and other CPUs, read the weight as it is.
    case whereFaster
}

/// oneDNN's single-precision GEMM on a weight packed once ("pack" and "compute" GEMM routines).
///
/// oneDNN 2.6 exports these routines (`sgemm_pack_get_size`, `sgemm_pack`, `sgemm_compute`, the same interface as
/// MKL's `cblas_sgemm_pack`) from its shared library but not from its public headers, so they are looked up by their
/// C++ symbol names when first needed; the names encode every parameter's type, so a library whose routines differ
/// has no such symbols, and then nothing is packed (``isAvailable`` is false) and the matmul primitive runs as
/// before. The routines are column-major, BLAS style: the row-major product Y[M, N] = X[M, K] · Wᵀ, with the weight
/// W [N, K], is computed as the column-major Yᵀ (N × M) = op(W) (N × K) · Xᵀ (K × M), W being the packed "A" operand.
/// A packed weight serves every row count and thread count (checked down to one row and one thread).
enum PackedGEMM {
    private typealias SizeFunction = @convention(c) (
        UnsafePointer<CChar>, UnsafePointer<CChar>, UnsafePointer<CChar>, UnsafePointer<Int64>, UnsafePointer<Int64>,
        UnsafePointer<Int64>, UnsafePointer<Int64>, UnsafePointer<Int64>, UnsafeMutablePointer<Int>,
        UnsafeMutablePointer<Bool>?) -> Int32
    private typealias PackFunction = @convention(c) (
        UnsafePointer<CChar>, UnsafePointer<CChar>, UnsafePointer<CChar>, UnsafePointer<Int64>, UnsafePointer<Int64>,
        UnsafePointer<Int64>, UnsafePointer<Int64>, UnsafePointer<Int64>, UnsafePointer<Float>,
        UnsafeMutablePointer<Float>) -> Int32
    private typealias ComputeFunction = @convention(c) (
        UnsafePointer<CChar>, UnsafePointer<CChar>, UnsafePointer<Int64>, UnsafePointer<Int64>, UnsafePointer<Int64>,
        UnsafePointer<Float>, UnsafePointer<Int64>, UnsafePointer<Float>, UnsafePointer<Int64>, UnsafePointer<Float>,
        UnsafeMutablePointer<Float>, UnsafePointer<Int64>) -> Int32

    private struct Routines: @unchecked Sendable {
        let size: SizeFunction
        let pack: PackFunction
        let compute: ComputeFunction
    }

    private static let routines: Routines? = {
        // RTLD_DEFAULT: the libraries already loaded, libdnnl among them.
        func find(_ name: String) -> UnsafeMutableRawPointer? { dlsym(nil, name) }
        guard let size = find("_ZN4dnnl4impl3cpu19sgemm_pack_get_sizeEPKcS3_S3_PKlS5_S5_S5_S5_PmPb"),
              let pack = find("_ZN4dnnl4impl3cpu10sgemm_packEPKcS3_S3_PKlS5_S5_S5_S5_PKfPf"),
              let compute = find("_ZN4dnnl4impl3cpu13sgemm_computeEPKcS3_PKlS5_S5_PKfS5_S7_S5_S7_PfS5_")
        else { return nil }
        return Routines(size: unsafeBitCast(size, to: SizeFunction.self), pack: unsafeBitCast(pack, to: PackFunction.self),
                        compute: unsafeBitCast(compute, to: ComputeFunction.self))
    }()

    /// A routine's `dnnl_status_t` result (a C enum, returned as a 32-bit integer).
    private static func status(_ code: Int32) -> dnnl_status_t { dnnl_status_t(rawValue: UInt32(bitPattern: code)) }

    /// Whether the linked oneDNN exports the packed GEMM routines.
    static var isAvailable: Bool { routines != nil }

    /// Whether ``LinearWeightPacking/whereFaster`` packs on this CPU: where oneDNN's matmul primitive asks for a
    /// plain row-major weight (its GEMM driver; it has its own blocked kernels on AVX-512). `FOVEX_PACKED_GEMM=0`
    /// turns packing off, `=1` on for every CPU that has the routines.
    static let isEnabled: Bool = {
        guard isAvailable else { return false }
        switch ProcessInfo.processInfo.environment["FOVEX_PACKED_GEMM"] {
        case "0": return false
        case "1": return true
        default: return matmulRunsGEMMDriver
        }
    }()

    /// Whether oneDNN's fp32 matmul asks for ViT-B/16's MLP weight in plain row-major layout.
    private static var matmulRunsGEMMDriver: Bool {
        let (m, k, n) = (197, 768, 3072)
        let prim = matmulPrimitive(src: memoryDesc(dims: [m, k], tag: dnnl_ab),
                                   weights: memoryDesc(dims: [k, n], tag: dnnl_format_tag_any), bias: nil,
                                   dst: memoryDesc(dims: [m, n], tag: dnnl_ab), name: "packed-gemm probe")
        return prim.asksForRowMajorWeights([k, n])
    }

    /// Products of fewer rows read the weight as it is: at one to eight rows the packed routine was up to 2× slower
    /// than the matmul primitive, at 16 rows within 10 % either way, from 32 rows faster (2-core Zen 3).
    static let minimumRows = 32

    /// How `weight` ([N, K]) is read as the column-major N × K operand: "T" for a row-major [N, K] matrix (column-major
    /// K × N), "N" for a transposed view of a row-major [K, N] one; with its leading dimension. Nil for other layouts.
    private static func operand(_ weight: Tensor) -> (transposition: String, leading: Int)? {
        let (n, k) = (weight.shape[0], weight.shape[1])
        if weight.strides[1] == 1 && weight.strides[0] >= k { return ("T", weight.strides[0]) }
        if weight.strides[0] == 1 && weight.strides[1] >= n { return ("N", weight.strides[1]) }
        return nil
    }

    /// Whether ``product(_:weight:bias:)`` takes these operands.
    static func applies(rows: Int, weight: Tensor) -> Bool {
        isEnabled && rows >= minimumRows && weight.rank == 2 && weight.count > 0 && operand(weight) != nil
    }

    /// `weight` packed as the "A" operand, built once per weight and kept in ``PackedWeightCache`` while the weight
    /// lives.
    private static func packed(_ weight: Tensor, routines r: Routines) -> TensorStorage {
        let (trans, ld) = operand(weight)!
        let (n, k) = (weight.shape[0], weight.shape[1])
        return PackedWeightCache.shared.derived(from: weight, key: "sgemm-pack-A:\(trans):\(ld):\(n)x\(k)") {
            // The row count given to the packing only guides its blocking; the result serves any row count.
            var (m64, n64, k64, lda, ldb) = (Int64(n), Int64(256), Int64(k), Int64(ld), Int64(k))
            var bytes = 0
            var storage: TensorStorage!
            DNNLContext.shared.runExclusively {
                dnnlCheck(status(r.size("A", trans, "N", &m64, &n64, &k64, &lda, &ldb, &bytes, nil)),
                          "sgemm_pack_get_size \(n)×\(k)")
                storage = TensorStorage(uninitializedCount: (bytes + 3) / 4)
                dnnlCheck(status(r.pack("A", trans, "N", &m64, &n64, &k64, &lda, &ldb, weight.basePointer,
                                                      storage.pointer)), "sgemm_pack \(n)×\(k)")
            }
            return storage
        }
    }

    /// `x` (rows with unit stride) · `weight`ᵀ + `bias`, a new contiguous [M, N] tensor, on the packed weight.
    /// Records nothing. Callers check ``applies(rows:weight:)`` first.
    static func product(_ x: Tensor, weight: Tensor, bias: Tensor?) -> Tensor {
        let r = routines!
        let x = x.strides[1] == 1 && x.strides[0] >= x.shape[1] ? x : x.contiguous()
        let (m, k, n) = (x.shape[0], x.shape[1], weight.shape[0])
        let packedWeight = packed(weight, routines: r)
        let out = Tensor.uninitialized([m, n])
        let y = out.storage.pointer
        var beta: Float = 0
        if let bias {
            // The bias is written into every row and accumulated onto (β = 1): the routine has no bias argument.
            let b = bias.contiguous()
            parallelChunks(m, minimumChunk: max(1, (1 << 14) / max(n, 1))) { rows in
                for i in rows { (y + i * n).update(from: b.basePointer, count: n) }
            }
            beta = 1
        }
        var (m64, n64, k64, lda, ldb, ldc) = (Int64(n), Int64(m), Int64(k), Int64(operand(weight)!.leading),
                                              Int64(x.strides[0]), Int64(n))
        withExtendedLifetime((x, packedWeight, bias)) {
            DNNLContext.shared.runExclusively {
                dnnlCheck(status(r.compute("P", "N", &m64, &n64, &k64, packedWeight.pointer, &lda,
                                                         x.basePointer, &ldb, &beta, y, &ldc)),
                          "sgemm_compute \(m)×\(k)·\(k)×\(n)")
            }
        }
        return out
    }
}
