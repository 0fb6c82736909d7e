import Foundation
import TestSupport
import Testing

/// The controller binary against a real kube-apiserver and etcd, checked with kubectl.
@Suite("Controller against a real kube-apiserver", .serialized)
struct ControllerEndToEndTests {
    static let origin = "test-registry-vpc.cn-hangzhou.cr.aliyuncs.com"
    static let p2p = "test-registry-vpc.distributed.cn-hangzhou.cr.aliyuncs.com:65001"
    static let label = "k8s.aliyun.com/image-accelerate-mode"

    static func pod(_ name: String, namespace: String, labelled: Bool, secret: String? = "regcred", extraSecrets: Int = 0) -> String {
        let secrets = (secret.map { [$0] } ?? []) + (0..<extraSecrets).map { "bogus-\($0)" }
        return """
        apiVersion: v1
        kind: Pod
        metadata:
          name: \(name)
          namespace: \(namespace)
        \(labelled ? "  labels: {\(label): p2p}" : "")
        spec:
        \(secrets.isEmpty ? "" : "  imagePullSecrets: [\(secrets.map { "{name: \($0)}" }.joined(separator: ", "))]")
          initContainers: [{name: init, image: "\(origin)/tools/init:1"}]
          containers:
          - {name: app, image: "\(origin)/docker-builder/nginx:latest"}
          - {name: other, image: "nginx:1.25"}
        """
    }

