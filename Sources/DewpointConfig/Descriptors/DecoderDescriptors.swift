import DewpointCore

/// A kind of decoder (`decoder` / `decoder.kind`): the keys of its `decoder` section, the keys
/// with which its channels locate their values, one line of documentation, and how its
/// `DecoderSpec` and a channel's `ValueLocator` are built from checked entries.
public struct DecoderDescriptor: Sendable {
    /// The kind as written (`decoder: csv`); `DecoderSpec.kindName` of what `build` returns.
    public let kind: String
    /// One line for the docs.
    public let doc: String
    /// The keys of the `decoder` section, besides `kind`.
    public let keys: [ConfigKey]
    /// The keys of a channel that say where its value is in a frame (`pointer`, `column`, …).
    public let channelKeys: [ConfigKey]
    /// The decoder from its section (no keys for the short form `decoder: csv`).
    let build: @Sendable (Entry) -> DecoderSpec
    /// Where a channel's value is, from the channel's entry and the binding's decoder; nil once
    /// a problem is recorded.
    let locate: @Sendable (Entry, DecoderSpec) -> Located?

    init(_ kind: String, _ doc: String, keys: [ConfigKey] = [], channelKeys: [ConfigKey] = [],
         build: @escaping @Sendable (Entry) -> DecoderSpec, locate: @escaping @Sendable (Entry, DecoderSpec) -> Located?) {
        self.kind = kind; self.doc = doc; self.keys = keys; self.channelKeys = channelKeys
        self.build = build; self.locate = locate
    }

    /// Says which keys this decoder's section takes, after a key of another decoder.
    var keysText: String {
        keys.isEmpty ? "the \(kind) decoder takes no options" : "the \(kind) decoder's keys are: \(keys.map(\.name).joined(separator: ", "))"
    }

    /// Says how this decoder's channels locate their values, after a key of another decoder.
    var channelKeysText: String {
        channelKeys.isEmpty ? "its channels take the whole payload"
            : "its channels locate values with: \(channelKeys.map(\.name).joined(separator: ", "))"
    }
}

/// Where a channel's value is, and a factor for its scale (fixed point: 2^-frac_bits).
struct Located {
    var locator: ValueLocator
    var scale: Double
    init(_ locator: ValueLocator, scale: Double = 1) { self.locator = locator; self.scale = scale }
}

/// Every kind of decoder, in the order the docs list them. A new decoder is one entry here, its
/// case in `DecoderSpec` (with its `kindName`, same file), its `FrameDecoder+Format.swift`, and
/// its lines in FrameDecoder.swift (its `Plan` case, built in `init`, dispatched in `decode`).
public enum DecoderDescriptors {
    static func oneByte(_ name: String, _ defaultText: String, _ doc: String) -> ConfigKey {
        ConfigKey(name, "string", default: defaultText, allowed: "one single-byte character", doc)
    }

    /// The channel keys of the binary layout (`binary`, and `modbustcp` over register bytes).
    static let binaryChannelKeys: [ConfigKey] = [
        ConfigKey("byte_offset", "integer", default: "required", allowed: "0–65535", "Offset of the (first) value in the frame."),
        ConfigKey("type", "string", default: "required", allowed: "`u8`, `i8`, `u16`, `i16`, `u32`, `i32`, `u64`, `i64`, `f16`, `f32`, `f64`",
                  "Value type (u = unsigned, i = two's complement, f = IEEE 754; `f16` is half precision)."),
        ConfigKey("endian", "string", default: "`big`", allowed: "`big`, `little`", "Byte order."),
        ConfigKey("word_order", "string", default: "none", allowed: "`abcd`, `cdab`, `badc`, `dcba`; 32- and 64-bit types only",
                  "Modbus-style order of 16-bit words; overrides `endian`. `abcd` plain big-endian, `cdab` words swapped, `badc` bytes swapped in each word, `dcba` little-endian."),
        ConfigKey("count", "integer", default: "`1`", allowed: "1–65536", "Array length. An array fans out into `count` samples."),
        ConfigKey("stride", "integer", default: "type size", allowed: "1–65536, at least the type size", "Bytes between array elements."),
        ConfigKey("sample_rate", "number (Hz)", default: "none", allowed: "above 0; required when `count` > 1", "Element `k` is at frame time + k / `sample_rate`."),
        ConfigKey("bit_width", "integer", default: "none (whole value)", allowed: "1–64; integer types only; `bit_offset` + `bit_width` at most the type's bits",
                  "Bit field: only these bits of the integer read at `byte_offset` (after byte order). Signed types sign-extend the field."),
        ConfigKey("bit_offset", "integer", default: "`0`", allowed: "0–63; only with `bit_width`", "First bit of the field, 0 = least significant."),
        ConfigKey("frac_bits", "integer", default: "`0`", allowed: "0–63",
                  "Fixed point (Qm.n): the raw value is multiplied by 2^−`frac_bits`, then by `scale`, then `offset` is added."),
        ConfigKey("when", "mapping", default: "none", allowed: "`byte_offset` (0–65535) and `equals` (0–255), both required",
                  "Conditional field: it exists only in frames whose byte at `when.byte_offset` equals `when.equals`; in other frames the channel has no value (counted in `missing_values`)."),
    ]

