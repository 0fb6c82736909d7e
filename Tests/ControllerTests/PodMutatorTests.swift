@testable import Controller
import Foundation
import OCI
import Testing

/// Pull secrets and pods as the API server sends them.
enum Fixtures {
    static let origin = "test-registry-vpc.cn-hangzhou.cr.aliyuncs.com"
    static let p2p = "test-registry-vpc.distributed.cn-hangzhou.cr.aliyuncs.com:65001"

    static func dockerConfig(_ keys: [String]) -> DockerConfig {
        DockerConfig(format: .dockerConfigJSON, entries: keys.map {
            ($0, .object(["auth": .string(Data("alice:secret".utf8).base64EncodedString())]))
        })
    }

    static func pod(labels: [String: String]? = nil, annotations: [String: String]? = nil,
                    containers: [(String, String)], initContainers: [(String, String)]? = nil, secrets: [String]? = nil) -> Pod {
        Pod(metadata: ObjectMeta(name: "p", labels: labels, annotations: annotations),
            spec: PodSpec(containers: containers.map { Container(name: $0.0, image: $0.1) },
                          initContainers: initContainers?.map { Container(name: $0.0, image: $0.1) },
                          imagePullSecrets: secrets?.map(LocalObjectReference.init(name:)), serviceAccountName: nil))
    }
}

@Suite("Pod mutator")
struct PodMutatorTests {
    let mutator = PodMutator(policy: ControllerPolicy(registries: [Fixtures.origin, "harbor.example.com:8443"]), version: "0.1.0")
    let p2pLabel = ["k8s.aliyun.com/image-accelerate-mode": "p2p"]

