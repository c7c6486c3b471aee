import Logging

/// `dewpoint run` with nothing but the options it knows, read without ArgumentParser.
///
/// Building ArgumentParser's tree of every command (their configurations, each property read
/// through reflection) touched 4.3 MiB of the executable's pages before the agent did anything,
/// and the resident set's high-water mark stayed there. Any other command line (help, an unknown
/// or repeated option, a value that does not parse, `--`) goes to ArgumentParser, which gives its
/// usual help and errors: this path takes only what ArgumentParser would accept as well.
public struct RunArguments: Equatable, Sendable {
    public var config = "dewpoint.yaml"
    public var drainTimeout: Double = 10
    public var logLevel: String? = nil

    public init(config: String = "dewpoint.yaml", drainTimeout: Double = 10, logLevel: String? = nil) {
        self.config = config; self.drainTimeout = drainTimeout; self.logLevel = logLevel
    }

    /// The arguments after the program's name; nil unless they are `run` and valid options of it.
    public static func parse(_ args: [String]) -> RunArguments? {
        guard args.first == "run" else { return nil }
        var r = RunArguments()
        // three flags, not a Set<String>: a generic type's first use makes the runtime scan every
        // conformance record of the executable (0.9 MiB of pages), which start-up pays later anyway
        var seen = (config: false, drainTimeout: false, logLevel: false)
        var i = 1
        while i < args.count {
            var name = args[i]
            var value: String
            if name.hasPrefix("--"), let eq = name.firstIndex(of: "=") {
                value = String(name[name.index(after: eq)...])
                name = String(name[..<eq])
            } else {
                guard i + 1 < args.count else { return nil }
                value = args[i + 1]
                i += 1
                // an option where its value should be: ArgumentParser says what is wrong
                if value.hasPrefix("-") { return nil }
            }
            i += 1
            switch name {
            case "-c", "--config":
                guard !seen.config else { return nil }
                seen.config = true
                r.config = value
            case "--drain-timeout":
                guard !seen.drainTimeout, let d = Double(value) else { return nil }
                seen.drainTimeout = true
                r.drainTimeout = d
            case "--log-level":
                guard !seen.logLevel, Logger.Level(rawValue: value) != nil else { return nil }
                seen.logLevel = true
                r.logLevel = value
            default: return nil
            }
        }
        return r
    }
}
