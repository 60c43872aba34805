import Foundation

extension RGBImage {
    /// Decodes a JPEG or PNG file; the format comes from the file's first bytes, not its name.
    ///
    /// Grayscale, palette and 16-bit files become 8-bit RGB, CMYK JPEGs are converted (see
    /// ``ImageDecodingOptions`` for transparency and damaged files).
    /// - Throws: ``ImageDecodingError`` naming the file and the problem.
    public init(contentsOf url: URL, options: ImageDecodingOptions = .init()) throws {
        try options.requireValidBudget(source: url.path)
        let bytes = try readImageFile(url, maximumBytes: options.maximumFileBytes)
        try self.init(decoding: bytes, source: url.path, options: options)
    }

    /// Decodes JPEG or PNG bytes; `source` names them in errors.
    public init(decoding bytes: [UInt8], source: String = "<memory>", options: ImageDecodingOptions = .init()) throws {
        try options.requireValidBudget(source: source)
        guard bytes.count <= options.maximumFileBytes else {
            throw ImageDecodingError(source: source, problem: .fileTooLarge(bytes: bytes.count, limit: options.maximumFileBytes))
        }
        let format = try detectImageFormat(bytes, source: source)
        self = try bytes.withUnsafeBufferPointer { data in
            switch format {
            case .jpeg: return try JPEGCodec.decodeRGB(data, source: source, options: options)
            case .png: return try PNGCodec.decodeRGB(data, source: source, options: options)
            }
        }
    }
}

extension FloatMap {
    /// Decodes a JPEG or PNG file as a gray map with values in [0, 1] (such as an MIT1003 fixation
    /// map, or a map written by ``writePNG(to:bitDepth:)``).
    ///
    /// 8-bit values are divided by 255, 16-bit PNG values by 65535. Colour images are reduced to
    /// luminance (JPEG: the file's own Y channel; PNG: libpng's conversion). Transparent 8-bit PNG
    /// pixels are composited onto `options.background`, 16-bit ones onto black.
    /// - Throws: ``ImageDecodingError`` naming the file and the problem.
    public init(contentsOf url: URL, options: ImageDecodingOptions = .init()) throws {
        try options.requireValidBudget(source: url.path)
        let bytes = try readImageFile(url, maximumBytes: options.maximumFileBytes)
        try self.init(decoding: bytes, source: url.path, options: options)
    }

    /// Decodes JPEG or PNG bytes as a gray map; `source` names them in errors.
    public init(decoding bytes: [UInt8], source: String = "<memory>", options: ImageDecodingOptions = .init()) throws {
        try options.requireValidBudget(source: source)
        guard bytes.count <= options.maximumFileBytes else {
            throw ImageDecodingError(source: source, problem: .fileTooLarge(bytes: bytes.count, limit: options.maximumFileBytes))
        }
        let format = try detectImageFormat(bytes, source: source)
        self = try bytes.withUnsafeBufferPointer { data in
            switch format {
            case .jpeg:
                let gray = try JPEGCodec.decodeGray(data, source: source, options: options)
                return FloatMap(width: gray.width, height: gray.height, values: gray.values.map { Float($0) / 255 })
            case .png:
                return try PNGCodec.decodeGray(data, source: source, options: options)
            }
        }
    }
}
