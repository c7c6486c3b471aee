import ArgumentParser
import DewpointAgent
import DewpointConfig
import DewpointCore

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Validate the agent file and every device binding.",
        discussion: """
        Exits 0 and prints one line per device when everything is valid. Otherwise prints every \
        problem as file:line:column: key: what was expected and what was found, and exits 1.
        """)

    @OptionGroup var options: ConfigOptions

    func run() throws {
        let cfg: LoadedConfig
        do { cfg = try ConfigLoader.load(agentFile: options.config) } catch {
            for d in error.diagnostics { printError("\(d)") }
            printError("\(error.diagnostics.count) problem\(error.diagnostics.count == 1 ? "" : "s") found")
            throw ExitCode(1)
        }
        for w in cfg.warnings { printError("\(w)") }
        print("agent \(cfg.agent.agentId): \(cfg.bindings.count) device\(cfg.bindings.count == 1 ? "" : "s") in \(cfg.devicesDir)")
        for b in cfg.bindings { print(Check.summary(b)) }
    }

    static func duration(_ ms: Int64) -> String {
        if ms % 3_600_000 == 0 { return "\(ms / 3_600_000)h" }
        if ms % 60_000 == 0 { return "\(ms / 60_000)m" }
        if ms % 1000 == 0 { return "\(ms / 1000)s" }
        return "\(ms)ms"
    }

    static func summary(_ b: BindingSpec) -> String {
        let source = SourceTable.kind(of: b).describe(b)
        let chans = b.channels.map { $0.unit.isEmpty ? $0.name : "\($0.name) \($0.unit)" }.joined(separator: ", ")
        return "  \(b.name): \(source), \(b.decoder.kindName), \(b.channels.count) channel\(b.channels.count == 1 ? "" : "s") (\(chans)), window \(Check.duration(b.window.lengthMs))"
    }
}
