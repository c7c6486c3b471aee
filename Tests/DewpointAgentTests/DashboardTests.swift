import Foundation
import Testing

/// contrib/grafana/dewpoint.json is a well-formed Grafana dashboard, and every metric its queries
/// name is one the agent exports (read from AgentMetrics.swift), so that renaming a metric without
/// the dashboard fails here rather than as an empty panel.
@Suite struct DashboardTests {
    /// The repository: this file is Tests/DewpointAgentTests/DashboardTests.swift.
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let panelTypes: Set<String> = ["timeseries", "stat", "gauge", "bargauge", "table", "text", "heatmap", "row"]

    static func dashboard() throws -> [String: Any] {
        let data = try Data(contentsOf: root.appendingPathComponent("contrib/grafana/dewpoint.json"))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    /// The names the agent exports: every "dewpoint_…" string literal of AgentMetrics.swift.
    static func exportedNames() throws -> Set<String> {
        let url = root.appendingPathComponent("Sources/DewpointAgent/Metrics/AgentMetrics.swift")
        let text = try String(contentsOf: url, encoding: .utf8)
        return Set(text.matches(of: /"(dewpoint_[a-z_]+)"/).map { String($0.output.1) })
    }

    /// Every query of every panel.
    static func expressions(_ dashboard: [String: Any]) -> [(panel: String, expr: String)] {
        var out: [(panel: String, expr: String)] = []
        for p in dashboard["panels"] as? [[String: Any]] ?? [] {
            for t in p["targets"] as? [[String: Any]] ?? [] {
                if let expr = t["expr"] as? String { out.append((panel: p["title"] as? String ?? "?", expr: expr)) }
            }
        }
        return out
    }

    /// The metric a token of a query names: itself, or for a histogram's series (`_bucket`,
    /// `_sum`, `_count`) the histogram.
    static func metric(_ token: String, in exported: Set<String>) -> String {
        if exported.contains(token) { return token }
        for suffix in ["_bucket", "_sum", "_count"] where token.hasSuffix(suffix) {
            return String(token.dropLast(suffix.count))
        }
        return token
    }

    @Test func dashboardModel() throws {
        let d = try Self.dashboard()
        #expect((d["title"] as? String)?.isEmpty == false)
        #expect((d["uid"] as? String)?.isEmpty == false)
        let schema = try #require(d["schemaVersion"] as? Int)
        #expect(schema >= 36)
        let inputs = d["__inputs"] as? [[String: Any]] ?? []
        #expect(inputs.contains { $0["name"] as? String == "DS_PROMETHEUS" && $0["pluginId"] as? String == "prometheus" })
        let variables = (d["templating"] as? [String: Any])?["list"] as? [[String: Any]] ?? []
        #expect(variables.contains { $0["name"] as? String == "instance" }, "no $instance variable")

        let panels = try #require(d["panels"] as? [[String: Any]])
        #expect(!panels.isEmpty)
        var ids = Set<Int>()
        for p in panels {
            let title = p["title"] as? String ?? ""
            #expect(!title.isEmpty, "a panel without a title: \(String(describing: p["id"]))")
            if let id = p["id"] as? Int {
                #expect(ids.insert(id).inserted, "panel id \(id) is used twice")
            } else {
                Issue.record("\(title): no integer id")
            }
            let type = p["type"] as? String ?? ""
            #expect(Self.panelTypes.contains(type), "\(title): unknown panel type \(type)")
            let grid = p["gridPos"] as? [String: Any] ?? [:]
            for k in ["h", "w", "x", "y"] {
                #expect(grid[k] as? Int != nil, "\(title): gridPos.\(k) is not an integer")
            }
            if let x = grid["x"] as? Int, let w = grid["w"] as? Int, let h = grid["h"] as? Int {
                #expect(x >= 0 && w > 0 && h > 0 && x + w <= 24, "\(title): gridPos outside the 24 columns")
            }
            if type == "row" { continue }
            #expect((p["datasource"] as? [String: Any])?["type"] as? String == "prometheus", "\(title): not a Prometheus panel")
            let targets = p["targets"] as? [[String: Any]] ?? []
            #expect(!targets.isEmpty, "\(title): no targets")
            var refs = Set<String>()
            for t in targets {
                let expr = t["expr"] as? String ?? ""
                #expect(!expr.isEmpty, "\(title): a target without expr")
                if let ref = t["refId"] as? String, !ref.isEmpty {
                    #expect(refs.insert(ref).inserted, "\(title): refId \(ref) twice")
                } else {
                    Issue.record("\(title): a target without refId")
                }
            }
        }
    }

    @Test func dashboardNamesOnlyExportedMetrics() throws {
        let exported = try Self.exportedNames()
        // the reading of AgentMetrics.swift itself works
        #expect(exported.contains("dewpoint_frames_total") && exported.count >= 20, "read only \(exported.sorted())")
        let dashboard = try Self.dashboard()
        var used = Set<String>()
        for (panel, expr) in Self.expressions(dashboard) {
            for m in expr.matches(of: /(dewpoint_[a-z_]+)(\{[^}]*\})?/) {
                let name = Self.metric(String(m.output.1), in: exported)
                used.insert(name)
                #expect(exported.contains(name), "\(panel): \(name) is not exported by the agent")
                let selector = m.output.2.map(String.init) ?? ""
                #expect(selector.contains(#"instance=~"$instance""#), "\(panel): \(m.output.1) is not filtered by $instance")
            }
        }
        for core in ["dewpoint_frames_total", "dewpoint_dropped_total", "dewpoint_spool_records", "dewpoint_alert_commit_latency_seconds"] {
            #expect(used.contains(core), "the dashboard does not show \(core)")
        }
    }
}