    public static let all: [DecoderDescriptor] = [
        DecoderDescriptor("json", "A JSON document; channels use `pointer`. With `array`, an array of readings, one row per element.", keys: [
            ConfigKey("array", "string", default: "none", allowed: "RFC 6901 JSON pointer", "The frame holds an array of readings here; each element becomes one row."),
            ConfigKey("max_items", "integer", default: "`256`", allowed: "1–65536; only with `array`", "Most elements one frame may hold; a longer array is a decode error."),
        ], channelKeys: [
            ConfigKey("pointer", "string", default: "required", allowed: "RFC 6901 pointer, e.g. `/temp`, `/readings/0/v`",
                      "Where the value is (relative to each element with `decoder.array`). Numbers are read; `true`/`false` become 1/0; `null` or absent is a missing value; a string, object or array is a decode error for the frame."),
        ], build: { DecoderDescriptors.json($0) }, locate: { e, _ in DecoderDescriptors.pointer(e) }),
        DecoderDescriptor("csv", "One CSV record per frame; channels use `column`.", keys: [
            DecoderDescriptors.oneByte("separator", "`,`", "Field separator (`\"\\t\"` for tabs)."),
            DecoderDescriptors.oneByte("quote", "`\"`", "Quote character (RFC 4180 quoting)."),
            ConfigKey("header", "list of strings", default: "none", allowed: "unique names",
                      "Column names in order. `channels[].column` and `timestamp.column` may then give a name instead of an index. A frame whose first fields equal these names (a repeated header line) is ignored and counted as `ignored_frames`."),
        ], channelKeys: [
            ConfigKey("column", "integer or string", default: "required", allowed: "0–1023, or a name from `decoder.header`",
                      "0-based column. An empty or absent field is a missing value; a non-number is a decode error."),
        ], build: { DecoderDescriptors.csv($0) }, locate: { e, d in DecoderDescriptors.column(e, d) }),
        DecoderDescriptor("value", "The whole payload is one number.",
                          build: { _ in .value }, locate: { _, _ in Located(.payload) }),
        DecoderDescriptor("binary", "A fixed binary layout; channels use `byte_offset` and `type`.", channelKeys: DecoderDescriptors.binaryChannelKeys,
                          build: { _ in .binary }, locate: { e, _ in DecoderDescriptors.binaryField(e) }),
        DecoderDescriptor("lineprotocol", "One InfluxDB line protocol line; channels use `field`.", keys: [
            ConfigKey("precision", "string", default: "`epoch_ns`", allowed: "`epoch_s`, `epoch_ms`, `epoch_us`, `epoch_ns`", "Unit of the line's timestamp."),
        ], channelKeys: [
            ConfigKey("field", "string", default: "required", allowed: "a field key",
                      "The field read (compared with the unescaped key). An absent field is a missing value; a string field is a decode error."),
        ], build: { DecoderDescriptors.lineProtocol($0) }, locate: { e, _ in DecoderDescriptors.field(e) }),
        DecoderDescriptor("keyvalue", "`key=value` pairs; channels use `key`.", keys: [
            DecoderDescriptors.oneByte("pair_separator", "`\" \"` (space)", "Separator between pairs."),
            DecoderDescriptors.oneByte("kv_separator", "`=`", "Separator between a key and its value."),
        ], channelKeys: [
            ConfigKey("key", "string", default: "required", allowed: "any; compared exactly", "The key whose value is read."),
        ], build: { DecoderDescriptors.keyValue($0) }, locate: { e, _ in DecoderDescriptors.key(e) }),
        DecoderDescriptor("nmea", "One NMEA 0183 sentence; channels use `field`.", keys: [
            ConfigKey("sentence", "string", default: "none (every type)", allowed: "three characters, e.g. `GGA`, `RMC`",
                      "Sentence type to decode, without the talker (`GGA` matches `$GPGGA` and `$GNGGA`). Sentences of another type are ignored and counted as `ignored_frames`."),
            ConfigKey("require_checksum", "boolean", default: "`true`", allowed: "`true`, `false`",
                      "With `true`, a sentence without `*hh` is a decode error. A checksum that is present is always verified; a mismatch is a decode error."),
        ], channelKeys: [
            ConfigKey("field", "integer or string", default: "required", allowed: "a data field index 1–99 or a name from [NMEA fields](#nmea-fields)",
                      "Field 1 is the first after the address (`$GPGGA`); an empty or absent field is a missing value, a non-number a decode error."),
        ], build: { DecoderDescriptors.nmea($0) }, locate: { e, _ in DecoderDescriptors.nmeaField(e) }),
        DecoderDescriptor("modbustcp", "Modbus/TCP (capture on TCP port 502): responses to one read, decoded with the binary keys over their register bytes.", keys: [
            ConfigKey("unit", "integer", default: "`1`", allowed: "0–255", "Unit id of the read."),
            ConfigKey("function", "integer", default: "`3`", allowed: "3 (holding), 4 (input registers)", "Function of the read."),
            ConfigKey("address", "integer", default: "`0`", allowed: "0–65535", "First register of the read; register `address + n` is at `byte_offset` `2n`."),
        ], channelKeys: DecoderDescriptors.binaryChannelKeys, build: { DecoderDescriptors.modbusTCP($0) }, locate: { e, _ in DecoderDescriptors.binaryField(e) }),
    ]

