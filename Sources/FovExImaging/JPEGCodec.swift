import CTurboJPEG

/// JPEG decoding and encoding through libjpeg-turbo's TurboJPEG API.
///
/// TurboJPEG reports every failure through return codes (it never aborts the process), so a damaged
/// file becomes an ``ImageDecodingError``.
enum JPEGCodec {
    /// Decodes to interleaved 8-bit RGB. Grayscale JPEGs are expanded to RGB by libjpeg-turbo; CMYK
    /// and YCCK JPEGs are decoded to CMYK and converted with ``rgb(fromAdobeCMYK:count:)``.
    static func decodeRGB(_ data: UnsafeBufferPointer<UInt8>, source: String,
                          options: ImageDecodingOptions) throws -> RGBImage {
        let decoder = try Decoder(data, source: source, options: options)
        if decoder.isCMYK {
            let cmyk = try decoder.decompress(pixelFormat: TJPF_CMYK, channels: 4)
            return RGBImage(width: decoder.width, height: decoder.height,
                            pixels: rgb(fromAdobeCMYK: cmyk, count: decoder.width * decoder.height))
        }
        return RGBImage(width: decoder.width, height: decoder.height,
                        pixels: try decoder.decompress(pixelFormat: TJPF_RGB, channels: 3))
    }

    /// Decodes to 8-bit luminance (the JPEG's own Y channel for YCbCr and grayscale files).
    static func decodeGray(_ data: UnsafeBufferPointer<UInt8>, source: String,
                           options: ImageDecodingOptions) throws -> (width: Int, height: Int, values: [UInt8]) {
        let decoder = try Decoder(data, source: source, options: options)
        if decoder.isCMYK {
            let cmyk = try decoder.decompress(pixelFormat: TJPF_CMYK, channels: 4)
            let rgb = rgb(fromAdobeCMYK: cmyk, count: decoder.width * decoder.height)
            return (decoder.width, decoder.height, luma(fromRGB: rgb))
        }
        return (decoder.width, decoder.height, try decoder.decompress(pixelFormat: TJPF_GRAY, channels: 1))
    }

    /// The size announced by the JPEG header.
    static func dimensions(_ data: UnsafeBufferPointer<UInt8>, source: String) throws -> (width: Int, height: Int) {
        let decoder = try Decoder(data, source: source, options: .unlimited)
        return (decoder.width, decoder.height)
    }

    /// Encodes RGB pixels with 4:2:0 chroma subsampling (libjpeg's and PIL's default).
    static func encode(_ image: RGBImage, quality: Int, destination: String) throws -> [UInt8] {
        precondition((1...100).contains(quality), "JPEG quality must be in 1...100, got \(quality)")
        guard image.width > 0 && image.height > 0 else {
            throw ImageEncodingError(destination: destination, reason: "a JPEG cannot be \(image.width)×\(image.height)")
        }
        guard let handle = tjInitCompress() else {
            throw ImageEncodingError(destination: destination, reason: "TurboJPEG: \(String(cString: tjGetErrorStr2(nil)))")
        }
        defer { tjDestroy(handle) }
        var buffer: UnsafeMutablePointer<UInt8>? = nil
        var size: UInt = 0
        defer { tjFree(buffer) }
        let rc = image.pixels.withUnsafeBufferPointer { src in
            tjCompress2(handle, src.baseAddress, Int32(image.width), 0, Int32(image.height), Int32(TJPF_RGB.rawValue),
                        &buffer, &size, Int32(TJSAMP_420.rawValue), Int32(quality), 0)
        }
        guard rc == 0, let buffer else {
            throw ImageEncodingError(destination: destination, reason: "TurboJPEG: \(String(cString: tjGetErrorStr2(handle)))")
        }
        return Array(UnsafeBufferPointer(start: buffer, count: Int(size)))
    }

