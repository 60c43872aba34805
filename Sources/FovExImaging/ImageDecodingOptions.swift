/// Choices made while decoding an image file.
public struct ImageDecodingOptions: Sendable, Equatable {
    /// The colour transparent PNG pixels are composited onto (white by default; `.black` is the
    /// usual alternative). Compositing is the plain `a·colour + (1 − a)·background` on the stored
    /// sRGB values, as PIL's `alpha_composite` and web browsers do.
    public var background: RGBColor
    /// Whether a JPEG that libjpeg-turbo could only partly decode (a warning such as "premature end
    /// of data", with the missing area filled in) is returned rather than rejected.
    public var acceptsDamagedJPEG: Bool
    /// The largest width × height accepted, so a damaged or hostile header cannot demand an
    /// enormous allocation.
    public var maximumPixelCount: Int

    /// Options; the defaults composite onto white, reject damaged JPEGs and accept up to 2²⁸ pixels.
    public init(background: RGBColor = .white, acceptsDamagedJPEG: Bool = false, maximumPixelCount: Int = 1 << 28) {
        self.background = background
        self.acceptsDamagedJPEG = acceptsDamagedJPEG
        self.maximumPixelCount = maximumPixelCount
    }
}
