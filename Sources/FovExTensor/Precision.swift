import CDNNL
import Foundation

/// The number format of the convolutions' and matrix products' operands.
///
/// In ``bf16`` the convolutions and matrix products read bfloat16 weights and activations (8 bits of mantissa)
/// and accumulate in fp32; their results, every element-wise operation, the softmax and normalisation
/// statistics, and every returned gradient stay fp32. On CPUs with AVX-512 BF16 this doubles the products'
/// multiply rate, at a relative error of about 2⁻⁹ per operand. ``bf16Backward`` does so in the backward
/// products only.
public enum Precision: String, Sendable, CaseIterable, Codable {
    /// fp32 everywhere (the default; the reference for every parity test).
    case fp32
    /// bfloat16 operands with fp32 accumulation in convolutions and matrix products.
    case bf16
    /// fp32 forward products and bf16 backward products (the products that compute input gradients): logits,
    /// losses and every activation, ReLU masks included, are exactly fp32's, and the input gradient is within
    /// about 1 % of fp32's. For gradient-driven explainers: rounding the forward operands moves ReLU masks, which
    /// changes a CNN's input gradient by 30–55 % and FovEx's scanpaths with it (docs/results/bf16.md).
    case bf16Backward = "bf16-backward"

    /// The precision the calling task (or thread, outside tasks) computes in; ``fp32`` unless inside
    /// ``withPrecision(_:_:)``. Task-local, as ``GradientMode`` is, so concurrent explanations do not
    /// switch each other's precision.
    @TaskLocal public static var current: Precision = .fp32

    /// Whether this process computes bf16 products: on CPUs where oneDNN reports at least `avx512_core_bf16`,
    /// and, when ``isEmulationRequested``, on any AVX-512 CPU (``isEmulated``). Otherwise oneDNN would emulate
    /// bf16 far slower than fp32, so ``bf16`` is refused instead.
    public static let isBF16Supported: Bool = isBF16Native || (isEmulationRequested && isAVX512)

    /// Whether this CPU runs bf16 products in hardware (oneDNN reports at least `avx512_core_bf16`).
    public static let isBF16Native: Bool = {
        let isa = dnnl_get_effective_cpu_isa()
        return isa.rawValue & dnnl_cpu_isa_avx512_core_bf16.rawValue == dnnl_cpu_isa_avx512_core_bf16.rawValue
    }()

    /// `FOVEX_BF16_EMULATION=1`: run bf16 on AVX-512 CPUs without the BF16 instructions, through oneDNN's
    /// emulation (several times slower than fp32). Only for testing the bf16 code paths on such machines (`make
    /// test` sets it); the results are bf16's, the speed is not.
    public static let isEmulationRequested = ProcessInfo.processInfo.environment["FOVEX_BF16_EMULATION"] == "1"

    /// Whether bf16 runs through oneDNN's emulation in this process (see ``isEmulationRequested``).
    public static var isEmulated: Bool { isBF16Supported && !isBF16Native }

    private static let isAVX512: Bool = {
        let isa = dnnl_get_effective_cpu_isa()
        return isa.rawValue & dnnl_cpu_isa_avx512_core.rawValue == dnnl_cpu_isa_avx512_core.rawValue
    }()

    /// Throws ``PrecisionUnsupportedError`` when this CPU cannot compute in this precision.
    public func checkSupported() throws {
        if self != .fp32 && !Precision.isBF16Supported { throw PrecisionUnsupportedError(precision: self) }
    }

    /// The operand precision (``fp32`` or ``bf16``) of a product's forward pass and of its backward pass.
    var productPrecisions: (forward: Precision, backward: Precision) {
        switch self {
        case .fp32: return (.fp32, .fp32)
        case .bf16: return (.bf16, .bf16)
        case .bf16Backward: return (.fp32, .bf16)
        }
    }
}

