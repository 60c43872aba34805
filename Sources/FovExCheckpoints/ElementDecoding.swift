/// Conversion of raw little-endian element bytes to `Float`, shared by all readers.
enum ElementDecoding {
    /// Decodes the `bytes.count / dtype.byteCount` elements in `bytes`.
    static func decode(_ bytes: UnsafeRawBufferPointer, as dtype: TensorDType) -> [Float] {
        let count = bytes.count / dtype.byteCount
        return [Float](unsafeUninitializedCapacity: count) { out, initialized in
            decode(bytes, as: dtype, count: count, into: out.baseAddress!)
            initialized = count
        }
    }

    private static func decode(_ bytes: UnsafeRawBufferPointer, as dtype: TensorDType, count: Int,
                               into out: UnsafeMutablePointer<Float>) {
        guard count > 0, let base = bytes.baseAddress else { return }
        switch dtype {
        case .float32:
            #if _endian(little)
            UnsafeMutableRawPointer(out).copyMemory(from: base, byteCount: count * 4)
            #else
            for i in 0..<count {
                out[i] = Float(bitPattern: UInt32(littleEndian: base.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self)))
            }
            #endif
        case .float64:
            for i in 0..<count {
                out[i] = Float(Double(bitPattern: UInt64(littleEndian: base.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self))))
            }
        case .float16:
            for i in 0..<count {
                out[i] = halfToFloat(UInt16(littleEndian: base.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self)))
            }
        case .bfloat16:
            for i in 0..<count {
                let b = UInt16(littleEndian: base.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self))
                out[i] = Float(bitPattern: UInt32(b) << 16)
            }
        case .int64:
            for i in 0..<count {
                out[i] = Float(Int64(littleEndian: base.loadUnaligned(fromByteOffset: i * 8, as: Int64.self)))
            }
        case .int32:
            for i in 0..<count {
                out[i] = Float(Int32(littleEndian: base.loadUnaligned(fromByteOffset: i * 4, as: Int32.self)))
            }
        case .int16:
            for i in 0..<count {
                out[i] = Float(Int16(littleEndian: base.loadUnaligned(fromByteOffset: i * 2, as: Int16.self)))
            }
        case .int8:
            for i in 0..<count { out[i] = Float(base.load(fromByteOffset: i, as: Int8.self)) }
        case .uint8:
            for i in 0..<count { out[i] = Float(base.load(fromByteOffset: i, as: UInt8.self)) }
        case .bool:
            for i in 0..<count { out[i] = base.load(fromByteOffset: i, as: UInt8.self) != 0 ? 1 : 0 }
        }
    }

    /// IEEE binary16 → binary32, exact for every input (the portable route: `Float16` is missing on some hosts).
    static func halfToFloat(_ h: UInt16) -> Float {
        let sign: UInt32 = UInt32(h & 0x8000) << 16
        let exponent = UInt32((h >> 10) & 0x1f)
        let mantissa = UInt32(h & 0x3ff)
        if exponent == 0 {
            // Zero or subnormal: value = mantissa · 2^-24.
            let magnitude = Float(mantissa) * 0x1p-24
            return sign != 0 ? -magnitude : magnitude
        }
        if exponent == 0x1f { return Float(bitPattern: sign | 0x7f80_0000 | (mantissa << 13)) }
        return Float(bitPattern: sign | ((exponent + 112) << 23) | (mantissa << 13))
    }
}

extension Array where Element == Int {
    /// The product of the dimensions, or `nil` when a dimension is negative or the product overflows.
    var checkedElementCount: Int? {
        var n = 1
        for d in self {
            guard d >= 0 else { return nil }
            let (p, overflow) = n.multipliedReportingOverflow(by: d)
            if overflow { return nil }
            n = p
        }
        return n
    }
}
