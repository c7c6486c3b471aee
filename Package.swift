// swift-tools-version: 6.1
import PackageDescription

// Modules are split by how heavy their dependencies are, and the folders follow the data:
//  - Pure Swift, no C library: DewpointCore (the model, the `Source` protocol, threads), DewpointSignal
//    (kernels, detectors), DewpointDecode (framers, decoders), DewpointPipeline (windows, records, the
//    `Sink` protocol, replay).
//  - DewpointConfig: YAML (libyaml, through CYAML) → the typed model of DewpointCore.
//  - Sources/sources/: the inputs, one folder each, each with its C library behind a system-library
//    target: mqtt (DewpointMQTT: CMosquitto, plus CMosquittoShim: the read buffer and gathered writes
//    under libmosquitto; also the client the upstream sink uses), serial (DewpointSerial:
//    CSerialShim), capture (DewpointCapture: CPcap), socket (DewpointSocket: UDP and TCP listeners).
//  - Sources/sinks/: the outputs: spool (DewpointSpool: CSQLite) and upstream (DewpointUpstream: the
//    forwarder and the spool-plus-MQTT sink).
//  - DewpointAgent: the wiring of `dewpoint run`, and the table of source kinds (`SourceTable`).
//  - dewpoint: the thin command-line executable.
let strict: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
]

// Code generation for the wide kernels (`DewpointSignalAVX512`), for an x86_64 target only. The
// manifest runs on the building machine, which a cross-compile does not target: there
// DEWPOINT_TARGET_ARCH names the target (scripts/arm64.sh sets it), and without it the building
// machine's architecture is taken.
#if arch(x86_64)
let buildsOnX86 = true
#else
let buildsOnX86 = false
#endif
let targetsX86 = Context.environment["DEWPOINT_TARGET_ARCH"].map { $0 == "x86_64" } ?? buildsOnX86
let avx512: [SwiftSetting] = targetsX86 ? [.unsafeFlags(["-target-cpu", "skylake-avx512"])] : []
let avx2: [SwiftSetting] = targetsX86 ? [.unsafeFlags(["-target-cpu", "haswell"])] : []

// The per-message and per-sample modules run their release builds without dynamic exclusivity
// checks: they are classes' stored properties touched in hot loops (a pipeline, its devices and
// their windows), and the checks (swift_beginAccess) cost 11 % of `dewpoint replay`'s time
// (1.35 M → 1.52 M messages/s without them). Static exclusivity checking stays on, and debug
// builds, which the tests run, keep the dynamic checks, so a real violation still traps there.
let hotPath: [SwiftSetting] = [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]

let log: Target.Dependency = .product(name: "Logging", package: "swift-log")

