// swift-tools-version: 6.1
import PackageDescription

// libFuzzer targets for the parsers of untrusted bytes. See Fuzz/README.md.
// Build with `-Xswiftc -sanitize=fuzzer,address` (as `make fuzz` does) so that the decoders
// themselves carry coverage and AddressSanitizer instrumentation, not only these targets.
let fuzz: [SwiftSetting] = []
let link: [LinkerSetting] = [.unsafeFlags(["-sanitize=fuzzer,address", "-use-ld=lld"])]

// The parent package, `..`, is a local package, and a local package's identity is the name of its
// folder: `main`, `dewpoint` or whatever the checkout is called. It is taken from this package's
// folder (Fuzz), whose parent is the checkout; SwiftPM drops a `.git` ending from the name too.
let parent: String = {
    var name = Context.packageDirectory.split(separator: "/").dropLast().last.map { String($0) } ?? "dewpoint"
    if name.hasSuffix(".git") { name.removeLast(4) }
    return name
}()

func products(_ names: [String]) -> [Target.Dependency] {
    names.map { .product(name: $0, package: parent) }
}

// Each target with the parent's library products it feeds.
let targets: [(name: String, products: [String])] = [
    ("FuzzJSON", ["DewpointDecode"]),
    ("FuzzLineProtocol", ["DewpointDecode"]),
    ("FuzzBinary", ["DewpointDecode"]),
    ("FuzzCSV", ["DewpointDecode"]),
    ("FuzzPacket", ["DewpointDecode"]),
    ("FuzzYAML", ["DewpointConfig"]),
    ("FuzzTopicFilter", ["DewpointCore"]),
    ("FuzzSparkplugCommand", ["DewpointSparkplug"]),
]

let package = Package(
    name: "dewpoint-fuzz",
    dependencies: [.package(path: "..")],
    targets: [.target(name: "FuzzDriver")] + targets.map { t in
        .executableTarget(name: t.name,
                          dependencies: ["FuzzDriver"] + products(t.products),
                          swiftSettings: fuzz, linkerSettings: link)
    }
)
