#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The few JSON reads the upstream formats need outside the hot path (FoundationEssentials'
/// decoder: records are read here once per announcement, not per sample).
enum UpstreamRecordHead {
    private struct Head: Decodable { var device: String }

    /// A record's `device`.
    static func device(_ bytes: [UInt8]) -> String? {
        try? JSONDecoder().decode(Head.self, from: Data(bytes)).device
    }

    struct Announcement: Decodable {
        var device: String
        var binding: String
        var topics: [String]
    }
    private struct File: Decodable {
        var v: Int
        var devices: [Announcement]
    }

    /// `homeassistant.json`'s devices (none if it is damaged: nothing is removed then).
    static func announcements(_ bytes: [UInt8]) -> [Announcement] {
        guard let f = try? JSONDecoder().decode(File.self, from: Data(bytes)), f.v == 1 else { return [] }
        return f.devices
    }
}
