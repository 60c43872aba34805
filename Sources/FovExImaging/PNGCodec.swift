import CPNG

/// PNG decoding and encoding through libpng's simplified API (`png_image_*`).
///
/// The simplified API catches libpng's errors internally (libpng's usual `setjmp` error handling
/// cannot be used from Swift) and reports them as a failed call with a message in the `png_image`.
enum PNGCodec {
    private static let alphaFlag = UInt32(PNG_FORMAT_FLAG_ALPHA)
    private static let colorFlag = UInt32(PNG_FORMAT_FLAG_COLOR)
    private static let linearFlag = UInt32(PNG_FORMAT_FLAG_LINEAR)

    /// Decodes any PNG (1–16 bits, gray, gray+alpha, palette, RGB, RGBA) to 8-bit RGB, compositing
    /// transparency onto `options.background` in sRGB values.
    ///
    /// 16-bit files without gamma information are taken as sRGB-encoded (as PIL and viewers take
    /// them) and scaled to 8 bits by rounding v·255/65535.
    static func decodeRGB(_ data: UnsafeBufferPointer<UInt8>, source: String,
                          options: ImageDecodingOptions) throws -> RGBImage {
        let reader = try Reader(data, source: source, options: options)
        let image = reader.image
        image.pointee.flags |= UInt32(PNG_IMAGE_FLAG_16BIT_sRGB)
        let hasAlpha = image.pointee.format & alphaFlag != 0
        image.pointee.format = colorFlag | (hasAlpha ? alphaFlag : 0)
        let (w, h) = (Int(image.pointee.width), Int(image.pointee.height))
        let channels = hasAlpha ? 4 : 3
        let raw: [UInt8] = try reader.finish(count: w * h * channels, background: nil)
        guard hasAlpha else { return RGBImage(width: w, height: h, pixels: raw) }
        return RGBImage(width: w, height: h, pixels: composite(rgba: raw, count: w * h, onto: options.background))
    }

    /// Decodes a PNG to gray values in [0, 1]: 8-bit files as v/255 (sRGB values, unconverted),
    /// 16-bit files as v/65535 (taken as linear unless the file says otherwise, so maps written by
    /// ``encodeGray16(_:destination:)`` read back unchanged). Colour files are reduced to luminance
    /// by libpng. Transparency is composited onto `options.background` for 8-bit files and onto
    /// black for 16-bit ones (libpng's rule for linear output).
    static func decodeGray(_ data: UnsafeBufferPointer<UInt8>, source: String,
                           options: ImageDecodingOptions) throws -> FloatMap {
        let reader = try Reader(data, source: source, options: options)
        let image = reader.image
        let sixteenBit = image.pointee.format & linearFlag != 0
        image.pointee.format = sixteenBit ? linearFlag : 0
        let (w, h) = (Int(image.pointee.width), Int(image.pointee.height))
        let background = png_color(red: options.background.red, green: options.background.green,
                                   blue: options.background.blue)
        if sixteenBit {
            let raw: [UInt16] = try reader.finish(count: w * h, background: background)
            return FloatMap(width: w, height: h, values: raw.map { Float($0) / 65535 })
        }
        let raw: [UInt8] = try reader.finish(count: w * h, background: background)
        return FloatMap(width: w, height: h, values: raw.map { Float($0) / 255 })
    }

    /// The size announced by the PNG header.
    static func dimensions(_ data: UnsafeBufferPointer<UInt8>, source: String) throws -> (width: Int, height: Int) {
        let reader = try Reader(data, source: source, options: .unlimited, headerOnly: true)
        return (Int(reader.image.pointee.width), Int(reader.image.pointee.height))
    }

    static func encodeRGB(_ image: RGBImage, destination: String) throws -> [UInt8] {
        try write(width: image.width, height: image.height, format: colorFlag, pixels: image.pixels,
                  destination: destination)
    }

    /// 8-bit grayscale: values in [0, 1] rounded to 0…255 (clamped; NaN → 0).
    static func encodeGray8(_ map: FloatMap, destination: String) throws -> [UInt8] {
        try write(width: map.width, height: map.height, format: 0, pixels: map.values.map(byte(fromUnit:)),
                  destination: destination)
    }

    /// 16-bit grayscale: values in [0, 1] rounded to 0…65535 (clamped; NaN → 0).
    ///
    /// libpng marks 16-bit output as linear light (gAMA 1.0, plus cHRM), which would make viewers
    /// brighten a map whose values are data, not light; those chunks are dropped so the file carries
    /// plain values like the 8-bit one.
    static func encodeGray16(_ map: FloatMap, destination: String) throws -> [UInt8] {
        let words = map.values.map { v -> UInt16 in
            guard v > 0 else { return 0 }
            guard v < 1 else { return 65535 }
            return UInt16(v * 65535 + 0.5)
        }
        let png = try write(width: map.width, height: map.height, format: linearFlag, pixels: words,
                            destination: destination)
        return removingChunks(["gAMA", "cHRM"], from: png)
    }

    // MARK: - libpng calls

    /// One read of one PNG. libpng keeps the address of the `png_image` (its error handler writes
    /// the message there), so the struct lives at a fixed heap address from begin to finish.
    private final class Reader {
        let image: UnsafeMutablePointer<png_image>
        let data: UnsafeBufferPointer<UInt8>
        let source: String

