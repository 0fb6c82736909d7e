import Foundation
import TestSupport
import Testing

/// Two controller replicas against a real kube-apiserver: both answer the webhook, one
/// holds the re-sync lease, and when that one is killed the other takes the lease over
/// and keeps pull-secret copies in step within the lease time.
extension ControllerEndToEndTests {
    @Test func theOtherReplicaTakesOverTheSecretResyncWhenTheLeaderIsKilled() async throws {
        let cluster = try await KubernetesTestCluster.start()
        let dir = try TemporaryDirectory()
        var replicas: [BackgroundProcess] = []
        defer { dir.remove() }
        do {
            for ns in ["peerpull-system", "team-a"] { try await cluster.run(["create", "namespace", ns]) }
            try await cluster.run(["create", "secret", "docker-registry", "regcred", "-n", "team-a", "--docker-server=\(Self.origin)",
                                   "--docker-username=alice", "--docker-password=wonderland"])
            let ports = [try LoopbackPort.free(), try LoopbackPort.free()]
            let manifests = try await HelmChart().manifests([
                "p2p": ["registryInstances": Self.origin],
                "webhook": ["url": "https://127.0.0.1:\(ports[0])/mutate"],
                "podDisruptionBudget": ["apiVersion": "policy/v1beta1"],
                "controller": ["removeGeneratedSecretsOnUninstall": false],
            ], namespace: "peerpull-system")
            try await cluster.run(["apply", "-f", "-"], stdin: manifests)
            for (i, port) in ports.enumerated() {
                replicas.append(try BackgroundProcess([
                    TestImages.peerpullBinary, "controller", "--kubeconfig", cluster.kubeconfig,
                    "--registry-instances", Self.origin, "--namespace", "peerpull-system",
                    "--service-name", "p2p-ack-acr-acceleration-p2p-controller", "--webhook-configuration", "p2p-ack-acr-acceleration-p2p",
                    "--listen", "127.0.0.1", "--port", String(port), "--log-level", "info",
                ], logPath: dir.file("controller-\(i).log"), environment: ["HOSTNAME": "replica-\(i)"]))
            }
            func leader() -> Int? { replicas.firstIndex { $0.isRunning && $0.log.contains("became leader") } }
            try await replicas[0].waitUntil(timeout: .seconds(60)) { leader() != nil }
            let first = try #require(leader())
            // A labelled pod makes a copy (through replica 0, the webhook's URL).
            try await cluster.run(["apply", "-f", "-"], stdin: Self.pod("web", namespace: "team-a", labelled: true))
            _ = try await cluster.json(["get", "secret", "acr-credential-regcred-p2p", "-n", "team-a"])

            // Both replicas answer reviews, before and after the leader dies.
            func answers(_ i: Int) async -> Bool {
                let review = #"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u1","kind":{"group":"","version":"v1","kind":"Pod"},"resource":{"group":"","version":"v1","resource":"pods"},"namespace":"team-a","operation":"CREATE","object":{"apiVersion":"v1","kind":"Pod","metadata":{"name":"x","namespace":"team-a","labels":{"k8s.aliyun.com/image-accelerate-mode":"p2p"}},"spec":{"containers":[{"name":"a","image":"\#(Self.origin)/a/b:1"}],"imagePullSecrets":[{"name":"regcred"}]}}}}"#
                let r = try? await Command.run(["curl", "-sk", "--max-time", "5", "-H", "Content-Type: application/json", "--data-binary", "@-",
                                                "https://127.0.0.1:\(ports[i])/mutate"], stdin: review, check: false)
                return r?.stdout.contains(#""patchType":"JSONPatch""#) == true
            }
            let zero = await answers(0), one = await answers(1)
            #expect(zero && one, "both replicas answer")

            await replicas[first].stop()
            let killed = ContinuousClock.now
            let survivor = 1 - first
            let survivorAnswers = await answers(survivor)
            #expect(survivorAnswers, "the survivor serves the webhook throughout")
            // Rotated credentials reach the copy through the survivor, once it holds the lease.
            let rotated = try await cluster.run(["create", "secret", "docker-registry", "regcred", "-n", "team-a", "--docker-server=\(Self.origin)",
                                                 "--docker-username=alice", "--docker-password=rotated", "--dry-run=client", "-o", "yaml"]).stdout
            try await cluster.run(["apply", "-f", "-"], stdin: rotated)
            var synced = false
            while !synced, ContinuousClock.now - killed < .seconds(40) {
                let copy = try await cluster.json(["get", "secret", "acr-credential-regcred-p2p", "-n", "team-a"])
                synced = String(describing: try Self.dockerConfig(copy)[Self.p2p] ?? "").contains("rotated")
                if !synced { try await Task.sleep(for: .milliseconds(250)) }
            }
            let took = ContinuousClock.now - killed
            #expect(synced, "the copy follows its rotated source after the failover")
            #expect(replicas[survivor].log.contains("became leader"))
            // Lease 15 s, renewal every 5 s: the take-over comes within about 20 s.
            #expect(took < .seconds(25), "\(took)")
            print("leader killed: the other replica re-synced the copy \(took) later")
        } catch {
            for (i, r) in replicas.enumerated() { print("replica \(i):\n\(r.log.suffix(2000))") }
            for r in replicas { await r.stop() }
            await cluster.stop()
            throw error
        }
        for r in replicas { await r.stop() }
        await cluster.stop()
    }
}