/// A precision this CPU has no instructions for.
public struct PrecisionUnsupportedError: Error, CustomStringConvertible {
    /// The precision asked for.
    public var precision: Precision

    public var description: String {
        "--precision \(precision.rawValue) needs a CPU with AVX-512 BF16 instructions (oneDNN ISA avx512_core_bf16); "
            + "this one reports \(isaName()); use --precision fp32"
    }
}

private func isaName() -> String {
    switch dnnl_get_effective_cpu_isa() {
    case dnnl_cpu_isa_sse41: return "sse41"
    case dnnl_cpu_isa_avx: return "avx"
    case dnnl_cpu_isa_avx2: return "avx2"
    case dnnl_cpu_isa_avx512_mic, dnnl_cpu_isa_avx512_mic_4ops: return "avx512_mic"
    case dnnl_cpu_isa_avx512_core: return "avx512_core"
    case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni"
    default: return "an ISA without bf16"
    }
}

/// Runs `body` with the convolutions and matrix products it calls computing in `precision`. Operations
/// recorded for differentiation remember the precision they ran in: their backward pass uses it too,
/// wherever the gradient is taken.
public func withPrecision<R>(_ precision: Precision, _ body: () throws -> R) rethrows -> R {
    if Precision.current == precision { return try body() }
    return try Precision.$current.withValue(precision, operation: body)
}

/// The oneDNN data type of a product's operands in `precision` (an operand precision, ``Precision/fp32`` or
/// ``Precision/bf16``).
func operandType(_ precision: Precision) -> dnnl_data_type_t { precision == .bf16 ? dnnl_bf16 : dnnl_f32 }

/// The elements of `t` converted to bf16 and laid out with `strides`, for a bf16 primitive's operand.
func bf16Copy(_ t: Tensor, strides: [Int]) -> TensorStorage {
    let storage = TensorStorage(uninitializedCount: (t.count + 1) / 2)
    reorder(t, into: UnsafeMutableRawPointer(storage.pointer), strides: strides, dataType: dnnl_bf16)
    return storage
}

/// A storage's buffer seen as bf16 values (their bit patterns).
func bf16Pointer(_ storage: TensorStorage) -> UnsafeMutablePointer<UInt16> {
    UnsafeMutableRawPointer(storage.pointer).assumingMemoryBound(to: UInt16.self)
}

/// The bf16 bit pattern of `x` as AVX-512 BF16's `vcvtneps2bf16` (which oneDNN's reorders use on the CPUs bf16
/// runs on) computes it: round to nearest even; a subnormal becomes zero of the same sign; a NaN stays a NaN
/// (quiet). Element-wise passes that end in a bf16 operand use it, so that a fused conversion gives exactly
/// what a separate oneDNN reorder gives. Branch-free, so that loops over it vectorise.
@inline(__always) func bf16Bits(_ x: Float) -> UInt16 {
    let bits = x.bitPattern
    let magnitude = bits & 0x7FFF_FFFF
    let rounded = (bits &+ 0x7FFF &+ ((bits >> 16) & 1)) >> 16
    let special = magnitude > 0x7F80_0000 ? (bits >> 16) | 0x40 : (bits >> 16) & 0x8000
    return UInt16(truncatingIfNeeded: magnitude > 0x7F80_0000 || magnitude < 0x0080_0000 ? special : rounded)
}

/// Writes `value(i)` as bf16 to `dst[i]`, and as fp32 to `fp32[i]` when given, for every `i` in `range`.
@inline(__always) func storeBF16(_ range: Range<Int>, _ dst: UnsafeMutablePointer<UInt16>, fp32: UnsafeMutablePointer<Float>?,
                                 _ value: (Int) -> Float) {
    if let fp32 {
        for i in range {
            let v = value(i)
            fp32[i] = v
            dst[i] = bf16Bits(v)
        }
    } else {
        for i in range { dst[i] = bf16Bits(value(i)) }
    }
}
