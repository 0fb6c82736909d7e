import Foundation
import TestSupport
import Testing

/// The controller binary run as the chart deploys it, against a real kube-apiserver of its
/// own: the scaffold the end-to-end, failover, certificate-renewal and soak tests share, so
/// that each of them says only what it checks. `start` returns once the webhook is usable
/// (the configuration holds the controller's CA; with replicas, one holds the lease); the
/// test ends with `stop()`, or with `throw await controller.stop(after: error)`, which
/// prints the controllers' logs first.
struct ControllerUnderTest: Sendable {
    static let namespace = "peerpull-system"
    static let service = "p2p-ack-acr-acceleration-p2p-controller"
    static let configuration = "p2p-ack-acr-acceleration-p2p"
    static let swarmSecret = "p2p-ack-acr-acceleration-p2p-swarm"

    let cluster: KubernetesTestCluster
    /// The controllers' logs, and whatever else the test writes (`caFile`).
    let directory: TemporaryDirectory
    /// One controller per port; the chart's webhook URL points at the first.
    let replicas: [BackgroundProcess]
    let ports: [Int]
    /// The CA (PEM) the controller wrote into the webhook configuration: what the API server trusts.
    let caPEM: String
    /// The server-side dry run of the chart's objects, when `start` was asked for one.
    let chartDryRun: Command.Output?

    var process: BackgroundProcess { replicas[0] }
    var port: Int { ports[0] }
    /// `caPEM` as a file, for clients that trust only it (curl `--cacert`, `webhook_load.py --ca`).
    var caFile: String { directory.file("ca.crt") }
    /// The swarm's key as the controllers made it, once it exists.
    func swarmKey() async throws -> String {
        var key = ""
        try await process.waitUntil(timeout: .seconds(30)) {
            let secret = try? await cluster.json(["get", "secret", Self.swarmSecret, "-n", Self.namespace])
            key = ((secret?["data"] as? [String: String])?["secret"]).flatMap { Data(base64Encoded: $0) }.map { String(decoding: $0, as: UTF8.self) } ?? ""
            return !key.isEmpty
        }
        return key
    }

    /// The replica holding the re-sync lease: running, and it said it became leader.
    var leader: Int? { Self.leader(of: replicas) }

    /// Starts a cluster; creates `peerpull-system` and the `namespaces`, each with a
    /// `regcred` pull secret for the origin, and labels the `labelled` ones for P2P; applies
    /// the chart's objects, rendered by Helm for this 1.20 cluster with the webhook pointing
    /// at the first replica outside the cluster (no scheduler runs the chart's own pods
    /// here); and starts `replicas` controllers on free loopback ports. With `dryRun` the
    /// server validates the objects in a dry run before storing them (`chartDryRun`).
    /// Whatever fails on the way stops what was started.
    static func start(namespaces: [String], labelled: [String] = [], registryInstances: String = ControllerEndToEndTests.origin,
                      values: [String: Any] = [:], replicas count: Int = 1, logLevel: String, arguments: [String] = [],
                      dryRun: Bool = false) async throws -> ControllerUnderTest {
        let directory = try TemporaryDirectory()
        let cluster: KubernetesTestCluster
        do { cluster = try await KubernetesTestCluster.start() } catch { directory.remove(); throw error }
        var replicas: [BackgroundProcess] = []
        do {
            for ns in [namespace] + namespaces { try await cluster.run(["create", "namespace", ns]) }
            for ns in labelled { try await cluster.run(["label", "namespace", ns, "\(ControllerEndToEndTests.label)=p2p"]) }
            for ns in namespaces {
                try await cluster.run(["create", "secret", "docker-registry", "regcred", "-n", ns, "--docker-server=\(ControllerEndToEndTests.origin)",
                                       "--docker-username=alice", "--docker-password=wonderland"])
            }
            let ports = try (0..<count).map { _ in try LoopbackPort.free() }
            let chartValues: [String: Any] = [
                "p2p": ["registryInstances": registryInstances],
                "webhook": ["url": "https://127.0.0.1:\(ports[0])/mutate"],
                "podDisruptionBudget": ["apiVersion": "policy/v1beta1"],
            ]
            let manifests = try await HelmChart().manifests(chartValues.merging(values) { $1 }, namespace: namespace)
            let chartDryRun: Command.Output? = if dryRun {
                try await cluster.run(["apply", "--dry-run=server", "-f", "-"], stdin: manifests)
            } else { nil }
            try await cluster.run(["apply", "-f", "-"], stdin: manifests)
            for (i, port) in ports.enumerated() {
                // Replicas tell themselves apart by HOSTNAME (the pod's name), as in the lease.
                replicas.append(try BackgroundProcess([
                    TestImages.peerpullBinary, "controller", "--kubeconfig", cluster.kubeconfig,
                    "--registry-instances", registryInstances, "--namespace", namespace,
                    "--service-name", service, "--webhook-configuration", configuration, "--swarm-secret", swarmSecret,
                    "--listen", "127.0.0.1", "--port", String(port), "--log-level", logLevel,
                ] + arguments, logPath: directory.file(count == 1 ? "controller.log" : "controller-\(i).log"),
                   environment: count == 1 ? nil : ["HOSTNAME": "replica-\(i)"]))
            }
            if count > 1 {
                try await replicas[0].waitUntil(timeout: .seconds(60)) { leader(of: replicas) != nil }
            }
            // The controller generates its CA and certificate and writes the CA into every
            // webhook of the configuration.
            var caPEM = ""
            try await replicas[0].waitUntil(timeout: .seconds(60)) {
                let config = try? await cluster.json(["get", "mutatingwebhookconfiguration", configuration])
                let bundles = (config?["webhooks"] as? [[String: Any]] ?? []).map { ($0["clientConfig"] as? [String: Any])?["caBundle"] as? String ?? "" }
                guard let first = bundles.first, !bundles.contains(where: \.isEmpty), let pem = Data(base64Encoded: first) else { return false }
                caPEM = String(decoding: pem, as: UTF8.self)
                return true
            }
            try caPEM.write(toFile: directory.file("ca.crt"), atomically: true, encoding: .utf8)
            return ControllerUnderTest(cluster: cluster, directory: directory, replicas: replicas, ports: ports, caPEM: caPEM,
                                       chartDryRun: chartDryRun)
        } catch {
            printLogs(replicas)
            await stop(replicas, cluster: cluster, directory: directory)
            throw error
        }
    }

    /// Stops the controllers (those still running), then the cluster, and removes the directory.
    func stop() async {
        await Self.stop(replicas, cluster: cluster, directory: directory)
    }

    /// After a failure: the controllers' logs, then `stop()`; returns the error to rethrow.
    func stop(after error: any Error) async -> any Error {
        Self.printLogs(replicas)
        await stop()
        return error
    }

    private static func leader(of replicas: [BackgroundProcess]) -> Int? {
        replicas.firstIndex { $0.isRunning && $0.log.contains("became leader") }
    }

    private static func printLogs(_ replicas: [BackgroundProcess]) {
        for (i, r) in replicas.enumerated() {
            print("controller log\(replicas.count > 1 ? " (replica \(i))" : ""):\n\(r.log.suffix(3000))")
        }
    }

    private static func stop(_ replicas: [BackgroundProcess], cluster: KubernetesTestCluster, directory: TemporaryDirectory) async {
        for r in replicas { await r.stop() }
        await cluster.stop()
        directory.remove()
    }
}
