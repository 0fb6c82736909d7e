import Foundation
import TestSupport
import Testing

/// The swarm's peer-signing key under GitOps: Argo CD and Flux render the chart with
/// `helm template` on every sync, where `lookup` finds nothing, so anything random in a
/// render is a new value each sync. A new key mid-rollout splits the agents into two
/// swarms that refuse each other's requests. The chart therefore renders no key: it names
/// the Secret the agents mount, which the user manages (`p2p.swarm.existingSecret`) or the
/// controller creates once.
@Suite("Helm chart renders the same objects every time")
struct ChartSwarmKeyTests {
    let chart = HelmChart()
    static let fullname = "p2p-ack-acr-acceleration-p2p"

    @Test("two renders of the same values are identical", arguments: [
        "defaults", "one registry", "an existing swarm secret",
    ])
    func rendersIdenticallyTwice(_ name: String) async throws {
        let values: [String: Any] = switch name {
        case "one registry": ChartTests.base
        case "an existing swarm secret": ["p2p": ["swarm": ["existingSecret": "team-swarm-key"]]]
        default: [:]
        }
        let first = try await chart.render(values)
        let second = try await chart.render(values)
        #expect(first.keys.sorted() == second.keys.sorted())
        for (path, text) in first.sorted(by: { $0.key < $1.key }) where second[path] != text {
            Issue.record("\(path) differs between two renders of \(name):\n\(text.prefix(600))\n---\n\((second[path] ?? "").prefix(600))")
        }
    }

    @Test func theControllerMakesTheKeyTheAgentsMount() async throws {
        let objects = try await chart.objects(ChartTests.base)
        #expect(!objects.contains { $0["kind"] as? String == "Secret" }, "the chart renders no key")
        let pod = ChartTests.dig(objects.first { $0["kind"] as? String == "DaemonSet" }, "spec.template.spec")
        let volumes = try #require(ChartTests.dig(pod, "volumes") as? [[String: Any]])
        #expect(volumes.contains { ChartTests.dig($0, "secret.secretName") as? String == "\(Self.fullname)-swarm" }, "\(volumes)")
        // The agent reads the key from the same file as before: the Secret's key `secret`.
        let args = try #require(ChartTests.dig(pod, "containers.0.args") as? [String])
        #expect(args.contains("--peer-secret-file=/etc/peerpull-swarm/secret"))
        let controllerArgs = try #require(ChartTests.dig(objects.first { $0["kind"] as? String == "Deployment" },
                                                         "spec.template.spec.containers.0.args") as? [String])
        #expect(controllerArgs.contains("--swarm-secret=\(Self.fullname)-swarm"), "\(controllerArgs)")
        // It needs no new permission: its ClusterRole already creates secrets (the -p2p copies).
        let rules = try #require(objects.first { $0["kind"] as? String == "ClusterRole" && ChartTests.dig($0, "metadata.name") as? String == "\(Self.fullname)-controller" }?["rules"] as? [[String: Any]])
        #expect(rules.contains { ($0["resources"] as? [String]) == ["secrets"] && ($0["verbs"] as? [String] ?? []).contains("create") })
    }

    @Test func anExistingSecretIsMountedAndTheControllerMakesNone() async throws {
        let objects = try await chart.objects(["p2p": ["registryInstances": "r.example.com", "swarm": ["existingSecret": "team-swarm-key"]]])
        #expect(!objects.contains { $0["kind"] as? String == "Secret" })
        let volumes = try #require(ChartTests.dig(objects.first { $0["kind"] as? String == "DaemonSet" }, "spec.template.spec.volumes") as? [[String: Any]])
        let mounted = volumes.compactMap { ChartTests.dig($0, "secret.secretName") as? String }
        #expect(mounted == ["team-swarm-key"])
        let controllerArgs = try #require(ChartTests.dig(objects.first { $0["kind"] as? String == "Deployment" },
                                                         "spec.template.spec.containers.0.args") as? [String])
        #expect(!controllerArgs.contains { $0.hasPrefix("--swarm-secret") }, "\(controllerArgs)")
    }

    @Test func withoutTheSwarmTheControllerMakesNoKey() async throws {
        let objects = try await chart.objects(["p2p": ["registryInstances": "r.example.com", "swarm": ["enabled": false]]])
        let controllerArgs = try #require(ChartTests.dig(objects.first { $0["kind"] as? String == "Deployment" },
                                                         "spec.template.spec.containers.0.args") as? [String])
        #expect(!controllerArgs.contains { $0.hasPrefix("--swarm-secret") }, "\(controllerArgs)")
    }
}
