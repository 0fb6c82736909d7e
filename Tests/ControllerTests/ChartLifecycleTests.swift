import Foundation
import TestSupport
import Testing

/// `helm install`, `upgrade` and `uninstall` through Helm's own SDK on a real
/// kube-apiserver (no scheduler runs the pods; the objects are what is checked). Part of
/// the serialized end-to-end suite, so two control planes never start at once on CI's
/// two cores.
extension ControllerEndToEndTests {
    @Test func chartInstallUpgradeUninstall() async throws {
        let cluster = try await KubernetesTestCluster.start()
        do {
            try await cluster.run(["create", "namespace", "peerpull-system"])
            let chart = HelmChart()
            var values: [String: Any] = [
                "p2p": ["registryInstances": "test-registry-vpc.cn-hangzhou.cr.aliyuncs.com"],
                "podDisruptionBudget": ["apiVersion": "policy/v1beta1"],
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
            values["p2p"] = ["registryInstances": "test-registry-vpc.cn-hangzhou.cr.aliyuncs.com", "ratelimit": "1G"]
            try await chart.install(values, namespace: "peerpull-system", kubeconfig: cluster.kubeconfig, upgrade: true)
            let config = try await cluster.run(["get", "configmap", "p2p-ack-acr-acceleration-p2p-agent", "-n", "peerpull-system",
                                                "-o", "jsonpath={.data.agent\\.yaml}"]).stdout
            #expect(config.contains(#"ratelimit: "1G""#))
            let after = try await cluster.run(["get", "daemonset", "p2p-ack-acr-acceleration-p2p-agent", "-n", "peerpull-system",
                                               "-o", "jsonpath={.spec.template.metadata.annotations.checksum/config}"]).stdout
            #expect(!before.isEmpty && before != after)

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
