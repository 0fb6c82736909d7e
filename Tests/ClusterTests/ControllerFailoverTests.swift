import Foundation
import TestSupport
import Testing

/// Two controller replicas against a real kube-apiserver: both answer the webhook, one
/// holds the re-sync lease, and when that one is killed the other takes the lease over
/// and keeps pull-secret copies in step within the lease time.
extension ControllerEndToEndTests {
    @Test func theOtherReplicaTakesOverTheSecretResyncWhenTheLeaderIsKilled() async throws {
        let controller = try await ControllerUnderTest.start(
            namespaces: ["team-a"], values: ["controller": ["removeGeneratedSecretsOnUninstall": false]], replicas: 2, logLevel: "info")
        let (cluster, replicas, ports) = (controller.cluster, controller.replicas, controller.ports)
        do {
            let first = try #require(controller.leader)
            // Both replicas started at once and tried to make the swarm's key: one did, the
            // other found it.
            let key = try await controller.swarmKey()
            #expect(key.count == 48, "\(key)")
            #expect(replicas.filter { $0.log.contains("created the swarm's peer-signing key") }.count == 1,
                    "\(replicas.map { $0.log.suffix(1500) })")
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
            // A replica starting again finds the key and keeps it.
            let again = try BackgroundProcess(replicas[first].arguments, logPath: controller.directory.file("controller-again.log"),
                                              environment: ["HOSTNAME": "replica-again"])
            let found: Void? = try? await again.waitUntil(timeout: .seconds(30)) { again.log.contains("using the swarm's peer-signing key") }
            await again.stop()
            #expect(found != nil, "\(again.log.suffix(1500))")
            #expect(!again.log.contains("created the swarm's peer-signing key"), "\(again.log.suffix(1500))")
            #expect(try await controller.swarmKey() == key, "the key survives the failover and a restart")
            print("leader killed: the other replica re-synced the copy \(took) later")
        } catch {
            throw await controller.stop(after: error)
        }
        await controller.stop()
    }
}