    @Test func rewritesTheProductExampleAndAddsTheSecretAndAnnotations() throws {
        let pod = Fixtures.pod(labels: p2pLabel, containers: [("nginx", "\(Fixtures.origin)/docker-builder/nginx:latest")], secrets: ["test-registry"])
        let plan = mutator.plan(pod: pod, namespace: "default", namespaceLabels: nil,
                                pullSecrets: ["test-registry": Fixtures.dockerConfig([Fixtures.origin])])
        #expect(plan.rewrites == [.init(container: "containers/nginx", from: "\(Fixtures.origin)/docker-builder/nginx:latest",
                                        to: "\(Fixtures.p2p)/docker-builder/nginx:latest")])
        #expect(plan.copies == [.init(source: "test-registry", copy: "acr-credential-test-registry-p2p", origins: [Fixtures.origin])])
        #expect(plan.patch[0] == .replace("/spec/containers/0/image", .string("\(Fixtures.p2p)/docker-builder/nginx:latest")))
        #expect(plan.patch[1] == .add("/spec/imagePullSecrets/-", .object(["name": .string("acr-credential-test-registry-p2p")])))
        guard case .object(let annotations) = plan.patch[2].value else { Issue.record("annotations"); return }
        #expect(plan.patch[2].path == "/metadata/annotations")
        #expect(annotations["k8s.aliyun.com/image-accelerate-mode"] == .string("p2p"))
        guard case .string(let config)? = annotations["k8s.aliyun.com/p2p-config"] else { Issue.record("config"); return }
        #expect(config == #"{"controller":"0.1.0","images":{"containers/nginx":"test-registry-vpc.cn-hangzhou.cr.aliyuncs.com/docker-builder/nginx:latest"},"port":65001,"secrets":{"test-registry":"acr-credential-test-registry-p2p"},"version":1}"#)
    }

    @Test func keepsPathTagAndDigestByteForByteAndHandlesInitContainersAndPorts() {
        let digest = "sha256:" + String(repeating: "ab", count: 32)
        let pod = Fixtures.pod(
            labels: p2pLabel,
            annotations: ["team": "a"],
            containers: [("a", "\(Fixtures.origin)/ns/app:v1@\(digest)"), ("b", "nginx:1.25"), ("c", "docker.io/library/redis")],
            initContainers: [("i", "Harbor.Example.com:8443/lib/tool@\(digest)")],
            secrets: ["s1", "s2", "unrelated"])
        let plan = mutator.plan(pod: pod, namespace: "team-a", namespaceLabels: nil, pullSecrets: [
            "s1": Fixtures.dockerConfig(["https://\(Fixtures.origin)/v2/"]),
            "s2": Fixtures.dockerConfig(["harbor.example.com:8443"]),
            "unrelated": Fixtures.dockerConfig(["ghcr.io"]),
        ])
        #expect(plan.rewrites.map(\.container) == ["initContainers/i", "containers/a"])
        // The domain as written (any case) is replaced; path, tag and digest are kept as they were.
        #expect(plan.rewrites.map(\.to) == ["harbor.distributed.example.com:65001/lib/tool@\(digest)", "\(Fixtures.p2p)/ns/app:v1@\(digest)"])
        #expect(plan.patch.contains(.replace("/spec/initContainers/0/image", .string("harbor.distributed.example.com:65001/lib/tool@\(digest)"))))
        #expect(plan.copies.map(\.copy) == ["acr-credential-s1-p2p", "acr-credential-s2-p2p"])
        // Existing annotations: keys added one by one, `/` escaped as `~1`.
        #expect(plan.patch.contains(.add("/metadata/annotations/k8s.aliyun.com~1image-accelerate-mode", .string("p2p"))))
        #expect(plan.patch.contains { $0.path == "/metadata/annotations/k8s.aliyun.com~1p2p-config" })
    }

    @Test func aNamespaceLabelSelectsAndAPodLabelWithAnotherValueOptsOut() {
        let image = "\(Fixtures.origin)/a/b:1"
        let secrets = ["s": Fixtures.dockerConfig([Fixtures.origin])]
        let nsLabels = p2pLabel
        let inNamespace = Fixtures.pod(containers: [("c", image)], secrets: ["s"])
        #expect(mutator.plan(pod: inNamespace, namespace: "n", namespaceLabels: nsLabels, pullSecrets: secrets).rewrites.count == 1)
        let optedOut = Fixtures.pod(labels: ["k8s.aliyun.com/image-accelerate-mode": "on-demand"], containers: [("c", image)], secrets: ["s"])
        #expect(mutator.plan(pod: optedOut, namespace: "n", namespaceLabels: nsLabels, pullSecrets: secrets).patch.isEmpty)
        #expect(mutator.plan(pod: inNamespace, namespace: "n", namespaceLabels: [:], pullSecrets: secrets).patch.isEmpty)
        #expect(mutator.plan(pod: inNamespace, namespace: "kube-system", namespaceLabels: nsLabels, pullSecrets: secrets).skipped != nil)
        let mirror = Fixtures.pod(labels: p2pLabel, annotations: ["kubernetes.io/config.mirror": "x"], containers: [("c", image)], secrets: ["s"])
        #expect(mutator.plan(pod: mirror, namespace: "n", namespaceLabels: nil, pullSecrets: secrets).patch.isEmpty)
    }

    @Test func withoutACoveringSecretTheImageKeepsItsOriginUnlessTheRegistryIsAnonymous() {
        let pod = Fixtures.pod(labels: p2pLabel, containers: [("c", "\(Fixtures.origin)/a/b:1")])
        let plan = mutator.plan(pod: pod, namespace: "n", namespaceLabels: nil, pullSecrets: [:])
        #expect(plan.patch.isEmpty)
        #expect(plan.warnings.first?.contains("no pull secret") == true)
        var anonymous = mutator
        anonymous.policy.anonymousRegistries = [Fixtures.origin]
        let public_ = anonymous.plan(pod: pod, namespace: "n", namespaceLabels: nil, pullSecrets: [:])
        #expect(public_.rewrites.count == 1)
        #expect(public_.copies.isEmpty)
        #expect(!public_.patch.contains { $0.path.hasPrefix("/spec/imagePullSecrets") })
    }

    @Test func reinvocationOnAMutatedPodChangesNothing() throws {
        let original = Fixtures.pod(labels: p2pLabel, containers: [("c", "\(Fixtures.origin)/a/b:1")], secrets: ["s"])
        let secrets = ["s": Fixtures.dockerConfig([Fixtures.origin])]
        let first = mutator.plan(pod: original, namespace: "n", namespaceLabels: nil, pullSecrets: secrets)
        let mutated = try JSONPatchApplier.apply(first.patch, to: original)
        #expect(mutated.spec.imagePullSecrets?.map(\.name) == ["s", "acr-credential-s-p2p"])
        let again = mutator.plan(pod: mutated, namespace: "n", namespaceLabels: nil, pullSecrets: secrets)
        #expect(again.patch.isEmpty)
        // A container added by a later webhook is rewritten on the next round, and the record merges.
        var grown = mutated
        grown.spec.containers.append(Container(name: "sidecar", image: "\(Fixtures.origin)/x/y:2"))
        let third = mutator.plan(pod: grown, namespace: "n", namespaceLabels: nil, pullSecrets: secrets)
        #expect(third.patch.count == 2)  // the image, and the updated p2p-config
        let final = try JSONPatchApplier.apply(third.patch, to: grown)
        let record = try #require(final.metadata.annotations?["k8s.aliyun.com/p2p-config"].flatMap(P2PConfigAnnotation.init(json:)))
        #expect(record.images.keys.sorted() == ["containers/c", "containers/sidecar"])
    }

    @Test func secretKeysMatchTheWayKubeletMatchesThem() {
        #expect(DockerConfig.key("test-registry-vpc.cn-hangzhou.cr.aliyuncs.com", covers: Fixtures.origin, repository: "a/b"))
        #expect(DockerConfig.key("https://\(Fixtures.origin)/v1/", covers: Fixtures.origin, repository: "a/b"))
        #expect(DockerConfig.key("*.cn-hangzhou.cr.aliyuncs.com", covers: Fixtures.origin, repository: "a/b"))
        #expect(!DockerConfig.key("*.cr.aliyuncs.com", covers: Fixtures.origin, repository: "a/b"))  // label counts differ
        #expect(!DockerConfig.key("\(Fixtures.origin):443", covers: Fixtures.origin, repository: "a/b"))  // ports differ
        #expect(DockerConfig.key("\(Fixtures.origin)/a", covers: Fixtures.origin, repository: "a/b"))
        #expect(!DockerConfig.key("\(Fixtures.origin)/c", covers: Fixtures.origin, repository: "a/b"))
        #expect(!DockerConfig.key(Fixtures.p2p, covers: Fixtures.origin, repository: "a/b"))
        #expect(DockerConfig.key(Fixtures.p2p, covers: Fixtures.p2p, repository: "a/b"))
        #expect(ControllerPolicy.copyName(of: String(repeating: "x", count: 250)).count <= 253)
    }
}

