import Foundation
import TestSupport
import Testing
import Yams

/// The chart against the settings' declarations (`peerpull settings --json`): the chart
/// values they name exist, every flag and `agent.yaml` key the chart renders is declared,
/// and every setting with a chart value reaches the command it belongs to.
@Suite("Helm chart settings match their declarations")
struct ChartSettingsTests {
    let chart = HelmChart()

    /// Values that make the chart render every setting it can set.
    static var everything: [String: Any] { [
        "p2p": ["registryInstances": "r.example.com", "anonymousRegistries": "r.example.com", "originCACert": "-----BEGIN CERTIFICATE-----\nMA==\n-----END CERTIFICATE-----\n"],
        "controller": ["ramRole": "acr-reader", "region": "cn-hangzhou"],
        "webhook": ["certManager": ["enabled": true, "issuerRef": ["name": "ca"]]],
    ] }

    struct Declared {
        var agent: [[String: String]]
        var controller: [[String: String]]

        func of(_ command: String) -> [[String: String]] { command == "agent" ? agent : controller }
    }

    static func declared() async throws -> Declared {
        let r = try await Command.run([TestImages.peerpullBinary, "settings", "--json"])
        let all = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: [[String: String]]])
        return Declared(agent: try #require(all["agent"]), controller: try #require(all["controller"]))
    }

    /// Flags that make a command do something other than read settings.
    static let actions: Set<String> = ["config", "setup-only", "undo-containerd-config", "remove-generated-secrets", "check-config"]

    @Test func everyChartValueNamedByADeclarationIsInValuesYAML() async throws {
        let values = try Yams.load(yaml: String(contentsOfFile: chart.path + "/values.yaml", encoding: .utf8))
        let declared = try await Self.declared()
        for setting in declared.agent + declared.controller {
            guard let path = setting["chartValue"] else { continue }
            #expect(ChartTests.dig(values, path) != nil, "\(setting["name"]!) names chart value \(path), which values.yaml lacks")
        }
    }

    @Test func theChartPassesOnlyDeclaredSettingsAndEveryOneWithAChartValue() async throws {
        let declared = try await Self.declared()
        let objects = try await chart.objects(Self.everything)
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        var passed: [String: Set<String>] = ["agent": [], "controller": []]
        for line in try ChartCommandLineTests.commandLines(objects, root: dir.path) {
            let command = try #require(line.argv.first)
            let flags = Set(declared.of(command).compactMap { $0["flag"] })
            for arg in line.argv.dropFirst() where arg.hasPrefix("--") {
                let flag = String(arg.dropFirst(2).prefix { $0 != "=" })
                #expect(flags.contains(flag) || Self.actions.contains(flag), "\(line.source) passes --\(flag), which no \(command) setting declares")
                if let name = declared.of(command).first(where: { $0["flag"] == flag })?["name"] { passed[command]!.insert(name) }
            }
        }
        let configMap = try #require(objects.first { $0["kind"] as? String == "ConfigMap" && ($0["data"] as? [String: String])?["agent.yaml"] != nil })
        let text = try #require((configMap["data"] as? [String: String])?["agent.yaml"])
        let file = try #require(try Yams.load(yaml: text) as? [String: Any])
        let keys = Set(declared.agent.compactMap { $0["yamlKey"] })
        for key in file.keys {
            #expect(keys.contains(key), "agent.yaml holds \(key), which no agent setting declares")
            if let name = declared.agent.first(where: { $0["yamlKey"] == key })?["name"] { passed["agent"]!.insert(name) }
        }
        for command in ["agent", "controller"] {
            for setting in declared.of(command) where setting["chartValue"] != nil {
                #expect(passed[command]!.contains(setting["name"]!),
                        "\(command) setting \(setting["name"]!) names chart value \(setting["chartValue"]!), but the chart never passes it")
            }
        }
    }
}
