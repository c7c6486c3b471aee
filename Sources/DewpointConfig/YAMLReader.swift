
/// Typed access to a composed YAML tree that records a located diagnostic for every problem
/// instead of stopping at the first one.
final class YAMLReader {
    let file: String
    private(set) var diagnostics: [ConfigDiagnostic] = []
    /// Problems that do not stop a run (a file others can read, hardware absent now).
    private(set) var warnings: [ConfigDiagnostic] = []

    init(file: String) { self.file = file }

    func warning(_ node: Node?, _ key: String, _ message: String) {
        warnings.append(ConfigDiagnostic(file: file, line: node?.mark.line ?? 1, column: node?.mark.column ?? 1, key: key, message: "warning: " + message))
    }

    func error(_ node: Node?, _ key: String, _ message: String) {
        let m = node?.mark
        diagnostics.append(ConfigDiagnostic(file: file, line: m?.line ?? 1, column: m?.column ?? 1, key: key, message: message))
    }

    static func describe(_ node: Node) -> String {
        switch node {
        case .scalar(let s):
            if s.string.isEmpty || node.null != nil && (s.string == "~" || s.string == "null") { return "nothing" }
            return "'\(s.string)'"
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        }
    }

    /// The keys of a mapping node, checked against `allowed`. Unknown keys are errors with a
    /// "did you mean" suggestion.
    func mapping(_ node: Node, _ path: String, allowed: [String]) -> [String: (key: Node, value: Node)]? {
        guard case .mapping(let m) = node else {
            error(node, path, "expected a mapping, found \(Self.describe(node))")
            return nil
        }
        var out: [String: (key: Node, value: Node)] = [:]
        for (k, v) in m {
            guard let name = k.string else { error(k, path, "keys must be strings"); continue }
            let keyPath = path.isEmpty ? name : "\(path).\(name)"
            if !allowed.contains(name) {
                if let s = Suggest.closest(to: name, in: allowed) {
                    error(k, keyPath, "unknown key; did you mean '\(s)'?")
                } else {
                    error(k, keyPath, "unknown key; expected one of: \(allowed.joined(separator: ", "))")
                }
                continue
            }
            out[name] = (k, v)
        }
        return out
    }

    func required(_ m: [String: (key: Node, value: Node)], _ key: String, _ path: String, in node: Node) -> Node? {
        if let v = m[key]?.value { return v }
        error(node, join(path, key), "missing required key")
        return nil
    }

    func join(_ path: String, _ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    func string(_ node: Node, _ path: String) -> String? {
        guard case .scalar(let s) = node else {
            error(node, path, "expected a string, found \(Self.describe(node))")
            return nil
        }
        return s.string
    }

    func int(_ node: Node, _ path: String, in range: ClosedRange<Int>? = nil) -> Int? {
        guard case .scalar = node, let v = node.int else {
            error(node, path, "expected an integer, found \(Self.describe(node))")
            return nil
        }
        if let range, !range.contains(v) {
            error(node, path, "expected an integer from \(range.lowerBound) to \(range.upperBound), found \(v)")
            return nil
        }
        return v
    }

    func double(_ node: Node, _ path: String) -> Double? {
        guard case .scalar = node, let v = node.float ?? node.int.map(Double.init), v.isFinite else {
            error(node, path, "expected a number, found \(Self.describe(node))")
            return nil
        }
        return v
    }

    func bool(_ node: Node, _ path: String) -> Bool? {
        guard case .scalar = node, let v = node.bool else {
            error(node, path, "expected true or false, found \(Self.describe(node))")
            return nil
        }
        return v
    }

    func choice<T: RawRepresentable & CaseIterable>(_ node: Node, _ path: String, _: T.Type) -> T? where T.RawValue == String {
        guard let s = string(node, path) else { return nil }
        if let v = T(rawValue: s) { return v }
        let names = T.allCases.map(\.rawValue)
        let hint = Suggest.closest(to: s, in: names).map { "; did you mean '\($0)'?" } ?? ""
        error(node, path, "expected one of \(names.joined(separator: ", ")), found '\(s)'\(hint)")
        return nil
    }

    /// Durations are written with a unit: `250ms`, `10s`, `5m`, `1h`.
    func durationMs(_ node: Node, _ path: String) -> Int64? {
        guard let s = string(node, path) else { return nil }
        let units: [(String, Int64)] = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000)]
        for (u, mult) in units where s.hasSuffix(u) {
            let num = s.dropLast(u.count).trimmingPrefix(" ")
            if let v = Double(num.trimmingSuffix(" ")), v >= 0 {
                // at most 100 years: in nanoseconds, added to today's time, it still fits Int64
                guard v * Double(mult) <= 3_153_600_000_000 else {
                    error(node, path, "expected a duration of at most 100 years, found '\(s)'")
                    return nil
                }
                return Int64((v * Double(mult)).rounded())
            }
        }
        error(node, path, "expected a duration such as 500ms, 10s, 5m or 1h, found '\(s)'")
        return nil
    }

    /// Sizes: a byte count or `64KiB`, `64MiB`, `1GiB` (also KB/MB/GB as powers of 1000).
    func bytes(_ node: Node, _ path: String) -> Int64? {
        if let v = node.int, v > 0 { return Int64(v) }
        guard let s = string(node, path) else { return nil }
        let units: [(String, Int64)] = [("KiB", 1 << 10), ("MiB", 1 << 20), ("GiB", 1 << 30), ("KB", 1000),
                                        ("MB", 1_000_000), ("GB", 1_000_000_000), ("B", 1)]
        for (u, mult) in units where s.hasSuffix(u) {
            if let v = Double(s.dropLast(u.count).trimmingSuffix(" ")), v > 0 { return Int64(v * Double(mult)) }
        }
        error(node, path, "expected a size such as 64MiB or 1GiB, found '\(s)'")
        return nil
    }
}

extension Substring {
    func trimmingSuffix(_ c: Character) -> Substring {
        var s = self
        while s.last == c { s = s.dropLast() }
        return s
    }
}

extension StringProtocol {
    func trimmingPrefix(_ c: Character) -> SubSequence {
        var s = self[...]
        while s.first == c { s = s.dropFirst() }
        return s
    }
}
