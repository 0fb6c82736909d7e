import Agent
import Controller
import Foundation
import Kubernetes
import Logging
import Swarm
import TestSupport
import Testing

/// `helm install`, `upgrade` and `uninstall` through Helm's own SDK on a real
/// kube-apiserver (no scheduler runs the pods; the objects are what is checked). Part of
/// the serialized end-to-end suite, so two control planes never start at once on CI's
/// two cores.
extension ControllerEndToEndTests {
    /// The agent's Role lets it read EndpointSlices, and the swarm's membership follows the
    /// chart's headless Service's slices: ready agents only, at the Service's peer port.
    /// (No endpoint controller runs here, so the test writes the slice as one would.)
    static func agentsFindEachOtherThroughTheServicesEndpointSlices(_ cluster: KubernetesTestCluster) async throws {
        let sa = "system:serviceaccount:peerpull-system:p2p-ack-acr-acceleration-p2p-agent"
        #expect(try await cluster.run(["auth", "can-i", "watch", "endpointslices.discovery.k8s.io", "--as", sa, "-n", "peerpull-system"]).stdout
                    .hasPrefix("yes"))
        #expect(try await cluster.run(["auth", "can-i", "list", "secrets", "--as", sa, "-n", "peerpull-system"], check: false).stdout
                    .hasPrefix("no"))
        let slice = { (endpoints: String) in """
            apiVersion: discovery.k8s.io/v1beta1
            kind: EndpointSlice
            metadata:
              name: p2p-agent-abcde
              namespace: peerpull-system
              labels: {kubernetes.io/service-name: p2p-ack-acr-acceleration-p2p-agent}
            addressType: IPv4
            ports: [{name: peer, port: 7002, protocol: TCP}, {name: registry, port: 65001, protocol: TCP}]
            endpoints:
            \(endpoints)
            """ }
        try await cluster.run(["apply", "-f", "-"], stdin: slice("""
              - {addresses: [198.18.5.1], conditions: {ready: true}, topology: {kubernetes.io/hostname: node-a}}
              - {addresses: [198.18.5.2], conditions: {ready: false}, topology: {kubernetes.io/hostname: node-b}}
            """))
        let client = try KubernetesClient(connection: try KubernetesConnection.kubeconfig(path: cluster.kubeconfig), logger: Logger(label: "test"))
        let membership = EndpointSliceMembership(client: client, namespace: "peerpull-system", service: "p2p-ack-acr-acceleration-p2p-agent",
                                                 defaultPort: 65002, logger: Logger(label: "test"))
        let follow = Task { await membership.follow() }
        func wait(for expected: [Member]) async throws {
            let deadline = ContinuousClock.now + .seconds(20)
            while await membership.current != expected {
                guard ContinuousClock.now < deadline else {
                    Issue.record("members \(await membership.current), expected \(expected)")
                    return
                }
                try await Task.sleep(for: .milliseconds(50))
            }
        }
        try await wait(for: [Member(node: "node-a", address: "198.18.5.1", peerPort: 7002)])
        // node-b becomes ready and node-c joins: the watch brings both.
        try await cluster.run(["apply", "-f", "-"], stdin: slice("""
              - {addresses: [198.18.5.1], conditions: {ready: true}, topology: {kubernetes.io/hostname: node-a}}
              - {addresses: [198.18.5.2], conditions: {ready: true}, topology: {kubernetes.io/hostname: node-b}}
              - {addresses: [198.18.5.3], topology: {kubernetes.io/hostname: node-c}}
            """))
        try await wait(for: ["a", "b", "c"].enumerated().map { Member(node: "node-\($1)", address: "198.18.5.\($0 + 1)", peerPort: 7002) })
        try await cluster.run(["delete", "endpointslice", "p2p-agent-abcde", "-n", "peerpull-system"])
        try await wait(for: [])
        follow.cancel()
        await client.shutdown()
    }

    @Test func chartInstallUpgradeUninstall() async throws {
        let cluster = try await KubernetesTestCluster.start()
        do {
            try await cluster.run(["create", "namespace", "peerpull-system"])
            let chart = HelmChart()
            var values: [String: Any] = [
                "p2p": ["registryInstances": "test-registry-vpc.cn-hangzhou.cr.aliyuncs.com"],
                "podDisruptionBudget": ["apiVersion": "policy/v1beta1"],
                // No controller-manager runs the uninstall hook's Job here (the real-node test runs it).
                "controller": ["removeGeneratedSecretsOnUninstall": false],
            ]
            try await chart.install(values, namespace: "peerpull-system", kubeconfig: cluster.kubeconfig)
            let ds = try await cluster.json(["get", "daemonset", "p2p-ack-acr-acceleration-p2p-agent", "-n", "peerpull-system"])
            #expect(((ds["spec"] as? [String: Any])?["updateStrategy"] as? [String: Any])?["type"] as? String == "RollingUpdate")
            let hooks = try await cluster.run(["get", "mutatingwebhookconfiguration", "p2p-ack-acr-acceleration-p2p", "-o", "jsonpath={.webhooks[*].name}"]).stdout
            #expect(hooks == "pod-label.p2p.peerpull.io namespace-label.p2p.peerpull.io")

            // Upgrade: a new rate reaches the agents' configuration, and the pod template
            // changes with it (its checksum annotation), so the DaemonSet rolls.
            let before = try await cluster.run(["get", "daemonset", "p2p-ack-acr-acceleration-p2p-agent", "-n", "peerpull-system",
                                                "-o", "jsonpath={.spec.template.metadata.annotations.checksum/config}"]).stdout
            // The swarm's key: Helm installs none; the controller (its account may create
            // secrets in the namespace; no controller pod runs here, so the test makes it the
            // controller's way) creates it once, outside the release.
            let controllerAccount = "system:serviceaccount:peerpull-system:p2p-ack-acr-acceleration-p2p-controller"
            #expect(try await cluster.run(["auth", "can-i", "create", "secrets", "--as", controllerAccount, "-n", "peerpull-system"]).stdout
                        .hasPrefix("yes"))
            let swarmSecret = { try await cluster.run(["get", "secret", "p2p-ack-acr-acceleration-p2p-swarm", "-n", "peerpull-system",
                                                       "-o", "jsonpath={.data.secret}"], check: false).stdout }
            #expect(try await swarmSecret().isEmpty, "Helm installed a swarm key")
            let client = try KubernetesClient(connection: try KubernetesConnection.kubeconfig(path: cluster.kubeconfig), logger: Logger(label: "test"))
            let made = try await SwarmSecret(store: KubernetesSecretStore(client: client), namespace: "peerpull-system",
                                             name: "p2p-ack-acr-acceleration-p2p-swarm", logger: Logger(label: "test")).ensure()
            await client.shutdown()
            #expect(made == .created)
            let key = try await swarmSecret()
            values["p2p"] = ["registryInstances": "test-registry-vpc.cn-hangzhou.cr.aliyuncs.com", "ratelimit": "1G"]
            try await chart.install(values, namespace: "peerpull-system", kubeconfig: cluster.kubeconfig, upgrade: true)
            let config = try await cluster.run(["get", "configmap", "p2p-ack-acr-acceleration-p2p-agent", "-n", "peerpull-system",
                                                "-o", "jsonpath={.data.agent\\.yaml}"]).stdout
            #expect(config.contains(#"ratelimit: "1G""#))
            let after = try await cluster.run(["get", "daemonset", "p2p-ack-acr-acceleration-p2p-agent", "-n", "peerpull-system",
                                               "-o", "jsonpath={.spec.template.metadata.annotations.checksum/config}"]).stdout
            #expect(!before.isEmpty && before != after)
            // The swarm's key survives the upgrade (Helm does not own it): a new one would
            // split the rolling agents.
            let keyAfter = try await swarmSecret()
            #expect(!key.isEmpty && keyAfter == key)
            try await Self.agentsFindEachOtherThroughTheServicesEndpointSlices(cluster)

            // Uninstall removes everything the chart made, cluster-scoped objects included.
            try await chart.uninstall(namespace: "peerpull-system", kubeconfig: cluster.kubeconfig)
            for (kind, namespaced) in [("daemonset", true), ("deployment", true), ("configmap", true),
                                       ("mutatingwebhookconfiguration", false), ("clusterrole", false)] {
                let left = try await cluster.run(["get", kind, "-l", "app.kubernetes.io/instance=p2p", "-o", "name"]
                                                 + (namespaced ? ["-n", "peerpull-system"] : []))
                #expect(left.stdout.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "\(kind): \(left.stdout)")
            }
        } catch {
            await cluster.stop()
            throw error
        }
        await cluster.stop()
    }
}
