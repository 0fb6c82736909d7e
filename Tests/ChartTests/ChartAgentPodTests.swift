import Foundation
import TestSupport
import Testing

/// The agent's pods as an operator of a large or mixed cluster needs them: Linux nodes
/// only, a rollout that is not one node at a time, and the usual hooks for annotations,
/// arguments and environment.
@Suite("Helm chart agent pods")
struct ChartAgentPodTests {
    let chart = HelmChart()

    func agent(_ values: [String: Any]) async throws -> [String: Any] {
        var merged = values
        var p2p = values["p2p"] as? [String: Any] ?? [:]
        p2p["registryInstances"] = p2p["registryInstances"] ?? "r.example.com"
        merged["p2p"] = p2p
        return try #require(try await chart.objects(merged).first { $0["kind"] as? String == "DaemonSet" })
    }

    @Test func podsRunOnLinuxNodesOnly() async throws {
        // The agent tolerates every taint, so without a selector it lands on Windows nodes.
        let objects = try await chart.objects(ChartTests.base)
        for kind in ["DaemonSet", "Deployment", "Job"] {
            let selector = ChartTests.dig(objects.first { $0["kind"] as? String == kind }, "spec.template.spec.nodeSelector") as? [String: String]
            #expect(selector == ["kubernetes.io/os": "linux"], "\(kind): \(selector ?? [:])")
        }
        // An operator's selector adds to it; null removes it.
        let ds = try await agent(["agent": ["nodeSelector": ["pool": "gpu"]]])
        #expect(ChartTests.dig(ds, "spec.template.spec.nodeSelector") as? [String: String] == ["kubernetes.io/os": "linux", "pool": "gpu"])
        let anyOS = try await agent(["agent": ["nodeSelector": ["kubernetes.io/os": NSNull()]]])
        #expect(ChartTests.dig(anyOS, "spec.template.spec.nodeSelector") == nil)
    }

    @Test func theRolloutTakesATenthOfTheNodesAtATime() async throws {
        let ds = try await agent([:])
        #expect(ChartTests.dig(ds, "spec.updateStrategy.type") as? String == "RollingUpdate")
        #expect(ChartTests.dig(ds, "spec.updateStrategy.rollingUpdate.maxUnavailable") as? String == "10%")
        let fifty = try await agent(["agent": ["updateStrategy": ["rollingUpdate": ["maxUnavailable": 50]]]])
        #expect(ChartTests.dig(fifty, "spec.updateStrategy.rollingUpdate.maxUnavailable") as? Int == 50)
        // OnDelete carries no rollingUpdate (the defaults' one is dropped).
        let onDelete = try await agent(["agent": ["updateStrategy": ["type": "OnDelete"]]])
        #expect(ChartTests.dig(onDelete, "spec.updateStrategy") as? [String: String] == ["type": "OnDelete"])
    }

    @Test func gracePeriodAnnotationsArgumentsAndEnvironmentReachThePod() async throws {
        let defaults = try await agent([:])
        #expect(ChartTests.dig(defaults, "spec.template.spec.terminationGracePeriodSeconds") as? Int == 30)
        let ds = try await agent([
            "agent": [
                "terminationGracePeriodSeconds": 120,
                "podAnnotations": ["prometheus.io/scrape": "true", "example.com/team": "platform"],
                "extraArgs": ["--log-level=debug", "--auth-cache-seconds=30"],
                "extraEnv": [["name": "TZ", "value": "UTC"], ["name": "POD_IP", "valueFrom": ["fieldRef": ["fieldPath": "status.podIP"]]]],
            ],
        ])
        let pod = ChartTests.dig(ds, "spec.template.spec")
        #expect(ChartTests.dig(pod, "terminationGracePeriodSeconds") as? Int == 120)
        let annotations = try #require(ChartTests.dig(ds, "spec.template.metadata.annotations") as? [String: String])
        #expect(annotations["prometheus.io/scrape"] == "true" && annotations["example.com/team"] == "platform")
        #expect(annotations["checksum/config"]?.count == 64, "the config checksum stays: \(annotations)")
        let args = try #require(ChartTests.dig(pod, "containers.0.args") as? [String])
        #expect(Array(args.suffix(2)) == ["--log-level=debug", "--auth-cache-seconds=30"], "\(args)")
        let env = try #require(ChartTests.dig(pod, "containers.0.env") as? [[String: Any]])
        #expect(env.compactMap { $0["name"] as? String } == ["NODE_NAME", "HOST_IP", "TZ", "POD_IP"])
        // Without the swarm the agent has no environment of its own; the extra one still comes.
        let alone = try await agent(["p2p": ["swarm": ["enabled": false]], "agent": ["extraEnv": [["name": "TZ", "value": "UTC"]]]])
        #expect((ChartTests.dig(alone, "spec.template.spec.containers.0.env") as? [[String: Any]])?.compactMap { $0["name"] as? String } == ["TZ"])
    }

    @Test func notesAndReadmeSayTheNamespaceNeedsThePrivilegedPodSecurityLevel() async throws {
        // On Kubernetes 1.25+ a baseline or restricted namespace refuses the agent's pods
        // (host network, host paths and port, a privileged init container).
        let command = "kubectl label namespace peerpull-system pod-security.kubernetes.io/enforce=privileged"
        let notes = try #require(try await chart.render(ChartTests.base).first { $0.key.hasSuffix("NOTES.txt") }?.value)
        #expect(notes.contains(command), "\(notes)")
        let readme = try String(contentsOfFile: chart.path + "/README.md", encoding: .utf8)
        #expect(readme.contains("pod-security.kubernetes.io/enforce=privileged") && readme.contains("pod-security.kubernetes.io/enforce: privileged"))
    }
}
