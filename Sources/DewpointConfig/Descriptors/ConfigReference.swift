/// The key tables of `docs/configuration.md` that are generated from the descriptors. Each
/// stands between a line `<!-- generated: NAME -->` (NAME a `Family`'s raw value) and a line
/// `<!-- end -->`; `Tests/DewpointConfigTests/DescriptorDocsTests.swift` fails when they differ
/// from what is rendered here, and rewrites them with `DEWPOINT_REGENERATE_DOCS=1`.
public enum ConfigReference {
    public enum Family: String, CaseIterable, Sendable {
        case detectors, filters, decoders
        case deviceDetectors = "device-detectors"
    }

    /// Two tables: the family's kinds with their documentation line, then every key with the
    /// kinds that take it. A key that several kinds take alike is one row.
    public static func markdown(for family: Family) -> String {
        switch family {
        case .detectors:
            return tables(kinds: DetectorDescriptors.all.map { ($0.kind, $0.doc) },
                          groups: [KeyGroup(kind: nil, prefix: "", keys: DetectorDescriptors.common)]
                              + DetectorDescriptors.all.map { KeyGroup(kind: $0.kind, prefix: "", keys: $0.keys) })
        case .deviceDetectors:
            return tables(kinds: DeviceDetectorLoader.kinds, groups: [KeyGroup(kind: nil, prefix: "detectors[].", keys: DeviceDetectorLoader.keys)])
        case .filters:
            return tables(kinds: FilterDescriptors.all.map { ($0.kind, $0.doc) },
                          groups: FilterDescriptors.all.map { KeyGroup(kind: $0.kind, prefix: "", keys: $0.keys) })
        case .decoders:
            return tables(kinds: DecoderDescriptors.all.map { ($0.kind, $0.doc) },
                          groups: DecoderDescriptors.all.flatMap {
                              [KeyGroup(kind: $0.kind, prefix: "decoder.", keys: $0.keys),
                               KeyGroup(kind: $0.kind, prefix: "channels[].", keys: $0.channelKeys)]
                          })
        }
    }

    /// `text` (the docs) with every generated section rendered afresh, between empty lines.
    /// A section whose name is not a `Family` is left as it is.
    public static func replacingGenerated(in text: String) -> String {
        let start = "<!-- generated: ", close = " -->", end = "<!-- end -->"
        var out: [Substring] = []
        var skipping = false
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if skipping {
                if line == end {
                    skipping = false
                    out.append(line)
                }
                continue
            }
            out.append(line)
            if line.hasPrefix(start), line.hasSuffix(close),
               let family = Family(rawValue: String(line.dropFirst(start.count).dropLast(close.count))) {
                let section = "\n" + markdown(for: family) + "\n"
                out.append(contentsOf: section.split(separator: "\n", omittingEmptySubsequences: false))
                skipping = true
            }
        }
        return out.joined(separator: "\n")
    }

    /// Keys of one kind (nil: of every kind), written with `prefix` (`decoder.`).
    struct KeyGroup {
        var kind: String?
        var prefix: String
        var keys: [ConfigKey]
    }

    static func tables(kinds: [(String, String)], groups: [KeyGroup]) -> String {
        var lines = ["| Kind | Description |", "|---|---|"]
        for (kind, doc) in kinds { lines.append("| `\(kind)` | \(doc) |") }
        lines.append("")
        lines.append("| Key | Kinds | Type | Default | Allowed | Description |")
        lines.append("|---|---|---|---|---|---|")
        var rows: [(name: String, key: ConfigKey, kinds: [String])] = []
        for g in groups {
            let kindText = g.kind.map { "`\($0)`" } ?? "every kind"
            for k in g.keys {
                let name = g.prefix + k.name
                if let i = rows.firstIndex(where: { $0.name == name && $0.key == k }) {
                    rows[i].kinds.append(kindText)
                } else {
                    rows.append((name: name, key: k, kinds: [kindText]))
                }
            }
        }
        for row in rows {
            let k = row.key
            lines.append("| `\(row.name)` | \(row.kinds.joined(separator: ", ")) | \(k.type) | \(k.defaultText) | \(k.allowed) | \(k.doc) |")
        }
        return lines.joined(separator: "\n")
    }
}