    /// The descriptor of `kind`.
    public static func named(_ kind: String) -> DecoderDescriptor? { all.first { $0.kind == kind } }

    /// The descriptor of a decoder already built.
    static func of(_ decoder: DecoderSpec) -> DecoderDescriptor? { named(decoder.kindName) }

    /// Every key of any decoder's section: what it may hold before its kind is known.
    static let allKeyNames: [String] = uniqued(["kind"] + all.flatMap { $0.keys.map(\.name) })
    /// Every channel key of any decoder.
    static let allChannelKeyNames: [String] = uniqued(all.flatMap { $0.channelKeys.map(\.name) })

    // MARK: decoder sections

    /// A single-byte option such as `separator: ";"`.
    static func byte(_ e: Entry, _ key: String, _ def: UInt8) -> UInt8 {
        let r = e.r
        guard let x = e.m[key], let s = r.string(x.value, "decoder.\(key)") else { return def }
        guard s.utf8.count == 1 else {
            r.error(x.value, "decoder.\(key)", "expected a single ASCII character, found '\(s)'")
            return def
        }
        return s.utf8.first!
    }

    static func json(_ e: Entry) -> DecoderSpec {
        let dm = e.m, r = e.r
        guard let an = dm["array"], let a = r.string(an.value, "decoder.array") else {
            if let x = dm["max_items"] { r.error(x.key, "decoder.max_items", "max_items needs array") }
            return .json
        }
        BindingLoader.checkPointer(a, an.value, "decoder.array", r)
        let maxItems = dm["max_items"].flatMap { r.int($0.value, "decoder.max_items", in: 1...65536) } ?? 256
        return .jsonArray(pointer: a, maxItems: maxItems)
    }

    static func csv(_ e: Entry) -> DecoderSpec {
        let dm = e.m, r = e.r
        var header: [String] = []
        if let h = dm["header"] {
            if case .sequence(let items) = h.value {
                header = items.enumerated().compactMap { r.string($0.element, "decoder.header[\($0.offset)]") }
                if Set(header).count != header.count { r.error(h.value, "decoder.header", "column names must be unique") }
            } else {
                r.error(h.value, "decoder.header", "expected a list of column names, found \(YAMLReader.describe(h.value))")
            }
        }
        return .csv(separator: byte(e, "separator", UInt8(ascii: ",")), quote: byte(e, "quote", UInt8(ascii: "\"")), header: header)
    }

