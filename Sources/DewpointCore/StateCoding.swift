/// The binary form of checkpointed state: fixed-width little-endian values and length-prefixed
/// arrays, written and read in the same order by the type that owns the state.
///
/// Why hand-written rather than Codable: restoring never builds a value from the bytes alone. The
/// owner is first made from the current configuration (so its constants are the configuration's),
/// then `restore` overwrites its mutable state, checking every length against what the
/// configuration implies. Bytes that do not fit throw `StateCodingError`, and the caller discards
/// the checkpoint of that device; they never crash or allocate beyond the bytes given.
public struct StateWriter: ~Copyable {
    public private(set) var bytes: [UInt8] = []

    public init() {}

    public mutating func write<T: FixedWidthInteger>(_ v: T) {
        withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) }
    }
    public mutating func write(_ v: Bool) { bytes.append(v ? 1 : 0) }
    public mutating func write(_ v: Float) { write(v.bitPattern) }
    public mutating func write(_ v: Double) { write(v.bitPattern) }
    public mutating func write(_ v: Int) { write(Int64(v)) }
    /// nil is written as a flag byte, so an optional keeps its place in the stream.
    public mutating func write(_ v: Double?) { write(v != nil); if let v { write(v) } }
    public mutating func write(_ v: Float?) { write(v != nil); if let v { write(v) } }
    public mutating func write(_ v: Int64?) { write(v != nil); if let v { write(v) } }

    /// A length prefix, then the values.
    public mutating func write<T: StateValue>(_ a: [T]) { write(UInt32(a.count)); for x in a { x.write(to: &self) } }
    public mutating func write(_ s: String) { write(Array(s.utf8)) }

    /// `n` Floats from memory (a pointer the owner manages).
    public mutating func write(floats p: UnsafePointer<Float>, count n: Int) {
        write(UInt32(n)); for i in 0..<n { write(p[i]) }
    }
    public mutating func write<T: SIMD>(_ v: T) where T.Scalar == Float {
        for i in v.indices { write(v[i]) }
    }
    public mutating func write<T: SIMD>(_ v: T) where T.Scalar == Double {
        for i in v.indices { write(v[i]) }
    }

    public consuming func finish() -> [UInt8] { bytes }
}

public struct StateCodingError: Error, CustomStringConvertible, Sendable, Equatable {
    public var description: String
    public init(_ d: String) { description = d }
}

/// Reads what a `StateWriter` wrote. Every read checks that the bytes are there; array reads
/// check the length against what the caller expects (or a cap), so a damaged or foreign
/// checkpoint cannot make it allocate.
public struct StateReader: ~Copyable {
    private let bytes: [UInt8]
    public private(set) var offset: Int

    public init(_ bytes: [UInt8], offset: Int = 0) { self.bytes = bytes; self.offset = offset }

    public var isAtEnd: Bool { offset == bytes.count }

    public mutating func read<T: FixedWidthInteger>(_: T.Type = T.self) throws(StateCodingError) -> T {
        let n = MemoryLayout<T>.size
        guard offset + n <= bytes.count else { throw StateCodingError("state ends early (\(bytes.count) bytes)") }
        var v = T.zero
        for i in 0..<n { v |= T(truncatingIfNeeded: bytes[offset + i]) << (8 * i) }
        offset += n
        return v
    }
    public mutating func read(_: Bool.Type = Bool.self) throws(StateCodingError) -> Bool {
        let b: UInt8 = try read()
        guard b <= 1 else { throw StateCodingError("a flag byte holds \(b)") }
        return b == 1
    }
    public mutating func read(_: Float.Type = Float.self) throws(StateCodingError) -> Float { Float(bitPattern: try read(UInt32.self)) }
    public mutating func read(_: Double.Type = Double.self) throws(StateCodingError) -> Double { Double(bitPattern: try read(UInt64.self)) }
    public mutating func read(_: Int.Type = Int.self) throws(StateCodingError) -> Int { Int(try read(Int64.self)) }
    public mutating func read(_: Double?.Type = Double?.self) throws(StateCodingError) -> Double? { try read(Bool.self) ? try read(Double.self) : nil }
    public mutating func read(_: Float?.Type = Float?.self) throws(StateCodingError) -> Float? { try read(Bool.self) ? try read(Float.self) : nil }
    public mutating func read(_: Int64?.Type = Int64?.self) throws(StateCodingError) -> Int64? { try read(Bool.self) ? try read(Int64.self) : nil }

