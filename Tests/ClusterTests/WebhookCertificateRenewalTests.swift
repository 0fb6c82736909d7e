import Foundation
import TestSupport
import Testing

/// The webhook's serving certificate renewed while two replicas run against a real
/// kube-apiserver, with lifetimes of seconds instead of a year: the lease holder issues it
/// again under the same CA, both replicas serve the new one without a restart, and the API
/// server, trusting the caBundle it was given once, keeps calling the webhook.
extension ControllerEndToEndTests {
    @Test func theLeaseHolderRenewsTheWebhookCertificateAndBothReplicasServeItWithoutARestart() async throws {
        // Two replicas; the serving certificate lives 8 s and is issued again 5 s before its end.
        let controller = try await ControllerUnderTest.start(
            namespaces: ["team-a"], values: ["controller": ["removeGeneratedSecretsOnUninstall": false]], replicas: 2, logLevel: "info",
            arguments: ["--tls-leaf-lifetime-seconds", "8", "--tls-renew-before-seconds", "5", "--tls-check-seconds", "0.5"])
        let (cluster, replicas, ports) = (controller.cluster, controller.replicas, controller.ports)
        do {
            let review = #"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u1","kind":{"group":"","version":"v1","kind":"Pod"},"resource":{"group":"","version":"v1","resource":"pods"},"namespace":"team-a","operation":"CREATE","object":{"apiVersion":"v1","kind":"Pod","metadata":{"name":"x","namespace":"team-a","labels":{"k8s.aliyun.com/image-accelerate-mode":"p2p"}},"spec":{"containers":[{"name":"a","image":"\#(Self.origin)/a/b:1"}],"imagePullSecrets":[{"name":"regcred"}]}}}}"#

            var served: [Set<String>] = [[], []]
            var refused: [String] = []
            var unrewritten: [String] = []
            var pods = 0
            let end = ContinuousClock.now + .seconds(18)
            while ContinuousClock.now < end {
                for (i, port) in ports.enumerated() {
                    // A new handshake: which certificate this replica serves now.
                    let shown = try await Command.run(["bash", "-c",
                        "openssl s_client -connect 127.0.0.1:\(port) </dev/null 2>/dev/null | openssl x509 -noout -serial"], check: false).stdout
                    if shown.contains("serial=") { served[i].insert(shown) }
                    // A review over TLS that trusts only the caBundle given at the start.
                    let r = try await Command.run(["curl", "-s", "--max-time", "5", "--cacert", controller.caFile,
                                                   "-H", "Content-Type: application/json", "--data-binary", "@-",
                                                   "https://127.0.0.1:\(port)/mutate"], stdin: review, check: false)
                    if !r.stdout.contains(#""patchType":"JSONPatch""#) { refused.append("replica \(i): curl \(r.status) \(r.stderr.prefix(200))") }
                }
                // A labelled pod through the API server, which calls replica 0 with the caBundle.
                pods += 1
                try await cluster.run(["apply", "-f", "-"], stdin: Self.pod("web-\(pods)", namespace: "team-a", labelled: true))
                let pod = try await cluster.json(["get", "pod", "web-\(pods)", "-n", "team-a"])
                if !Self.images(pod).contains("\(Self.p2p)/docker-builder/nginx:latest") { unrewritten.append("web-\(pods)") }
                try await Task.sleep(for: .milliseconds(500))
            }
            #expect(refused.isEmpty, "reviews trusting the caBundle failed: \(refused)")
            #expect(unrewritten.isEmpty, "pods the API server admitted without the webhook: \(unrewritten) of \(pods)")
            // 18 s of an 8 s certificate renewed 5 s before its end: about 6 certificates; at least 3 on each replica.
            #expect(served[0].count >= 3 && served[1].count >= 3, "certificates served: \(served.map(\.count))")
            let running = replicas.filter(\.isRunning).count
            #expect(running == 2, "both replicas ran throughout")
            let holder = try #require(controller.leader)
            #expect(replicas[holder].log.contains("issued the webhook's serving certificate again"))
            #expect(!replicas[1 - holder].log.contains("issued the webhook's serving certificate again"), "only the lease holder renews")
            print("webhook certificate renewal: \(served.map(\.count)) certificates served by the replicas, \(pods) pods rewritten, \(refused.count) refused")
        } catch {
            throw await controller.stop(after: error)
        }
        await controller.stop()
    }
}