let package = Package(
    name: "dewpoint",
    products: [
        .executable(name: "dewpoint", targets: ["dewpoint"]),
        // for the fuzz targets in Fuzz/
        .library(name: "DewpointDecode", targets: ["DewpointDecode"]),
        .library(name: "DewpointConfig", targets: ["DewpointConfig"]),
        .library(name: "DewpointCore", targets: ["DewpointCore"]),
        .library(name: "DewpointSparkplug", targets: ["DewpointSparkplug"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        // without its default traits: BinaryDelimitedStreams imports Foundation, which links ICU (+30 MB)
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0", traits: []),
    ],
    targets: [
        .target(name: "DewpointCore", dependencies: [.product(name: "Logging", package: "swift-log")], swiftSettings: strict),
        .target(name: "DewpointSignal", dependencies: ["DewpointCore", "DewpointSignalAVX512", "DewpointSignalAVX2"], swiftSettings: strict + hotPath),
        // the FIR kernel again, compiled for AVX-512 and for AVX2 (one source file, linked);
        // DewpointSignal calls one only where the CPU has its features
        .target(name: "DewpointSignalAVX512", swiftSettings: strict + avx512 + [.define("FIR_STEP_128")]),
        .target(name: "DewpointSignalAVX2", swiftSettings: strict + avx2),
        .target(name: "DewpointDecode", dependencies: ["DewpointCore"], swiftSettings: strict + hotPath),
        .target(name: "DewpointConfig",
                dependencies: ["CYAML", "DewpointCore", "DewpointDecode", .product(name: "Logging", package: "swift-log")],
                swiftSettings: strict),
        .systemLibrary(name: "CMosquitto", pkgConfig: "libmosquitto",
                       providers: [.apt(["libmosquitto-dev"])]),
        .systemLibrary(name: "CYAML", pkgConfig: "yaml-0.1", providers: [.apt(["libyaml-dev"])]),
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        .target(name: "CMosquittoShim"),
        .target(name: "DewpointMQTT", dependencies: ["CMosquitto", "CMosquittoShim", "DewpointCore", log], path: "Sources/sources/mqtt",
                exclude: ["README.md"], swiftSettings: strict),
        .target(name: "CSerialShim"),
        .target(name: "DewpointSerial", dependencies: ["CSerialShim", "DewpointCore", "DewpointDecode", log], path: "Sources/sources/serial",
                exclude: ["README.md"], swiftSettings: strict),
        .systemLibrary(name: "CPcap", pkgConfig: "libpcap", providers: [.apt(["libpcap-dev"])]),
        .target(name: "DewpointCapture", dependencies: ["CPcap", "DewpointCore", "DewpointDecode", "DewpointPipeline", log],
                path: "Sources/sources/capture", exclude: ["README.md"], swiftSettings: strict),
        .target(name: "DewpointSocket", dependencies: ["DewpointCore", "DewpointDecode", log], path: "Sources/sources/socket",
                exclude: ["README.md"], swiftSettings: strict),
        .target(name: "DewpointSpool", dependencies: ["CSQLite", "DewpointCore", "DewpointPipeline"], path: "Sources/sinks/spool",
                exclude: ["README.md"], swiftSettings: strict),
        .target(name: "DewpointUpstream", dependencies: ["DewpointCore", "DewpointPipeline", "DewpointMQTT", "DewpointSpool", "DewpointSparkplug", log],
                path: "Sources/sinks/upstream", exclude: ["README.md"], swiftSettings: strict),
        // Sparkplug B encoding: the payload code is generated from sparkplug_b.proto by
        // scripts/gen-sparkplug.sh and committed (the build does not run protoc)
        .target(name: "DewpointSparkplug", dependencies: ["DewpointCore", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
                path: "Sources/sinks/sparkplug", exclude: ["README.md", "sparkplug_b.proto"], swiftSettings: strict),
        .target(name: "DewpointAgent",
                dependencies: ["DewpointCore", "DewpointConfig", "DewpointPipeline", "DewpointMQTT", "DewpointSerial", "DewpointCapture",
                               "DewpointSocket", "DewpointSpool", "DewpointUpstream", log,
                               .product(name: "CoreMetrics", package: "swift-metrics"),
                               .product(name: "Prometheus", package: "swift-prometheus")],
                swiftSettings: strict),
        .target(name: "DewpointPipeline",
                dependencies: ["DewpointCore", "DewpointSignal", "DewpointDecode", log],
                swiftSettings: strict + hotPath),
        .executableTarget(name: "dewpoint",
                          dependencies: ["DewpointCore", "DewpointConfig", "DewpointPipeline", "DewpointDecode",
                                         "DewpointMQTT", "DewpointSerial", "DewpointSpool", "DewpointAgent", "DewpointCapture", "DewpointSparkplug",
                                         log,
                                         .product(name: "ArgumentParser", package: "swift-argument-parser")],
                          swiftSettings: strict),
        .testTarget(name: "DewpointDecodeTests", dependencies: ["DewpointDecode", "DewpointCore"], swiftSettings: strict),
        .testTarget(name: "DewpointSignalTests", dependencies: ["DewpointSignal", "DewpointCore"], exclude: ["golden"], swiftSettings: strict),
        .testTarget(name: "DewpointConfigTests", dependencies: ["DewpointConfig", "DewpointCore"],
                    exclude: ["broken"], swiftSettings: strict),
        .testTarget(name: "DewpointPipelineTests",
                    dependencies: ["DewpointPipeline", "DewpointConfig", "DewpointCore", "DewpointDecode", "DewpointTestSupport"],
                    swiftSettings: strict),
        .testTarget(name: "DewpointSerialTests",
                    dependencies: ["DewpointSerial", "DewpointAgent", "DewpointPipeline", "DewpointDecode", "DewpointCore"],
                    swiftSettings: strict),
        .testTarget(name: "DewpointCaptureTests",
                    dependencies: ["DewpointCapture", "DewpointPipeline", "DewpointDecode", "DewpointCore", "DewpointTestSupport"], swiftSettings: strict),
        // a private broker, free ports and scratch folders, for the test targets that need them
        .target(name: "DewpointTestSupport", dependencies: [log], path: "Tests/Support", swiftSettings: strict),
        .testTarget(name: "DewpointMQTTTests",
                    dependencies: ["DewpointMQTT", "CMosquittoShim", "DewpointCore", "DewpointTestSupport"],
                    swiftSettings: strict),
        .testTarget(name: "DewpointSpoolTests", dependencies: ["DewpointSpool", "DewpointUpstream", "DewpointPipeline", "DewpointCore", "DewpointTestSupport"],
                    swiftSettings: strict),
        .testTarget(name: "DewpointSocketTests",
                    dependencies: ["DewpointSocket", "DewpointAgent", "DewpointConfig", "DewpointPipeline", "DewpointCore", "DewpointTestSupport", log],
                    swiftSettings: strict),
        .testTarget(name: "DewpointSparkplugTests", dependencies: ["DewpointSparkplug", "DewpointCore"], swiftSettings: strict),
        .testTarget(name: "DewpointAgentTests",
                    dependencies: ["DewpointAgent", "DewpointMQTT", "DewpointSpool", "DewpointPipeline", "DewpointCore", "DewpointSerial",
                                   "DewpointTestSupport"],
                    swiftSettings: strict),
    ]
)