    static func lineProtocol(_ e: Entry) -> DecoderSpec {
        let dm = e.m, r = e.r
        let p = dm["precision"].flatMap { r.choice($0.value, "decoder.precision", TimestampSpec.Format.self) } ?? .epochNs
        if p == .rfc3339 { r.error(dm["precision"]?.value, "decoder.precision", "expected epoch_s, epoch_ms, epoch_us or epoch_ns") }
        return .lineProtocol(precision: p)
    }

    static func keyValue(_ e: Entry) -> DecoderSpec {
        .keyValue(pairSeparator: byte(e, "pair_separator", UInt8(ascii: " ")), kvSeparator: byte(e, "kv_separator", UInt8(ascii: "=")))
    }

    static func nmea(_ e: Entry) -> DecoderSpec {
        let dm = e.m, r = e.r
        let sentence = dm["sentence"].flatMap { r.string($0.value, "decoder.sentence") }
        if let s = sentence, s.count != 3 { r.error(dm["sentence"]?.value, "decoder.sentence", "expected a 3-letter sentence type such as GGA or RMC, found '\(s)'") }
        let req = dm["require_checksum"].flatMap { r.bool($0.value, "decoder.require_checksum") } ?? true
        return .nmea(sentence: sentence, requireChecksum: req)
    }

    static func modbusTCP(_ e: Entry) -> DecoderSpec {
        let dm = e.m, r = e.r
        let unit = dm["unit"].flatMap { r.int($0.value, "decoder.unit", in: 0...255) } ?? 1
        let fc = dm["function"].flatMap { r.int($0.value, "decoder.function", in: 3...4) } ?? 3
        let address = dm["address"].flatMap { r.int($0.value, "decoder.address", in: 0...65535) } ?? 0
        return .modbusTCP(unit: UInt8(unit), function: UInt8(fc), address: UInt16(address))
    }

    // MARK: channel locators

    static func pointer(_ e: Entry) -> Located? {
        let path = e.path, r = e.r
        guard let pn = r.required(e.m, "pointer", path, in: e.node), let p = r.string(pn, "\(path).pointer") else { return nil }
        BindingLoader.checkPointer(p, pn, "\(path).pointer", r)
        return Located(.jsonPointer(p))
    }

    static func column(_ e: Entry, _ decoder: DecoderSpec) -> Located? {
        let path = e.path, r = e.r
        guard let cn = r.required(e.m, "column", path, in: e.node), let col = ChannelLoader.column(cn, "\(path).column", decoder: decoder, r) else { return nil }
        return Located(.csvColumn(col))
    }

    static func key(_ e: Entry) -> Located? {
        let path = e.path, r = e.r
        guard let kn = r.required(e.m, "key", path, in: e.node), let k = r.string(kn, "\(path).key") else { return nil }
        return Located(.key(k))
    }

    static func field(_ e: Entry) -> Located? {
        let path = e.path, r = e.r
        guard let fn = r.required(e.m, "field", path, in: e.node), let f = r.string(fn, "\(path).field") else { return nil }
        return Located(.key(f))
    }

    static func nmeaField(_ e: Entry) -> Located? {
        let path = e.path, r = e.r
        guard let fn = r.required(e.m, "field", path, in: e.node) else { return nil }
        if let k = fn.int {
            if k < 1 || k > 99 { r.error(fn, "\(path).field", "expected a data field index from 1 to 99, found \(k)"); return nil }
            return Located(.nmea(.index(k)))
        }
        guard let name = r.string(fn, "\(path).field") else { return nil }
        if let f = NMEAField.names[name] { return Located(.nmea(f)) }
        let hint = Suggest.closest(to: name, in: Array(NMEAField.names.keys)).map { "; did you mean '\($0)'?" } ?? ""
        r.error(fn, "\(path).field", "expected a field index or one of \(NMEAField.names.keys.sorted().joined(separator: ", ")), found '\(name)'\(hint)")
        return nil
    }

    static func binaryField(_ e: Entry) -> Located? {
        let m = e.m, path = e.path, r = e.r
        let field = ChannelLoader.binaryField(m, path, e.node, r)
        // fixed point: a Qm.n value is the integer scaled by 2^-n (applied with `scale` by the loader)
        var fixedPointScale = 1.0
        if let x = m["frac_bits"], let n = r.int(x.value, "\(path).frac_bits", in: 0...63) {
            for _ in 0..<n { fixedPointScale /= 2 }
        }
        guard let field else { return nil }
        return Located(.binary(field), scale: fixedPointScale)
    }
}
