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
    /// Problems that do not stop a run; `check` prints them and `run` logs them.
    public var warnings: [ConfigDiagnostic] = []
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
        // an agent with no devices runs (the installed default): it reads nothing until one is added
        var warnings: [ConfigDiagnostic] = []
        if files.isEmpty && diags.isEmpty {
            warnings.append(ConfigDiagnostic(file: agentFile, line: 1, column: 1, key: "devices",
                                             message: "warning: no device bindings (*.yaml) in '\(dir)'; the agent reads nothing until one is added"))
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
        return LoadedConfig(agent: agent, bindings: bindings, agentFile: agentFile, devicesDir: dir,
                            warnings: warnings + r.warnings + absentHardware(bindings, nodes))
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
        let data: [UInt8]
        switch FileSystem.read(file) {
        case .success(let bytes):
            data = bytes
        case .failure(let problem):
            diags.append(ConfigDiagnostic(file: file, line: 1, column: 1, key: "", message: problem.message))
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
    /// Serial ports and capture interfaces that are not there now: warnings only, as they may be
    /// plugged in later (the agent opens them when they appear).
    static func absentHardware(_ bindings: [BindingSpec], _ nodes: [String: Node]) -> [ConfigDiagnostic] {
        var out: [ConfigDiagnostic] = []
        for b in bindings {
            var key = "", message = ""
            switch b.transport {
            case .serial(let s) where access(s.port, F_OK) != 0:
                key = "serial.port"; message = "warning: \(s.port) is not present now; the agent will keep trying to open it"
            case .capture(let c) where c.interface.map({ access("/sys/class/net/\($0)", F_OK) != 0 }) ?? false:
                key = "capture.interface"; message = "warning: no interface \(c.interface!) now; the agent will keep trying to open it"
            default: continue
            }
            var node: Node? = nil
            if let root = nodes[b.file], case .mapping(let m) = root {
                let parts = key.split(separator: ".")
                node = m[String(parts[0])]?.mapping?[String(parts[1])]
            }
            out.append(ConfigDiagnostic(file: b.file, line: node?.mark.line ?? 1, column: node?.mark.column ?? 1, key: key, message: message))
        }
        return out
    }

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
    /// The most a config file may hold: the largest real one is a few KiB.
    static let maxFileBytes = 1 << 20

    /// Why a file was not read.
    enum ReadError: Error, Equatable {
        /// open, fstat or read failed with this errno.
        case failed(operation: String, errno: Int32)
        /// Not a regular file (after following symlinks): a device, a FIFO, a socket or a folder.
        case notRegular(kind: String)
        /// Larger than the limit: its size as fstat gives it, or nil when it grew while read.
        case tooLarge(size: Int?, limit: Int)

        var message: String {
            switch self {
            case .failed(let operation, let e):
                return "cannot read the file (\(operation): \(String(cString: strerror(e))))"
            case .notRegular(let kind):
                return "cannot read the file: it is \(kind), not a regular file"
            case .tooLarge(let size, let limit):
                let held = size.map { "\($0) bytes" } ?? "more than \(limit) bytes"
                return "the file is too large (\(held)); a config file may hold at most \(FileSystem.describe(limit))"
            }
        }
    }

    static func describe(_ bytes: Int) -> String {
        bytes % (1 << 20) == 0 ? "\(bytes >> 20) MiB" : bytes % (1 << 10) == 0 ? "\(bytes >> 10) KiB" : "\(bytes) bytes"
    }

    /// What a non-regular file is, for the message ("a character device").
    static func kind(_ mode: mode_t) -> String? {
        switch mode & S_IFMT {
        case S_IFREG: nil
        case S_IFDIR: "a folder"
        case S_IFCHR: "a character device"
        case S_IFBLK: "a block device"
        case S_IFIFO: "a FIFO"
        case S_IFSOCK: "a socket"
        default: "not a file"
        }
    }

    /// The bytes of the regular file `path` (symlinks are followed), at most `limit` of them.
    ///
    /// A device, FIFO, socket or folder is refused before it is opened (opening some devices has
    /// effects, and opening a FIFO waits for a writer), and again by fstat on the descriptor, which
    /// is opened non-blocking in case the path was swapped in between. A file larger than `limit`
    /// is refused from its fstat size, and the reads stop after `limit + 1` bytes in case it grows.
    static func read(_ path: String, limit: Int = maxFileBytes) -> Result<[UInt8], ReadError> {
        var st = stat()
        guard stat(path, &st) == 0 else { return .failure(.failed(operation: "stat", errno: errno)) }
        if let k = kind(st.st_mode) { return .failure(.notRegular(kind: k)) }
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)
        guard fd >= 0 else { return .failure(.failed(operation: "open", errno: errno)) }
        defer { close(fd) }
        guard fstat(fd, &st) == 0 else { return .failure(.failed(operation: "fstat", errno: errno)) }
        if let k = kind(st.st_mode) { return .failure(.notRegular(kind: k)) }
        if Int(st.st_size) > limit { return .failure(.tooLarge(size: Int(st.st_size), limit: limit)) }
        var out: [UInt8] = []
        out.reserveCapacity(Swift.min(Int(st.st_size), limit) + 1)
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            // never more than limit + 1 bytes in all: one past the limit tells that it is exceeded
            let want = Swift.min(buf.count, limit + 1 - out.count)
            let n = buf.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, want) }
            if n < 0 {
                let e = errno
                if e == EINTR { continue }
                return .failure(.failed(operation: "read", errno: e))
            }
            if n == 0 { return .success(out) }
            out.append(contentsOf: buf[0..<n])
            if out.count > limit { return .failure(.tooLarge(size: nil, limit: limit)) }
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
