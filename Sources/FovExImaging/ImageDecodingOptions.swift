import Foundation

/// Choices made while decoding an image file, including its decompression budget.
///
/// The budget bounds what one file may cost before any pixel is decoded: the file's size
/// (``maximumFileBytes``) is checked before it is read, and the width × height its header announces
/// (``maximumPixelCount``) before pixel memory is allocated. A PNG whose header claims more pixels than
/// its data could hold even at zlib's best compression ratio is refused at the same point.
/// The defaults (40 megapixels, 256 MiB) admit any ordinary photograph; the environment variables
/// `FOVEX_MAX_PIXELS` and `FOVEX_MAX_IMAGE_BYTES` (positive whole numbers) override them.
public struct ImageDecodingOptions: Sendable, Equatable {
    /// The colour transparent PNG pixels are composited onto (white by default; `.black` is the
    /// usual alternative). Compositing is the plain `a·colour + (1 − a)·background` on the stored
    /// sRGB values, as PIL's `alpha_composite` and web browsers do.
    public var background: RGBColor
    /// Whether a JPEG that libjpeg-turbo could only partly decode (a warning such as "premature end
    /// of data", with the missing area filled in) is returned rather than rejected.
    public var acceptsDamagedJPEG: Bool
    /// The largest width × height accepted, so a damaged or hostile header cannot demand an
    /// enormous allocation or minutes of decoding.
    public var maximumPixelCount: Int
    /// The largest file read, checked from the file's size before reading it.
    public var maximumFileBytes: Int
    /// Why an environment override was refused, reported by every decode that uses these options
    /// (an invalid limit is never silently replaced by the default).
    public var budgetProblem: String?

    /// The pixel budget when neither the caller nor `FOVEX_MAX_PIXELS` sets one.
    public static let defaultMaximumPixelCount = 40_000_000
    /// The file-size budget when neither the caller nor `FOVEX_MAX_IMAGE_BYTES` sets one.
    public static let defaultMaximumFileBytes = 256 << 20

    /// Options with the given choices; a `nil` limit comes from the environment variable when it is
    /// set, else from the default.
    public init(background: RGBColor = .white, acceptsDamagedJPEG: Bool = false,
                maximumPixelCount: Int? = nil, maximumFileBytes: Int? = nil) {
        self.background = background
        self.acceptsDamagedJPEG = acceptsDamagedJPEG
        let environment = ProcessInfo.processInfo.environment
        var problems: [String] = []
        func limit(_ given: Int?, _ variable: String, _ fallback: Int) -> Int {
            if let given { return given }
            guard let text = environment[variable] else { return fallback }
            guard let value = Int(text.trimmingCharacters(in: .whitespaces)), value > 0 else {
                problems.append("\(variable)='\(text)' is not a positive whole number")
                return fallback
            }
            return value
        }
        self.maximumPixelCount = limit(maximumPixelCount, "FOVEX_MAX_PIXELS", Self.defaultMaximumPixelCount)
        self.maximumFileBytes = limit(maximumFileBytes, "FOVEX_MAX_IMAGE_BYTES", Self.defaultMaximumFileBytes)
        budgetProblem = problems.isEmpty ? nil : problems.joined(separator: "; ")
    }

    /// Options without limits, for reading only a header.
    static let unlimited = ImageDecodingOptions(maximumPixelCount: .max, maximumFileBytes: .max)

    /// Throws when an environment override was invalid.
    func requireValidBudget(source: String) throws {
        if let budgetProblem { throw ImageDecodingError(source: source, problem: .invalidBudget(budgetProblem)) }
    }

    /// Throws when `width × height` exceeds the pixel budget.
    func requirePixelBudget(width: Int, height: Int, source: String) throws {
        let (pixels, overflow) = width.multipliedReportingOverflow(by: height)
        if overflow || pixels > maximumPixelCount {
            throw ImageDecodingError(source: source, problem: .tooLarge(width: width, height: height, limit: maximumPixelCount))
        }
    }
}
