import ArgumentParser
import FovExModels
import FovExTensor

/// Reads `fp32` or `bf16` (any case), naming the accepted values otherwise.
private func parsePrecision(_ text: String) throws -> Precision {
    guard let precision = Precision(rawValue: text.lowercased()) else {
        throw ValidationError("--precision must be fp32 or bf16, got '\(text)'")
    }
    return precision
}

/// `--precision fp32|bf16`, shared by every command that runs a model (through ``ModelOptions``).
public struct PrecisionOptions: ParsableArguments {
    @Option(help: "Precision of the model's convolutions and matrix products: fp32 (default) or bf16 (bfloat16 operands, fp32 accumulation, element-wise work and results; needs AVX-512 BF16).",
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
            help: "Precisions to time, comma-separated: fp32, bf16 or fp32,bf16 (interleaved, with bf16's speed-up over fp32).")
    public var list = "fp32"

    /// The precisions asked for, in the order given.
    public var precisions: [Precision] {
        list.split(separator: ",").compactMap { Precision(rawValue: $0.trimmingCharacters(in: .whitespaces).lowercased()) }
    }

    public init() {}

    public func validate() throws {
        let names = list.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        guard !names.isEmpty, names.count == precisions.count, Set(names).count == names.count else {
            throw ValidationError("--precision must list fp32 and/or bf16 once each, comma-separated, got '\(list)'")
        }
        for precision in precisions {
            do { try precision.checkSupported() } catch let error as PrecisionUnsupportedError {
                throw ValidationError(error.description)
            }
        }
    }
}