        /// Reads the header; unless `headerOnly`, also checks it against `options`' budget.
        init(_ data: UnsafeBufferPointer<UInt8>, source: String, options: ImageDecodingOptions, headerOnly: Bool = false) throws {
            image = .allocate(capacity: 1)
            image.initialize(to: png_image())
            image.pointee.version = UInt32(PNG_IMAGE_VERSION)
            self.data = data
            self.source = source
            if png_image_begin_read_from_memory(image, data.baseAddress, data.count) == 0 {
                throw PNGCodec.decodingError(image.pointee, data: data, source: source)
            }
            let (w, h) = (Int(image.pointee.width), Int(image.pointee.height))
            try options.requirePixelBudget(width: w, height: h, source: source)
            // Even at 1 bit per pixel, each row is a filter byte plus ⌈w/8⌉ bytes, and deflate shrinks data
            // at most 1032:1; a header claiming more than the file can hold is refused before allocating.
            let (rows, overflow) = h.multipliedReportingOverflow(by: 1 + (w + 7) / 8)
            if !headerOnly, overflow || rows / 1032 > data.count {
                throw ImageDecodingError(source: source, problem: .implausibleSize(width: w, height: h, dataBytes: data.count))
            }
        }

        deinit {
            png_image_free(image)
            image.deallocate()
        }

        /// Reads `count` samples in the format set on `image`.
        func finish<T: FixedWidthInteger>(count: Int, background: png_color?) throws -> [T] {
            var ok = false
            // Zero-filled first so that a failed read never exposes uninitialised memory.
            var pixels = [T](repeating: 0, count: count)
            pixels.withUnsafeMutableBytes { buffer in
                if var colour = background {
                    ok = png_image_finish_read(image, &colour, buffer.baseAddress, 0, nil) != 0
                } else {
                    ok = png_image_finish_read(image, nil, buffer.baseAddress, 0, nil) != 0
                }
            }
            guard ok else { throw PNGCodec.decodingError(image.pointee, data: data, source: source) }
            return pixels
        }
    }

    private static func write<T>(width: Int, height: Int, format: UInt32, pixels: [T],
                                 destination: String) throws -> [UInt8] {
        guard width > 0 && height > 0 else {
            throw ImageEncodingError(destination: destination, reason: "a PNG cannot be \(width)×\(height)")
        }
        // libpng keeps the address of the png_image during a call, so it gets a fixed heap address.
        let image = UnsafeMutablePointer<png_image>.allocate(capacity: 1)
        defer { image.deallocate() }
        image.initialize(to: png_image())
        image.pointee.version = UInt32(PNG_IMAGE_VERSION)
        image.pointee.width = UInt32(width)
        image.pointee.height = UInt32(height)
        image.pointee.format = format
        return try pixels.withUnsafeBytes { src -> [UInt8] in
            var size = 0
            // The first call measures, the second writes.
            guard png_image_write_to_memory(image, nil, &size, 0, src.baseAddress, 0, nil) != 0 else {
                throw ImageEncodingError(destination: destination, reason: "libpng: \(message(of: image.pointee))")
            }
            var out = [UInt8](repeating: 0, count: size)
            let ok = out.withUnsafeMutableBytes {
                png_image_write_to_memory(image, $0.baseAddress, &size, 0, src.baseAddress, 0, nil) != 0
            }
            guard ok else {
                throw ImageEncodingError(destination: destination, reason: "libpng: \(message(of: image.pointee))")
            }
            return Array(out.prefix(size))
        }
    }

    // MARK: - Helpers

    private static func message(of image: png_image) -> String {
        withUnsafeBytes(of: image.message) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }

    /// libpng's message as a decoding error; data without an IEND chunk near its end counts as truncated.
    fileprivate static func decodingError(_ image: png_image, data: UnsafeBufferPointer<UInt8>,
                                      source: String) -> ImageDecodingError {
        let detail = "libpng: " + message(of: image)
        let iend: [UInt8] = Array("IEND".utf8)
        let tail = Array(data.suffix(64))
        let hasEnd = tail.count >= 4 && (0...(tail.count - 4)).contains { Array(tail[$0..<$0 + 4]) == iend }
        return ImageDecodingError(source: source, problem: hasEnd ? .corrupt(.png, detail: detail)
                                                                  : .truncated(.png, detail: detail))
    }

    /// a·colour + (1 − a)·background per channel, rounded.
    static func composite(rgba: [UInt8], count: Int, onto background: RGBColor) -> [UInt8] {
        let bg = [Int(background.red), Int(background.green), Int(background.blue)]
        return [UInt8](unsafeUninitializedCapacity: 3 * count) { out, initialized in
            for i in 0..<count {
                let a = Int(rgba[4 * i + 3])
                for c in 0..<3 {
                    out[3 * i + c] = UInt8((Int(rgba[4 * i + c]) * a + bg[c] * (255 - a) + 127) / 255)
                }
            }
            initialized = 3 * count
        }
    }

    /// The PNG stream without the named ancillary chunks (each chunk carries its own CRC, so the
    /// others stay valid).
    static func removingChunks(_ types: Set<String>, from png: [UInt8]) -> [UInt8] {
        var out = Array(png.prefix(8))
        var i = 8
        while i + 12 <= png.count {
            let length = png[i..<i + 4].reduce(0) { $0 << 8 | Int($1) }
            let end = i + 12 + length
            guard end <= png.count else { break }
            let type = String(decoding: png[i + 4..<i + 8], as: UTF8.self)
            if !types.contains(type) { out += png[i..<end] }
            i = end
        }
        return out
    }
}
