import DewpointCore

/// Reads numbers from binary frames at a `BinaryField`'s offset, type and byte order.
/// The caller checks the frame is long enough (`field.span`).
public enum BinaryReader {
    @inline(__always)
    static func load(_ p: UnsafeRawBufferPointer, _ at: Int, _ size: Int) -> UInt64 {
        var v: UInt64 = 0
        for i in 0..<size { v = (v << 8) | UInt64(p[at + i]) }  // big-endian accumulation
        return v
    }

    /// The raw bits of the value at `at`, normalised to big-endian order.
    @inline(__always)
    static func bits(_ p: UnsafeRawBufferPointer, _ at: Int, _ f: BinaryField) -> UInt64 {
        let size = f.kind.size
        var v = load(p, at, size)
        if let order = f.wordOrder, size >= 4 {
            switch order {
            case .abcd: break
            case .dcba: v = byteSwap(v, size)
            case .cdab: v = wordSwap(v, size)
            case .badc: v = byteSwapInWords(v, size)
            }
        } else if f.endian == .little {
            v = byteSwap(v, size)
        }
        return v
    }

    @inline(__always)
    static func byteSwap(_ v: UInt64, _ size: Int) -> UInt64 { v.byteSwapped >> UInt64(64 - size * 8) }

    /// Reverses the order of 16-bit words.
    @inline(__always)
    static func wordSwap(_ v: UInt64, _ size: Int) -> UInt64 {
        var out: UInt64 = 0
        var x = v
        for _ in 0..<(size / 2) { out = (out << 16) | (x & 0xFFFF); x >>= 16 }
        return out
    }

    @inline(__always)
    static func byteSwapInWords(_ v: UInt64, _ size: Int) -> UInt64 {
        ((v & 0x00FF_00FF_00FF_00FF) << 8) | ((v >> 8) & 0x00FF_00FF_00FF_00FF)
    }

    /// The value of element `index` of `f` in `p`.
    @inline(__always)
    public static func value(_ p: UnsafeRawBufferPointer, _ f: BinaryField, index: Int = 0) -> Double {
        var b = bits(p, f.offset + index * f.stride, f)
        if let w = f.bitWidth {
            b = (b >> UInt64(f.bitOffset)) & (w >= 64 ? ~0 : (1 << UInt64(w)) - 1)
            switch f.kind {
            case .i8, .i16, .i32, .i64:
                // sign-extend the field
                let shift = UInt64(64 - w)
                return Double(Int64(bitPattern: b << shift) >> Int64(shift))
            default:
                return Double(b)
            }
        }
        switch f.kind {
        case .u8, .u16, .u32, .u64: return Double(b)
        case .i8: return Double(Int8(truncatingIfNeeded: b))
        case .i16: return Double(Int16(truncatingIfNeeded: b))
        case .i32: return Double(Int32(truncatingIfNeeded: b))
        case .i64: return Double(Int64(bitPattern: b))
        case .f16: return Double(Float16(bitPattern: UInt16(truncatingIfNeeded: b)))
        case .f32: return Double(Float(bitPattern: UInt32(truncatingIfNeeded: b)))
        case .f64: return Double(bitPattern: b)
        }
    }
}
