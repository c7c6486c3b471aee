import DewpointCore

/// One key a kind of detector, filter or decoder takes, as `docs/configuration.md` documents it.
/// The loaders take the names of the keys a kind accepts from here, and `ConfigReference`
/// renders the docs' key tables from the same values.
public struct ConfigKey: Sendable, Equatable {
    /// The key as written in YAML (`window`).
    public let name: String
    /// The type as the docs name it: `number`, `integer`, `duration`, `string`, …
    public let type: String
    /// The default as the docs show it: `required`, `none`, `` `288` ``, …
    public let defaultText: String
    /// Allowed values or range, as the docs show them.
    public let allowed: String
    /// One line of documentation.
    public let doc: String

    public init(_ name: String, _ type: String, default defaultText: String, allowed: String, _ doc: String) {
        self.name = name; self.type = type; self.defaultText = defaultText; self.allowed = allowed; self.doc = doc
    }
}

/// One configuration entry (a detector, a filter, the `decoder` section, a channel) as a
/// descriptor's `build` reads it: its keys, already checked against the ones its kind takes.
struct Entry {
    /// The entry's keys.
    let m: [String: (key: Node, value: Node)]
    /// The entry itself, for problems of the whole entry (a missing key).
    let node: Node
    /// Its dotted key path (`channels[0].detectors[1]`), for messages.
    let path: String
    /// Records the diagnostics.
    let r: YAMLReader
}

/// `names` without repeats, in their first order.
func uniqued(_ names: [String]) -> [String] {
    var seen: Set<String> = []
    return names.filter { seen.insert($0).inserted }
}

/// "a" or "an" before `word` as it is spelled (`an ewma detector`, `a threshold detector`).
func article(_ word: String) -> String {
    guard let c = word.first else { return "a" }
    return "aeiou".contains(c) ? "an" : "a"
}

extension YAMLReader {
    /// The string of `node`, which must be one of `names` (a kind); otherwise an error with the
    /// same suggestion `choice(_:_:_:)` gives.
    func choice(_ node: Node, _ path: String, among names: [String]) -> String? {
        guard let s = string(node, path) else { return nil }
        if names.contains(s) { return s }
        let hint = Suggest.closest(to: s, in: names).map { "; did you mean '\($0)'?" } ?? ""
        error(node, path, "expected one of \(names.joined(separator: ", ")), found '\(s)'\(hint)")
        return nil
    }

    /// Refuses, in file order, each key of the mapping `node` that its family knows (`known`)
    /// but its kind does not take (`own`): a key of another kind. `message` says so for one key.
    /// Keys of no kind were already reported by `mapping(_:_:allowed:)`.
    func refuse(_ node: Node, _ path: String, known: [String], own: [String], _ message: (String) -> String) {
        guard case .mapping(let mapping) = node else { return }
        for pair in mapping.pairs {
            guard let name = pair.key.string, known.contains(name), !own.contains(name) else { continue }
            error(pair.key, join(path, name), message(name))
        }
    }
}
