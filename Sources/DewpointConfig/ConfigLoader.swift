import DewpointCore
#if canImport(Glibc)
import Glibc
#endif

/// A validated configuration: the agent and all its device bindings.
public struct LoadedConfig: Sendable {
    public var agent: AgentSpec
    public var bindings: [BindingSpec]
    /// The agent file's path, and the resolved devices folder.
    public var agentFile: String
    public var devicesDir: String
}

/// Loads and validates `dewpoint.yaml` and every binding in its devices folder, collecting every
/// problem rather than stopping at the first.
public enum ConfigLoader {
    public static func load(agentFile: String) throws(ConfigErrors) -> LoadedConfig {
        var diags: [ConfigDiagnostic] = []
        guard let (root, _) = compose(agentFile, &diags) else { throw ConfigErrors(diags) }
        let r = YAMLReader(file: agentFile)
        let agent = AgentLoader.load(root, reader: r)
        diags += r.diagnostics
        let base = agentFile.contains("/") ? String(agentFile[..<agentFile.lastIndex(of: "/")!]) : ""
        let dirName = agent?.devicesDir ?? "devices"
        let dir = dirName.hasPrefix("/") ? dirName : (base.isEmpty ? dirName : base + "/" + dirName)
        var bindings: [BindingSpec] = []
        var files: [String] = []
        if let names = FileSystem.list(dir) {
            files = names.filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }.sorted().map { dir + "/" + $0 }
        } else {
            diags.append(ConfigDiagnostic(file: agentFile, line: 1, column: 1, key: "devices",
                                          message: "cannot read the devices folder '\(dir)'"))
        }
        if files.isEmpty && diags.isEmpty {
            diags.append(ConfigDiagnostic(file: agentFile, line: 1, column: 1, key: "devices",
                                          message: "no device bindings (*.yaml) found in '\(dir)'"))
        }
        let defaults = agent?.defaultWindow ?? WindowSpec()
        var nodes: [String: Node] = [:]
        for f in files {
            do {
                let (b, root) = try loadBinding(file: f, defaults: defaults)
                bindings.append(b)
                nodes[f] = root
            } catch {
                diags += error.diagnostics
            }
        }
        diags += crossCheck(bindings, nodes)
        guard diags.isEmpty, let agent else { throw ConfigErrors(diags) }
        return LoadedConfig(agent: agent, bindings: bindings, agentFile: agentFile, devicesDir: dir)
    }

    /// Loads one binding file on its own (`dewpoint try`).
    public static func loadBinding(file: String, defaults: WindowSpec = WindowSpec()) throws(ConfigErrors) -> (BindingSpec, Node) {
        var diags: [ConfigDiagnostic] = []
        guard let (root, _) = compose(file, &diags) else { throw ConfigErrors(diags) }
        let r = YAMLReader(file: file)
        let b = BindingLoader.load(root, reader: r, defaults: defaults)
        guard let b, r.diagnostics.isEmpty else { throw ConfigErrors(r.diagnostics) }
        return (b, root)
    }

    static func compose(_ file: String, _ diags: inout [ConfigDiagnostic]) -> (Node, String)? {
        guard let data = FileSystem.read(file) else {
            diags.append(ConfigDiagnostic(file: file, line: 1, column: 1, key: "", message: "cannot read the file"))
            return nil
        }
        guard let text = String(validating: data, as: UTF8.self) else {
            diags.append(ConfigDiagnostic(file: file, line: 1, column: 1, key: "", message: "the file is not UTF-8 text"))
            return nil
        }
        do {
            guard let node = try YAMLDocument.compose(text) else {
                diags.append(ConfigDiagnostic(file: file, line: 1, column: 1, key: "", message: "the file is empty"))
                return nil
            }
            return (node, text)
        } catch {
            diags.append(ConfigDiagnostic(file: file, line: error.mark.line, column: error.mark.column, key: "", message: "invalid YAML: \(error.message)"))
            return nil
        }
    }

    /// Checks across files: unique device names and topic filters that no two bindings share.
    static func crossCheck(_ bindings: [BindingSpec], _ nodes: [String: Node]) -> [ConfigDiagnostic] {
        var diags: [ConfigDiagnostic] = []
        func at(_ b: BindingSpec, _ key: String) -> (Int, Int) {
            guard let root = nodes[b.file], case .mapping(let m) = root else { return (1, 1) }
            var node: Node? = m[key]
            if key == "mqtt.topic" { node = m["mqtt"]?.mapping?["topic"] }
            if key == "udp.listen" || key == "tcp.listen" { node = m[String(key.prefix(3))]?.mapping?["listen"] }
            if key == "device" { node = m["device"] }
            return (node?.mark.line ?? 1, node?.mark.column ?? 1)
        }
        var seen: [String: BindingSpec] = [:]
        for b in bindings {
            if let prev = seen[b.name] {
                let (l, c) = at(b, "device")
                diags.append(ConfigDiagnostic(file: b.file, line: l, column: c, key: "device",
                                              message: "duplicate device '\(b.name)', already defined in \(prev.file)"))
            } else {
                seen[b.name] = b
            }
        }
        for i in bindings.indices {
            guard case .mqtt(let a) = bindings[i].transport else { continue }
            for j in bindings.indices where j < i {
                guard case .mqtt(let b) = bindings[j].transport else { continue }
                if a.topic.overlaps(b.topic) {
                    let (l, c) = at(bindings[i], "mqtt.topic")
                    diags.append(ConfigDiagnostic(file: bindings[i].file, line: l, column: c, key: "mqtt.topic",
                                                  message: "topic filter '\(a.topic)' overlaps '\(b.topic)' of device '\(bindings[j].name)' (\(bindings[j].file)); a message must belong to one binding"))
                }
            }
        }
        // two listeners cannot bind one port of one protocol
        var ports: [String: BindingSpec] = [:]
        for b in bindings {
            let key: String
            switch b.transport {
            case .udp(let l): key = "udp \(l.port)"
            case .tcp(let l): key = "tcp \(l.port)"
            default: continue
            }
            if let prev = ports[key] {
                let kind = b.transport.kindName
                let (l, c) = at(b, "\(kind).listen")
                diags.append(ConfigDiagnostic(file: b.file, line: l, column: c, key: "\(kind).listen",
                                              message: "\(key) is already the port of device '\(prev.name)' (\(prev.file)); each listener needs a port of its own"))
            } else {
                ports[key] = b
            }
        }
        return diags
    }
}

/// File access for the loader through libc: config loading is the only place Foundation would
/// be used, and leaving it out keeps it from adding megabytes of resident memory.
enum FileSystem {
    static func read(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buf.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 { if errno == EINTR { continue }; return nil }
            if n == 0 { return out }
            out.append(contentsOf: buf[0..<n])
        }
    }

    static func list(_ dir: String) -> [String]? {
        guard let d = opendir(dir) else { return nil }
        defer { closedir(d) }
        var names: [String] = []
        while let e = readdir(d) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }
}