    /// An array's length prefix, checked: exactly `count` if given, else at most `max` and at most
    /// what the remaining bytes can hold.
    private mutating func length(count: Int?, max: Int, elementSize: Int) throws(StateCodingError) -> Int {
        let n = Int(try read(UInt32.self))
        if let count, n != count { throw StateCodingError("an array holds \(n) values where the configuration implies \(count)") }
        guard n <= max, n * elementSize <= bytes.count - offset else { throw StateCodingError("an array of \(n) values does not fit") }
        return n
    }
    /// An array `write` wrote: exactly `count` values if given, else at most `max`.
    public mutating func read<T: StateValue>(_: [T].Type = [T].self, count: Int? = nil, max: Int = 1 << 24) throws(StateCodingError) -> [T] {
        let n = try length(count: count, max: max, elementSize: T.stateSize)
        var a: [T] = []
        a.reserveCapacity(n)
        for _ in 0..<n { a.append(try T.read(from: &self)) }
        return a
    }
    public mutating func read(_: String.Type = String.self, max: Int = 4096) throws(StateCodingError) -> String {
        String(decoding: try read([UInt8].self, max: max), as: UTF8.self)
    }
    /// Fills `count` Floats at `p` (memory the owner manages); the stored length must be `count`.
    public mutating func read(floats p: UnsafeMutablePointer<Float>, count: Int) throws(StateCodingError) {
        let n = try length(count: count, max: count, elementSize: 4)
        for i in 0..<n { p[i] = try read(Float.self) }
    }
    public mutating func read<T: SIMD>(_: T.Type = T.self) throws(StateCodingError) -> T where T.Scalar == Float {
        var v = T()
        for i in v.indices { v[i] = try read(Float.self) }
        return v
    }
    public mutating func read<T: SIMD>(_: T.Type = T.self) throws(StateCodingError) -> T where T.Scalar == Double {
        var v = T()
        for i in v.indices { v[i] = try read(Double.self) }
        return v
    }
}

/// State that can be checkpointed and restored in place (see `StateWriter`).
///
/// `restore(from:)` is called on a value made from the current configuration; it overwrites the
/// state that processing changes, and throws when the bytes do not fit that configuration (the
/// value is then discarded, so a half-restored value is never used).
public protocol Checkpointable {
    func save(to w: inout StateWriter)
    mutating func restore(from r: inout StateReader) throws(StateCodingError)
}

/// A value with a fixed-size form in a checkpoint, so that arrays of it share one reader and
/// one writer.
public protocol StateValue {
    /// Bytes it takes (arrays check their length against what is left before allocating).
    static var stateSize: Int { get }
    func write(to w: inout StateWriter)
    static func read(from r: inout StateReader) throws(StateCodingError) -> Self
}

extension Float: StateValue {
    public static var stateSize: Int { 4 }
    public func write(to w: inout StateWriter) { w.write(self) }
    public static func read(from r: inout StateReader) throws(StateCodingError) -> Float { try r.read(Float.self) }
}
extension Double: StateValue {
    public static var stateSize: Int { 8 }
    public func write(to w: inout StateWriter) { w.write(self) }
    public static func read(from r: inout StateReader) throws(StateCodingError) -> Double { try r.read(Double.self) }
}
/// Fixed-width integers in their own width (`Int` below is the exception: always 8 bytes).
extension StateValue where Self: FixedWidthInteger {
    public static var stateSize: Int { MemoryLayout<Self>.size }
    public func write(to w: inout StateWriter) { w.write(self) }
    public static func read(from r: inout StateReader) throws(StateCodingError) -> Self { try r.read(Self.self) }
}
extension Int64: StateValue {}
extension Int32: StateValue {}
extension UInt8: StateValue {}
/// Written as 8 bytes whatever the platform's Int.
extension Int: StateValue {
    public static var stateSize: Int { 8 }
    public func write(to w: inout StateWriter) { w.write(Int64(self)) }
    public static func read(from r: inout StateReader) throws(StateCodingError) -> Int { Int(try r.read(Int64.self)) }
}
extension Bool: StateValue {
    public static var stateSize: Int { 1 }
    public func write(to w: inout StateWriter) { w.write(self) }
    public static func read(from r: inout StateReader) throws(StateCodingError) -> Bool { try r.read(Bool.self) }
}