/// Applies the add/replace operations the mutator emits (enough of RFC 6902 to check
/// that a patch does what it says on a decoded pod).
enum JSONPatchApplier {
    static func apply(_ ops: [JSONPatchOperation], to pod: Pod) throws -> Pod {
        var json = try JSONDecoder().decode(JSONValue.self, from: JSONEncoder().encode(pod))
        for op in ops {
            let segments = op.path.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
                .map { $0.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~") }
            json = try set(json, Array(segments), op.value, op: op.op)
        }
        return try JSONDecoder().decode(Pod.self, from: JSONEncoder().encode(json))
    }

    static func set(_ node: JSONValue, _ path: [String], _ value: JSONValue, op: String) throws -> JSONValue {
        guard let head = path.first else { return value }
        switch node {
        case .object(var o):
            if path.count == 1 {
                if op == "replace" && o[head] == nil { throw PatchError.missing(head) }
                o[head] = value
            } else { o[head] = try set(o[head] ?? .null, Array(path.dropFirst()), value, op: op) }
            return .object(o)
        case .array(var a):
            if head == "-" && path.count == 1 { a.append(value); return .array(a) }
            guard let i = Int(head), a.indices.contains(i) else { throw PatchError.missing(head) }
            a[i] = path.count == 1 ? value : try set(a[i], Array(path.dropFirst()), value, op: op)
            return .array(a)
        default: throw PatchError.missing(head)
        }
    }

    enum PatchError: Error { case missing(String) }
}
