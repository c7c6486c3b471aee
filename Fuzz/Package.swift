// swift-tools-version: 6.1
import PackageDescription

// libFuzzer targets for the parsers of untrusted bytes. See Fuzz/README.md.
// Build with `-Xswiftc -sanitize=fuzzer,address` (as `make fuzz` does) so that the decoders
// themselves carry coverage and AddressSanitizer instrumentation, not only these targets.
let fuzz: [SwiftSetting] = []
let link: [LinkerSetting] = [.unsafeFlags(["-sanitize=fuzzer,address", "-use-ld=lld"])]

let package = Package(
    name: "dewpoint-fuzz",
    dependencies: [.package(path: "..")],
    targets: [.target(name: "FuzzDriver")] + ["FuzzJSON", "FuzzLineProtocol", "FuzzBinary", "FuzzCSV", "FuzzPacket"].map {
        .executableTarget(name: $0, dependencies: ["FuzzDriver", .product(name: "DewpointDecode", package: "main")],
                          swiftSettings: fuzz, linkerSettings: link)
    }
)