    /// Converts CMYK as Adobe applications store it — inverted, 255 meaning no ink — to RGB.
    ///
    /// Photoshop writes inverted CMYK, and PIL and web browsers assume every CMYK JPEG does; this
    /// follows them. The formula is PIL's naive R = (255 − C)(255 − K)/255 (no colour management).
    static func rgb(fromAdobeCMYK cmyk: [UInt8], count: Int) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: 3 * count) { out, initialized in
            for i in 0..<count {
                let k = Int(cmyk[4 * i + 3])  // inverted: 255 − K
                for c in 0..<3 {
                    let ink = 255 - Int(cmyk[4 * i + c])
                    out[3 * i + c] = UInt8(clamping: k - mulDiv255(ink, k))
                }
            }
            initialized = 3 * count
        }
    }

    /// a·b/255 rounded, computed as PIL's MULDIV255.
    @inline(__always)
    private static func mulDiv255(_ a: Int, _ b: Int) -> Int {
        let t = a * b + 128
        return ((t >> 8) + t) >> 8
    }

    /// One file's TurboJPEG session: the header is read at init, pixels by ``decompress(pixelFormat:channels:)``.
    private final class Decoder {
        let handle: tjhandle
        let data: UnsafeBufferPointer<UInt8>
        let source: String
        let options: ImageDecodingOptions
        let width: Int
        let height: Int
        let isCMYK: Bool

        init(_ data: UnsafeBufferPointer<UInt8>, source: String, options: ImageDecodingOptions) throws {
            guard let handle = tjInitDecompress() else {
                throw ImageDecodingError(source: source, problem: .corrupt(
                    .jpeg, detail: "TurboJPEG could not start: \(String(cString: tjGetErrorStr2(nil)))"))
            }
            var w: Int32 = 0, h: Int32 = 0, subsampling: Int32 = 0, colorspace: Int32 = 0
            if tjDecompressHeader3(handle, data.baseAddress, UInt(data.count), &w, &h, &subsampling, &colorspace) != 0 {
                let error = JPEGCodec.error(handle: handle, data: data, source: source)
                tjDestroy(handle)
                throw error
            }
            do {
                try options.requirePixelBudget(width: Int(w), height: Int(h), source: source)
            } catch {
                tjDestroy(handle)
                throw error
            }
            self.handle = handle
            self.data = data
            self.source = source
            self.options = options
            width = Int(w)
            height = Int(h)
            isCMYK = colorspace == Int32(TJCS_CMYK.rawValue) || colorspace == Int32(TJCS_YCCK.rawValue)
        }

        deinit { tjDestroy(handle) }

        /// Decompresses into `channels` bytes per pixel.
        func decompress(pixelFormat: TJPF, channels: Int) throws -> [UInt8] {
            let n = width * height * channels
            var failed = false
            let pixels = [UInt8](unsafeUninitializedCapacity: n) { out, initialized in
                // Fill first so that a failed decode never exposes uninitialised memory.
                out.initialize(repeating: 0)
                initialized = n
                failed = tjDecompress2(handle, data.baseAddress, UInt(data.count), out.baseAddress, Int32(width), 0,
                                       Int32(height), Int32(pixelFormat.rawValue), 0) != 0
            }
            // A warning (TJERR_WARNING) means libjpeg-turbo recovered from damage, e.g. a file cut short
            // decodes with its bottom filled in grey; such pixels are kept only when the caller asks.
            if failed && !(options.acceptsDamagedJPEG && tjGetErrorCode(handle) == Int32(TJERR_WARNING.rawValue)) {
                throw JPEGCodec.error(handle: handle, data: data, source: source)
            }
            return pixels
        }
    }

    /// The handle's error as a decoding error; data without an end-of-image marker counts as truncated.
    private static func error(handle: tjhandle, data: UnsafeBufferPointer<UInt8>, source: String) -> ImageDecodingError {
        let detail = "libjpeg-turbo: " + String(cString: tjGetErrorStr2(handle))
        let tail = data.suffix(64)
        let hasEndMarker = zip(tail, tail.dropFirst()).contains { $0 == 0xFF && $1 == 0xD9 }
        return ImageDecodingError(source: source, problem: hasEndMarker ? .corrupt(.jpeg, detail: detail)
                                                                         : .truncated(.jpeg, detail: detail))
    }
}

/// Rec. 601 luma of interleaved RGB bytes, rounded.
func luma(fromRGB rgb: [UInt8]) -> [UInt8] {
    let count = rgb.count / 3
    return [UInt8](unsafeUninitializedCapacity: count) { out, initialized in
        for i in 0..<count {
            let y = 299 * Int(rgb[3 * i]) + 587 * Int(rgb[3 * i + 1]) + 114 * Int(rgb[3 * i + 2])
            out[i] = UInt8((y + 500) / 1000)
        }
        initialized = count
    }
}
