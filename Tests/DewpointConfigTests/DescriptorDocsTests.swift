import Foundation
import Testing
@testable import DewpointConfig
@testable import DewpointCore

/// The key tables of docs/configuration.md are rendered from the descriptors in
/// Sources/DewpointConfig/Descriptors, and the descriptors cover the model.
@Suite struct DescriptorDocsTests {
    static let docPath = repoRoot.appendingPathComponent("docs/configuration.md").path

    /// Fails when a generated table of the docs differs from the descriptors. To regenerate:
    /// `DEWPOINT_REGENERATE_DOCS=1 swift test --filter DescriptorDocsTests` rewrites the tables.
    @Test func generatedTablesMatchTheDescriptors() throws {
        let doc = try String(contentsOfFile: Self.docPath, encoding: .utf8)
        for family in ConfigReference.Family.allCases {
            #expect(doc.contains("<!-- generated: \(family.rawValue) -->"), "docs/configuration.md has no generated \(family.rawValue) tables")
        }
        let fresh = ConfigReference.replacingGenerated(in: doc)
        if fresh != doc && ProcessInfo.processInfo.environment["DEWPOINT_REGENERATE_DOCS"] == "1" {
            try fresh.write(toFile: Self.docPath, atomically: true, encoding: .utf8)
            return
        }
        let old = doc.split(separator: "\n", omittingEmptySubsequences: false)
        let new = fresh.split(separator: "\n", omittingEmptySubsequences: false)
        let line = zip(old, new).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(old.count, new.count)
        #expect(fresh == doc, """
            docs/configuration.md:\(line + 1): the generated key tables differ from the descriptors in \
            Sources/DewpointConfig/Descriptors. Regenerate them with: DEWPOINT_REGENERATE_DOCS=1 swift test --filter DescriptorDocsTests
            """)
    }

    @Test func everyKindIsInTheDocs() throws {
        let doc = try String(contentsOfFile: Self.docPath, encoding: .utf8)
        let kinds = DetectorDescriptors.all.map(\.kind) + FilterDescriptors.all.map(\.kind) + DecoderDescriptors.all.map(\.kind)
        for k in kinds {
            #expect(doc.contains("| `\(k)` |"), "kind '\(k)' is not in docs/configuration.md")
        }
    }

    @Test func descriptorsCoverTheModel() {
        let decoders: [DecoderSpec] = [.json, .jsonArray(pointer: "/r", maxItems: 1), .csv(separator: 44, quote: 34), .value, .binary,
                                       .lineProtocol(precision: .epochNs), .keyValue(pairSeparator: 32, kvSeparator: 61),
                                       .nmea(sentence: nil, requireChecksum: true), .modbusTCP(unit: 1, function: 3, address: 0)]
        for d in decoders {
            let described = DecoderDescriptors.of(d).map { $0.kind == d.kindName } ?? false
            #expect(described, "no descriptor for decoder \(d.kindName)")
        }
        #expect(Set(decoders.map(\.kindName)) == Set(DecoderDescriptors.all.map(\.kind)))
        for d in DetectorDescriptors.all {
            guard let make = d.fromOptions else { continue }
            #expect(DetectorSpec(kind: make(.defaults)).name == d.kind)
        }
        #expect(Set(DetectorDescriptors.all.map(\.kind)).count == DetectorDescriptors.all.count)
        #expect(Set(FilterDescriptors.all.map(\.kind)).count == FilterDescriptors.all.count)
        #expect(Set(DecoderDescriptors.all.map(\.kind)).count == DecoderDescriptors.all.count)
        for d in DetectorDescriptors.all { #expect(Set(d.acceptedKeys).count == d.acceptedKeys.count, "a key twice in \(d.kind)") }
        for d in FilterDescriptors.all { #expect(Set(d.acceptedKeys).count == d.acceptedKeys.count, "a key twice in \(d.kind)") }
    }

    /// One entry of each detector kind loads, and comes out named as its descriptor.
    @Test func everyDetectorKindLoadsUnderItsName() throws {
        let entries = ["{kind: threshold, above: 1}", "{kind: rate_of_change, max_per_second: 1}", "{kind: stuck, samples: 3}",
                       "{kind: dropout, after: 1s}", "{kind: timestamps}", "{kind: zscore}", "{kind: ewma}", "{kind: mad}",
                       "{kind: cusum}", "{kind: seasonal}", "{kind: novelty}"]
        let yaml = FilterConfigTests.header + "\n    detectors:\n" + entries.map { "      - \($0)" }.joined(separator: "\n")
        let path = try FilterConfigTests.write(yaml, as: "all.yaml")
        let d = try ConfigLoader.loadBinding(file: path).0.channels[0].detectors
        #expect(d.map(\.name) == DetectorDescriptors.all.map(\.kind))
    }
}

/// A key that belongs to another kind of detector, filter or decoder is refused at its position,
/// naming the key and the kind; a key of no kind is still an unknown key.
@Suite struct KeysOfAnotherKindTests {
    @Test func detectorAndFilterKeysOfAnotherKind() throws {
        let t = try FilterConfigTests.errors(of: """
        \(FilterConfigTests.header)
            filters:
              - {kind: ema, alpha: 0.2, taps: 31}
            detectors:
              - {kind: threshold, above: 1, window: 10}
              - {kind: zscore, window: 10, wndow: 3}
        """)
        FilterConfigTests.expect(t, contains: [
            "bad.yaml:8:33: channels[0].filters[0].taps: 'taps' does not apply to an ema filter; its keys are: alpha",
            "bad.yaml:10:37: channels[0].detectors[0].window: 'window' does not apply to a threshold detector; its keys are: above, below, "
                + "severity, min_samples, hysteresis, raise_at, clear_below, min_duration, cooldown, hold",
            "bad.yaml:11:36: channels[0].detectors[1].wndow: unknown key; did you mean 'window'?",
        ])
        #expect(!t.contains("detectors[1].window"), "\(t)")
    }

    @Test func decoderAndChannelKeysOfAnotherDecoder() throws {
        let t = try FilterConfigTests.errors(of: """
        device: a
        transport: file
        decoder: {kind: csv, precision: epoch_s}
        channels:
          - name: v
            column: 0
            pointer: /v
          - name: w
            column: 1
            byte_offset: 0
        """)
        FilterConfigTests.expect(t, contains: [
            "bad.yaml:3:22: decoder.precision: only the lineprotocol decoder takes 'precision'; the csv decoder's keys are: separator, quote, header",
            "bad.yaml:7:5: channels[0].pointer: 'pointer' does not apply to the csv decoder; its channels locate values with: column",
            "bad.yaml:10:5: channels[1].byte_offset: 'byte_offset' does not apply to the csv decoder; its channels locate values with: column",
        ])
    }
}
