import Foundation
import TestSupport
import Testing

/// The webhook under sustained load (issue 13, item 4): the controller binary against a
/// real kube-apiserver (namespace labels and pull secrets come from its watches), sent
/// AdmissionReviews at a fixed rate by `bench/webhook_load.py`, which checks every patch
/// with an oracle of its own. CI runs 10 s at 500 reviews/s; `bench/webhook-soak.sh` a
/// minute against the release binary (PEERPULL_WEBHOOK_SOAK_SECONDS, _RATE, PEERPULL_BINARY).
@Suite("Webhook soak", .serialized)
struct WebhookSoakTests {
    static let origin = ControllerEndToEndTests.origin
    static let p2p = ControllerEndToEndTests.p2p
    static let label = ControllerEndToEndTests.label
    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    @Test func everyReviewAtFiveHundredASecondGetsTheRightPatch() async throws {
        let env = ProcessInfo.processInfo.environment
        let seconds = Double(env["PEERPULL_WEBHOOK_SOAK_SECONDS"] ?? "") ?? 10
        let rate = Double(env["PEERPULL_WEBHOOK_SOAK_RATE"] ?? "") ?? 500
        let cluster = try await KubernetesTestCluster.start()
        let dir = try TemporaryDirectory()
        var controller: BackgroundProcess?
        defer { dir.remove() }
        do {
            for ns in ["peerpull-system", "team-a", "team-b"] { try await cluster.run(["create", "namespace", ns]) }
            try await cluster.run(["label", "namespace", "team-b", "\(Self.label)=p2p"])
            for ns in ["team-a", "team-b"] {
                try await cluster.run(["create", "secret", "docker-registry", "regcred", "-n", ns, "--docker-server=\(Self.origin)",
                                       "--docker-username=alice", "--docker-password=wonderland"])
            }
            let port = try LoopbackPort.free()
            let manifests = try await HelmChart().manifests([
                "p2p": ["registryInstances": Self.origin],
                "webhook": ["url": "https://127.0.0.1:\(port)/mutate"],
                "podDisruptionBudget": ["apiVersion": "policy/v1beta1"],
            ], namespace: "peerpull-system")
            try await cluster.run(["apply", "-f", "-"], stdin: manifests)
            controller = try BackgroundProcess([
                TestImages.peerpullBinary, "controller", "--kubeconfig", cluster.kubeconfig,
                "--registry-instances", Self.origin, "--namespace", "peerpull-system",
                "--service-name", "p2p-ack-acr-acceleration-p2p-controller", "--webhook-configuration", "p2p-ack-acr-acceleration-p2p",
                "--listen", "127.0.0.1", "--port", String(port), "--log-level", "warning",
            ], logPath: dir.file("controller.log"))
            var caBundle = ""
            try await controller!.waitUntil(timeout: .seconds(60)) {
                let out = try? await cluster.run(["get", "mutatingwebhookconfiguration", "p2p-ack-acr-acceleration-p2p", "-o",
                                                  "jsonpath={.webhooks[0].clientConfig.caBundle}"], check: false)
                caBundle = out?.stdout ?? ""
                return !caBundle.isEmpty
            }
            let ca = try #require(Data(base64Encoded: caBundle))
            try ca.write(to: URL(fileURLWithPath: dir.file("ca.crt")))
            // The controller learns namespace labels and secrets through its watches: one
            // pod through the API server shows they are in (the load is sent directly).
            try await controller!.waitUntil(timeout: .seconds(30)) {
                let pod = ControllerEndToEndTests.pod("warm-\(UUID().uuidString.prefix(6).lowercased())", namespace: "team-b", labelled: false)
                let out = try? await cluster.run(["create", "--dry-run=server", "-o", "json", "-f", "-"], stdin: pod, check: false)
                return out?.stdout.contains(Self.p2p) ?? false
            }

            let result = dir.file("result.json")
            let load = try await Command.run([
                "python3", "\(Self.repositoryRoot)/bench/webhook_load.py", "--url", "https://127.0.0.1:\(port)/mutate",
                "--ca", dir.file("ca.crt"), "--origin", Self.origin, "--p2p", Self.p2p,
                "--labelled-namespace", "team-b", "--plain-namespace", "team-a",
                "--rate", String(rate), "--duration", String(seconds), "--out", result,
            ])
            let summary = try #require(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: result))) as? [String: Any])
            let peak = Self.peakRSSMiB(pid: controller!.pid)
            print("webhook soak: \(load.stdout.replacingOccurrences(of: "\n", with: " ")); controller peak RSS \(peak) MiB")
            let reviews = try #require(summary["reviews"] as? Int)
            #expect(reviews == Int(rate * seconds))
            #expect(summary["answered"] as? Int == reviews, "every review answered")
            #expect(summary["connection_errors"] as? Int == 0)
            #expect(summary["wrong"] as? Int == 0, "\(summary["wrong_examples"] ?? "")")
            #expect((summary["rewritten"] as? Int ?? 0) > reviews / 5, "a good share of the pods were rewritten")
            #expect(controller!.isRunning)
        } catch {
            print("controller log:\n\(controller?.log.suffix(3000) ?? "")")
            await controller?.stop(); await cluster.stop()
            throw error
        }
        await controller?.stop()
        await cluster.stop()
    }

    static func peakRSSMiB(pid: Int32) -> Int {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM") }),
              let kib = Int(line.split(whereSeparator: \.isWhitespace).dropFirst().first ?? "") else { return -1 }
        return kib / 1024
    }
}
