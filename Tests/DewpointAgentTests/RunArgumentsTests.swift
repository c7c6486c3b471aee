import DewpointAgent
import DewpointTestSupport
import Foundation
import Testing

/// `dewpoint run`'s own reading of its options: it takes only what ArgumentParser would accept
/// with the same meaning, and leaves everything else to ArgumentParser.
struct RunArgumentsTests {
    @Test func theOptionsOfRunInEachSpelling() {
        #expect(RunArguments.parse(["run"]) == RunArguments())
        #expect(RunArguments.parse(["run", "--config", "a.yaml"]) == RunArguments(config: "a.yaml"))
        #expect(RunArguments.parse(["run", "-c", "a.yaml"]) == RunArguments(config: "a.yaml"))
        #expect(RunArguments.parse(["run", "--config=a.yaml"]) == RunArguments(config: "a.yaml"))
        #expect(RunArguments.parse(["run", "--drain-timeout", "2.5", "--log-level=debug", "-c", "/etc/dewpoint/dewpoint.yaml"])
                == RunArguments(config: "/etc/dewpoint/dewpoint.yaml", drainTimeout: 2.5, logLevel: "debug"))
        #expect(RunArguments.parse(["run", "--log-level", "trace"]) == RunArguments(logLevel: "trace"))
    }

    @Test(arguments: [
        ["check"], [], ["--help"], ["run", "--help"], ["run", "-h"], ["run", "--version"],
        ["run", "--bogus"], ["run", "extra"], ["run", "--"],
        ["run", "--config"],                       // no value
        ["run", "--config", "--log-level", "info"], // an option where the value should be
        ["run", "-c", "a", "--config", "b"],       // repeated, in two spellings
        ["run", "--drain-timeout", "soon"], ["run", "--log-level", "loud"], ["run", "--log-level=INFO"],
        ["run", "-c=a.yaml"], ["run", "-ca.yaml"],
    ])
    func everythingElseGoesToArgumentParser(_ args: [String]) {
        #expect(RunArguments.parse(args) == nil, "\(args)")
    }

    /// Through the binary: what the direct path refuses, ArgumentParser answers as before.
    @Test func refusedCommandLinesGetArgumentParsersAnswers() throws {
        func dewpoint(_ args: [String]) throws -> (Int32, String) { try runCapturing(AgentProcess.binary, args) }
        let (bogus, bogusText) = try dewpoint(["run", "--bogus"])
        #expect(bogus == 64 && bogusText.contains("Unknown option '--bogus'"), "\(bogus): \(bogusText)")
        let (level, levelText) = try dewpoint(["run", "--log-level", "loud"])
        #expect(level != 0 && levelText.contains("--log-level must be one of"), "\(level): \(levelText)")
        let (help, helpText) = try dewpoint(["run", "--help"])
        #expect(help == 0 && helpText.contains("--drain-timeout"), "\(help): \(helpText)")
        // the direct path: a missing agent file is the configuration loader's error, exit 1
        let (missing, missingText) = try dewpoint(["run", "-c", "/nonexistent/dewpoint.yaml"])
        #expect(missing == 1 && missingText.contains("/nonexistent/dewpoint.yaml:1:1"), "\(missing): \(missingText)")
    }
}
