import Foundation
import TestSupport
import Testing

/// The chart's opt-in alerts (a PrometheusRule) and Grafana dashboard: the rules pass
/// Debian's `promtool check rules`, and every metric they or the dashboard query is on a
/// running agent's `/metrics`.
@Suite("Helm chart alerts and dashboard")
struct ChartMonitoringTests {
    let chart = HelmChart()
    static var values: [String: Any] { ["metrics": ["prometheusRule": ["enabled": true], "dashboard": ["enabled": true]]] }
    /// scripts/promtool.sh unpacks it there.
    static let promtool = (ProcessInfo.processInfo.environment["PEERPULL_PROMETHEUS_DIR"] ?? "/var/cache/peerpull/prometheus") + "/usr/bin/promtool"

    /// The queries of the rules and of the dashboard's panels.
    func queries() async throws -> (rules: [String: Any], alerts: Int, expressions: [String]) {
        let objects = try await chart.objects(Self.values)
        let rule = try #require(objects.first { $0["kind"] as? String == "PrometheusRule" })
        let spec = try #require(rule["spec"] as? [String: Any])
        var expressions: [String] = []
        for group in spec["groups"] as? [[String: Any]] ?? [] {
            for r in group["rules"] as? [[String: Any]] ?? [] { if let e = r["expr"] as? String { expressions.append(e) } }
        }
        let alerts = expressions.count
        let map = try #require(objects.first { $0["kind"] as? String == "ConfigMap" && ($0["data"] as? [String: String])?["peerpull.json"] != nil })
        let json = try #require((map["data"] as? [String: String])?["peerpull.json"])
        let dashboard = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        for panel in dashboard["panels"] as? [[String: Any]] ?? [] {
            for t in panel["targets"] as? [[String: Any]] ?? [] { if let e = t["expr"] as? String { expressions.append(e) } }
        }
        return (spec, alerts, expressions)
    }

    @Test func theRulesPassPromtool() async throws {
        let (rules, alerts, _) = try await queries()
        #expect(alerts > 0)
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        // JSON is YAML: promtool reads the rule groups as the operator hands them to Prometheus.
        try JSONSerialization.data(withJSONObject: rules, options: [.withoutEscapingSlashes]).write(to: URL(fileURLWithPath: dir.file("rules.yaml")))
        let check = try await Command.run([Self.promtool, "check", "rules", dir.file("rules.yaml")], check: false)
        #expect(check.status == 0, "\(check.stdout) \(check.stderr)")
        #expect(check.stdout.contains("SUCCESS: \(alerts) rules found"), "\(check.stdout)")
    }

    @Test func everyMetricQueriedIsOnARunningAgent() async throws {
        let (_, _, expressions) = try await queries()
        var queried = Set<String>()
        for e in expressions {
            for m in e.matches(of: #/peerpull_[a-z_]+/#) { queried.insert(String(m.output)) }
        }
        #expect(queried.count >= 10, "\(queried)")
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let port = try LoopbackPort.free()
        let agent = try BackgroundProcess([TestImages.peerpullBinary, "agent", "--listen", "127.0.0.1", "--port", String(port),
                                           "--plain-http-origin", "127.0.0.1:9", "--data-dir", dir.file("data")], logPath: dir.file("agent.log"))
        defer { Task { await agent.stop() } }
        var exposition = ""
        try await agent.waitUntil(timeout: .seconds(30)) {
            exposition = (try? await Command.run(["curl", "-sf", "http://127.0.0.1:\(port)/metrics"], check: false).stdout) ?? ""
            return !exposition.isEmpty
        }
        await agent.stop()
        // Names as exposed: a histogram's series add _bucket, _sum and _count to its name.
        var exposed = Set<String>()
        for line in exposition.split(separator: "\n") where line.hasPrefix("# TYPE ") {
            let parts = line.split(separator: " ")
            guard parts.count >= 4 else { continue }
            let name = String(parts[2])
            exposed.insert(name)
            if parts[3] == "histogram" { for s in ["_bucket", "_sum", "_count"] { exposed.insert(name + s) } }
        }
        for name in queried.sorted() {
            #expect(exposed.contains(name), "the alerts or the dashboard query \(name), which the agent does not expose")
        }
    }
}