    @Test func labelledPodsAreRewrittenWithTheirSecretAndOthersAreNot() async throws {
        let controller = try await ControllerUnderTest.start(
            namespaces: ["team-a", "team-b", "team-c"], labelled: ["team-b"], registryInstances: "\(Self.origin),cri-unresolvable1",
            logLevel: "debug", dryRun: true)
        let cluster = controller.cluster
        do {
            let chartDryRun = controller.chartDryRun?.stdout ?? ""
            #expect(chartDryRun.contains("daemonset.apps/p2p-ack-acr-acceleration-p2p-agent created (server dry run)"), "\(chartDryRun)")
            #expect(controller.process.log.contains("cri-unresolvable1"))

            // 1. A labelled pod: images of the registry rewritten (init containers too), others untouched.
            try await cluster.run(["apply", "-f", "-"], stdin: Self.pod("labelled", namespace: "team-a", labelled: true))
            let a = try await cluster.json(["get", "pod", "labelled", "-n", "team-a"])
            #expect(Self.images(a) == ["\(Self.p2p)/tools/init:1", "\(Self.p2p)/docker-builder/nginx:latest", "nginx:1.25"])
            #expect(Self.annotations(a)[Self.label] == "p2p")
            let config = try #require(Self.annotations(a)["k8s.aliyun.com/p2p-config"])
            #expect(config.contains("\"containers/app\":\"\(Self.origin)/docker-builder/nginx:latest\""))
            #expect(Self.pullSecrets(a) == ["regcred", "acr-credential-regcred-p2p"])

            // The copy: same type, the key moved to the P2P host with its port, owned by the original.
            let copy = try await cluster.json(["get", "secret", "acr-credential-regcred-p2p", "-n", "team-a"])
            let original = try await cluster.json(["get", "secret", "regcred", "-n", "team-a"])
            #expect(copy["type"] as? String == "kubernetes.io/dockerconfigjson")
            let copyConfig = try Self.dockerConfig(copy)
            let originalConfig = try Self.dockerConfig(original)
            #expect(Array(copyConfig.keys) == [Self.p2p])
            #expect(copyConfig[Self.p2p] as? NSDictionary == originalConfig[Self.origin] as? NSDictionary)
            let owners = (copy["metadata"] as? [String: Any])?["ownerReferences"] as? [[String: Any]]
            #expect(owners?.first?["uid"] as? String == (original["metadata"] as? [String: Any])?["uid"] as? String)

            // 2. A pod in a labelled namespace, without the label itself.
            try await cluster.run(["apply", "-f", "-"], stdin: Self.pod("in-labelled-ns", namespace: "team-b", labelled: false))
            let b = try await cluster.json(["get", "pod", "in-labelled-ns", "-n", "team-b"])
            #expect(Self.images(b)[1] == "\(Self.p2p)/docker-builder/nginx:latest")
            #expect(Self.pullSecrets(b) == ["regcred", "acr-credential-regcred-p2p"])

            // 3. Unlabelled pod in an unlabelled namespace: untouched.
            try await cluster.run(["apply", "-f", "-"], stdin: Self.pod("plain", namespace: "team-a", labelled: false))
            let c = try await cluster.json(["get", "pod", "plain", "-n", "team-a"])
            #expect(Self.images(c)[1] == "\(Self.origin)/docker-builder/nginx:latest")
            #expect(Self.annotations(c)[Self.label] == nil)

            // 4. A server-side dry run shows the rewrite and creates no secret.
            let dry = try await cluster.run(["create", "--dry-run=server", "-o", "json", "-f", "-"],
                                            stdin: Self.pod("dry", namespace: "team-c", labelled: true))
            #expect(dry.stdout.contains("\(Self.p2p)/docker-builder/nginx:latest"))
            let noCopy = try await cluster.run(["get", "secret", "acr-credential-regcred-p2p", "-n", "team-c"], check: false)
            #expect(noCopy.status != 0)

            // 5. A labelled pod without a pull secret for the registry keeps its origin images.
            try await cluster.run(["apply", "-f", "-"], stdin: Self.pod("no-secret", namespace: "team-a", labelled: true, secret: nil))
            let d = try await cluster.json(["get", "pod", "no-secret", "-n", "team-a"])
            #expect(Self.images(d)[1] == "\(Self.origin)/docker-builder/nginx:latest")

            // 6. Rotated credentials reach the copy through the watch.
            let rotated = try await cluster.run(["create", "secret", "docker-registry", "regcred", "-n", "team-a", "--docker-server=\(Self.origin)",
                                                 "--docker-username=alice", "--docker-password=rotated", "--dry-run=client", "-o", "yaml"]).stdout
            try await cluster.run(["apply", "-f", "-"], stdin: rotated)
            var synced = false
            for _ in 0..<50 where !synced {
                let copyNow = try await cluster.json(["get", "secret", "acr-credential-regcred-p2p", "-n", "team-a"])
                synced = String(describing: try Self.dockerConfig(copyNow)[Self.p2p] ?? "").contains("rotated")
                if !synced { try await Task.sleep(for: .milliseconds(200)) }
            }
            #expect(synced, "the copy follows its rotated source")

            // 6b. A pod naming 5,000 pull secrets (once enough to pin the controller) is
            // answered at once, with the real API server behind it: 32 names considered, the
            // one real secret copied and appended once, and a warning.
            let t5000 = ContinuousClock.now
            let many = try await cluster.run(["apply", "-f", "-"], stdin: Self.pod("many-secrets", namespace: "team-a", labelled: true, extraSecrets: 5000))
            let manyTook = ContinuousClock.now - t5000
            let m = try await cluster.json(["get", "pod", "many-secrets", "-n", "team-a"])
            #expect(Self.images(m)[1] == "\(Self.p2p)/docker-builder/nginx:latest")
            #expect(Self.pullSecrets(m).filter { $0 == "acr-credential-regcred-p2p" }.count == 1 && Self.pullSecrets(m).count == 5002)
            #expect(many.stderr.contains("only the first 32 of the pod's 5001 distinct pull secrets"), "\(many.stderr.prefix(400))")
            #expect(manyTook < .seconds(10), "\(manyTook)")
            print("a pod naming 5,001 pull secrets was admitted and rewritten in \(manyTook)")

            // 7. With the controller down, pods are still admitted (failurePolicy: Ignore), unchanged.
            await controller.process.stop()
            let t0 = ContinuousClock.now
            try await cluster.run(["apply", "-f", "-"], stdin: Self.pod("while-down", namespace: "team-a", labelled: true))
            #expect(ContinuousClock.now - t0 < .seconds(10))
            let e = try await cluster.json(["get", "pod", "while-down", "-n", "team-a"])
            #expect(Self.images(e)[1] == "\(Self.origin)/docker-builder/nginx:latest")
        } catch {
            throw await controller.stop(after: error)
        }
        await controller.stop()
    }

    static func images(_ pod: [String: Any]) -> [String] {
        let spec = pod["spec"] as? [String: Any] ?? [:]
        let all = (spec["initContainers"] as? [[String: Any]] ?? []) + (spec["containers"] as? [[String: Any]] ?? [])
        return all.compactMap { $0["image"] as? String }
    }

    static func annotations(_ object: [String: Any]) -> [String: String] {
        (object["metadata"] as? [String: Any])?["annotations"] as? [String: String] ?? [:]
    }

    static func pullSecrets(_ pod: [String: Any]) -> [String] {
        ((pod["spec"] as? [String: Any])?["imagePullSecrets"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
    }

    static func dockerConfig(_ secret: [String: Any]) throws -> [String: Any] {
        guard let b64 = (secret["data"] as? [String: String])?[".dockerconfigjson"], let data = Data(base64Encoded: b64),
              let json = try JSONSerialization.jsonObject(with: data) as? [String: Any] else { throw TestSupportError("no .dockerconfigjson") }
        return json["auths"] as? [String: Any] ?? [:]
    }

}
