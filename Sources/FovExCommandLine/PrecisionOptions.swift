import ArgumentParser
import FovExModels
import FovExTensor

/// Reads `fp32`, `bf16` or `bf16-backward` (any case), naming the accepted values otherwise.
private func parsePrecision(_ text: String) throws -> Precision {
    guard let precision = Precision(rawValue: text.lowercased()) else {
        throw ValidationError("--precision must be fp32, bf16 or bf16-backward, got '\(text)'")
    }
    return precision
}

/// `--precision fp32|bf16|bf16-backward`, shared by every command that runs a model (through ``ModelOptions``).
public struct PrecisionOptions: ParsableArguments {
    @Option(help: "Precision of the model's convolutions and matrix products: fp32 (default), bf16 (bfloat16 operands, fp32 accumulation, element-wise work and results; needs AVX-512 BF16) or bf16-backward (fp32 forward, bf16 backward products: fp32's losses and ReLU masks, input gradients within about 1 % of fp32's; for gradient-driven explainers such as FovEx).",
            transform: parsePrecision)
    public var precision: Precision = .fp32

    public init() {}

    public func validate() throws {
        do { try precision.checkSupported() } catch let error as PrecisionUnsupportedError {
            throw ValidationError(error.description)
        }
    }
}

/// `--precision LIST` of the benchmarks: the precisions to time, comma-separated. With both, every
/// measurement alternates fp32 and bf16 runs, so their ratio is taken under the same machine load.
public struct BenchPrecisionOptions: ParsableArguments {
    @Option(name: .customLong("precision"),
            help: "Precisions to time, comma-separated, from fp32, bf16 and bf16-backward (interleaved, with each one's speed-up over fp32).")
    public var list = "fp32"

    /// The precisions asked for, in the order given.
    public var precisions: [Precision] {
        list.split(separator: ",").compactMap { Precision(rawValue: $0.trimmingCharacters(in: .whitespaces).lowercased()) }
    }

    public init() {}

    public func validate() throws {
        let names = list.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        guard !names.isEmpty, names.count == precisions.count, Set(names).count == names.count else {
            throw ValidationError("--precision must list fp32, bf16 and/or bf16-backward once each, comma-separated, got '\(list)'")
        }
        for precision in precisions {
            do { try precision.checkSupported() } catch let error as PrecisionUnsupportedError {
                throw ValidationError(error.description)
            }
            // Emulated bf16 gives bf16's results at a fraction of fp32's speed: its times would mislead.
            if precision != .fp32 && Precision.isEmulated {
                throw ValidationError("--precision \(precision.rawValue): bf16 is emulated in this process (FOVEX_BF16_EMULATION=1 on a "
                                      + "CPU without AVX-512 BF16), so its times would not be bf16's; unset it to benchmark")
            }
        }
    }
}
