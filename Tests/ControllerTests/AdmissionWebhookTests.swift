@testable import Controller
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import OCI
import Testing

/// The webhook on AdmissionReview documents in the v1 wire format, with the in-memory
/// secret store standing in for the API server.
@Suite("Admission webhook")
struct AdmissionWebhookTests {
    static let origin = "test-registry-vpc.cn-hangzhou.cr.aliyuncs.com"

    static func regcred(_ namespace: String) -> Secret {
        let json = #"{"auths":{"\#(origin)":{"username":"alice","password":"wonderland","auth":"YWxpY2U6d29uZGVybGFuZA=="}}}"#
        return Secret(metadata: ObjectMeta(name: "regcred", namespace: namespace), type: "kubernetes.io/dockerconfigjson",
                      data: [".dockerconfigjson": Data(json.utf8).base64EncodedString()])
    }

    static func review(uid: String = "705ab4f5-6393-11e8-b7cc-42010a800002", kind: String = "Pod", dryRun: Bool = false,
                       labels: String = #"{"k8s.aliyun.com/image-accelerate-mode":"p2p"}"#, image: String = "\(origin)/docker-builder/nginx:latest",
                       pullSecrets: [String] = ["regcred"]) -> Data {
        let secrets = pullSecrets.map { #"{"name":"\#($0)"}"# }.joined(separator: ",")
        return Data("""
        {"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview",
         "request":{"uid":"\(uid)","kind":{"group":"","version":"v1","kind":"\(kind)"},
          "resource":{"group":"","version":"v1","resource":"pods"},
          "requestKind":{"group":"","version":"v1","kind":"\(kind)"},"requestResource":{"group":"","version":"v1","resource":"pods"},
          "name":"","namespace":"team-a","operation":"CREATE",
          "userInfo":{"username":"system:serviceaccount:kube-system:replicaset-controller","groups":["system:serviceaccounts"]},
          "object":{"apiVersion":"v1","kind":"Pod","metadata":{"generateName":"web-7d9f-","namespace":"","labels":\(labels),"creationTimestamp":null},
            "spec":{"containers":[{"name":"nginx","image":"\(image)","ports":[{"containerPort":80,"protocol":"TCP"}],"resources":{}}],
              "imagePullSecrets":[\(secrets)],"restartPolicy":"Always"},"status":{}},
          "oldObject":null,"dryRun":\(dryRun),"options":{"apiVersion":"meta.k8s.io/v1","kind":"CreateOptions"}}}
        """.utf8)
    }

    /// A generous deadline by default: tests run in parallel on two cores, and these check
    /// what the webhook answers, not how fast (the slow-server test checks that).
    func webhook(store: InMemorySecretStore, cache: SecretCache? = nil, deadline: Duration = .seconds(20)) -> AdmissionWebhook {
        let policy = ControllerPolicy(registries: [Self.origin])
        return AdmissionWebhook(mutator: PodMutator(policy: policy, version: "0.1.0"),
                                mirror: PullSecretMirror(store: store, policy: policy),
                                namespaces: NamespaceLabelCache(client: nil), secrets: cache, deadline: deadline)
    }

    func patch(_ response: Response) async throws -> [[String: Any]] {
        let (_, json) = try await decode(response)
        let encoded = try #require((json["response"] as? [String: Any])?["patch"] as? String)
        let data = try #require(Data(base64Encoded: encoded))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [[String: Any]])
    }

    func decode(_ response: Response) async throws -> (Int, [String: Any]) {
        let body = Data(try await collectBody(response))
        return (response.status.code, (try JSONSerialization.jsonObject(with: body) as? [String: Any]) ?? [:])
    }

    @Test func aLabelledPodIsPatchedAfterItsSecretCopyExists() async throws {
        let store = InMemorySecretStore([Self.regcred("team-a")])
        let (response, result) = await webhook(store: store).review(Self.review())
        #expect(result == "mutated")
        let (status, json) = try await decode(response)
        #expect(status == 200)
        #expect(json["apiVersion"] as? String == "admission.k8s.io/v1" && json["kind"] as? String == "AdmissionReview")
        let r = try #require(json["response"] as? [String: Any])
        #expect(r["uid"] as? String == "705ab4f5-6393-11e8-b7cc-42010a800002")
        #expect(r["allowed"] as? Bool == true && r["patchType"] as? String == "JSONPatch")
        let patch = String(decoding: Data(base64Encoded: r["patch"] as? String ?? "") ?? Data(), as: UTF8.self)
        #expect(patch.contains(#""path":"\/spec\/containers\/0\/image""#) || patch.contains(#""path":"/spec/containers/0/image""#))
        #expect(patch.contains("test-registry-vpc.distributed.cn-hangzhou.cr.aliyuncs.com:65001/docker-builder/nginx:latest"))
        let copy = try #require(await store.secret(namespace: "team-a", name: "acr-credential-regcred-p2p"))
        let config = try #require(DockerConfig(secret: copy))
        #expect(config.entries.map(\.key) == ["test-registry-vpc.distributed.cn-hangzhou.cr.aliyuncs.com:65001"])
        #expect(config.entries.first?.entry == DockerConfig(secret: Self.regcred("team-a"))?.entries.first?.entry)
        #expect(copy.metadata.ownerReferences?.first?.name == "regcred")
    }

    /// A pod of Kubernetes 1.33, as its API server sends it: a native sidecar (an init
    /// container with `restartPolicy: Always`), an image volume, and an ordinary volume.
    @Test("native sidecars and image volumes are rewritten like containers, with their pull secrets")
    func newerPodShapes() async throws {
        let o = Self.origin
        let review = Data("""
        {"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview",
         "request":{"uid":"u-1","kind":{"group":"","version":"v1","kind":"Pod"},
          "resource":{"group":"","version":"v1","resource":"pods"},"namespace":"team-a","operation":"CREATE",
          "object":{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","labels":{"k8s.aliyun.com/image-accelerate-mode":"p2p"}},
            "spec":{"initContainers":[{"name":"proxy","image":"\(o)/mesh/proxy:1.2","restartPolicy":"Always"}],
              "containers":[{"name":"app","image":"\(o)/team/app:v1","volumeMounts":[{"name":"model","mountPath":"/model"}]}],
              "volumes":[{"name":"scratch","emptyDir":{}},{"name":"model","image":{"reference":"\(o)/models/llm:v3","pullPolicy":"IfNotPresent"}}],
              "imagePullSecrets":[{"name":"regcred"}]}},
          "dryRun":false}}
        """.utf8)
        let store = InMemorySecretStore([Self.regcred("team-a")])
        let (response, result) = await webhook(store: store).review(review)
        #expect(result == "mutated")
        let ops = try await patch(response)
        let replaced = Dictionary(ops.filter { $0["op"] as? String == "replace" }.map { ($0["path"] as? String ?? "", $0["value"] as? String ?? "") },
                                  uniquingKeysWith: { a, _ in a })
        let p2p = "test-registry-vpc.distributed.cn-hangzhou.cr.aliyuncs.com:65001"
        #expect(replaced == ["/spec/initContainers/0/image": "\(p2p)/mesh/proxy:1.2", "/spec/containers/0/image": "\(p2p)/team/app:v1",
                             "/spec/volumes/1/image/reference": "\(p2p)/models/llm:v3"], "\(ops)")
        #expect(ops.contains { $0["path"] as? String == "/spec/imagePullSecrets/-" })
        let annotations = ops.first { $0["path"] as? String == "/metadata/annotations" }?["value"] as? [String: String]
        #expect(annotations?["k8s.aliyun.com/p2p-config"]?.contains(#""volumes\/model":"\#(o)\/models\/llm:v3""#) == true
                || annotations?["k8s.aliyun.com/p2p-config"]?.contains(#""volumes/model":"\#(o)/models/llm:v3""#) == true, "\(annotations ?? [:])")
    }

    @Test func aDryRunCreatesNoSecret() async throws {
        let store = InMemorySecretStore([Self.regcred("team-a")])
        let (_, result) = await webhook(store: store).review(Self.review(dryRun: true))
        #expect(result == "mutated")
        #expect(await store.all.count == 1)
    }

    @Test func aSlowAPIServerAdmitsThePodUnchangedWithinTheDeadline() async throws {
        let store = InMemorySecretStore([Self.regcred("team-a")], delay: .seconds(120))
        let t0 = ContinuousClock.now
        let (response, result) = await webhook(store: store, deadline: .milliseconds(300)).review(Self.review())
        // The API server takes 120 s; the answer comes at the 300 ms deadline. The bound is
        // loose because CI runs every suite at once on two cores (timers there were seen
        // firing 10.7 s late); what matters is that the webhook does not wait for the server.
        #expect(ContinuousClock.now - t0 < .seconds(60))
        #expect(result == "error")
        let (_, json) = try await decode(response)
        let r = try #require(json["response"] as? [String: Any])
        #expect(r["allowed"] as? Bool == true && r["patch"] == nil)
        #expect((r["warnings"] as? [String])?.first?.contains("not accelerated") == true)
    }

    @Test func otherKindsAndUnselectedPodsPassUntouched() async throws {
        let store = InMemorySecretStore([Self.regcred("team-a")])
        #expect(await webhook(store: store).review(Self.review(kind: "ConfigMap")).1 == "ignored")
        #expect(await webhook(store: store).review(Self.review(labels: "{}")).1 == "unchanged")
        #expect(await webhook(store: store).review(Self.review(image: "nginx:1.25")).1 == "unchanged")
    }

    @Test func aPodNamingThousandsOfPullSecretsCostsBoundedWork() async throws {
        // 20,000 distinct names once meant 20,000 concurrent GETs, a pegged event loop and
        // no answer. Now at most `maximumPullSecrets` are read, a few at a time.
        let store = InMemorySecretStore([Self.regcred("team-a")], delay: .milliseconds(1))
        let names = ["regcred", "regcred"] + (0..<20_000).map { "bogus-\($0)" }
        let (response, result) = await webhook(store: store).review(Self.review(pullSecrets: names))
        #expect(result == "mutated")
        let reads = await store.reads, peak = await store.peakConcurrentReads
        // The pod's first 32 distinct names, and the copy's own read before it is created;
        // literals, so that raising either bound fails this test.
        #expect(reads <= 33, "\(reads) secret reads")
        #expect(peak <= 4, "\(peak) reads in flight at once")
        let (_, json) = try await decode(response)
        let warnings = (json["response"] as? [String: Any])?["warnings"] as? [String] ?? []
        #expect(warnings.contains { $0.contains("only the first 32 of the pod's 20001 distinct pull secrets") }, "\(warnings)")
        // The duplicate name yields one copy, appended once.
        let added = try await patch(response).filter { ($0["path"] as? String) == "/spec/imagePullSecrets/-" }
        #expect(added.count == 1)
    }

    @Test func pullSecretsComeFromTheWatchedCache() async throws {
        let store = InMemorySecretStore([Self.regcred("team-a")])
        let cache = SecretCache()
        await cache.apply(.replaced([Self.regcred("team-a")]), type: "kubernetes.io/dockerconfigjson")
        await cache.apply(.upserted(Secret(metadata: ObjectMeta(name: "tls", namespace: "team-a"), type: "kubernetes.io/tls", data: [:])),
                          type: "kubernetes.io/dockerconfigjson")
        #expect(await cache.secret(namespace: "team-a", name: "tls") == nil, "only pull-secret types are kept")
        let hook = webhook(store: store, cache: cache)
        #expect(await hook.review(Self.review()).1 == "mutated")
        // The source came from the cache; only the copy's create went to the API server
        // (after reading that the copy does not exist yet).
        #expect(await store.reads == 1)
        // Once the watch shows the copy, a review of the next pod costs no API call at all.
        let copy = try #require(await store.secret(namespace: "team-a", name: "acr-credential-regcred-p2p"))
        await cache.apply(.upserted(copy), type: "kubernetes.io/dockerconfigjson")
        let before = await store.reads
        #expect(await hook.review(Self.review()).1 == "mutated")
        #expect(await store.reads == before)
    }

    @Test("deeply nested JSON gets a 400 and never reaches Foundation's trap", arguments: [
        String(repeating: "[", count: 513),
        String(repeating: "[", count: 512),
        String(repeating: "[", count: 513) + " ",
        String(repeating: "[", count: 100_000),
        #"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":"# + String(repeating: "[", count: 512),
        #"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","kind":{"group":"","version":"v1","kind":"Pod"},"operation":"CREATE","namespace":"n","object":"# + String(repeating: "{\"a\":", count: 600),
    ])
    func deeplyNestedInput(body: String) async throws {
        // Before the depth check, the first and fifth bodies killed the process (SIGILL in
        // Foundation's JSON error reporting), so this test could only fail by crashing.
        let (response, result) = await webhook(store: InMemorySecretStore()).review(Data(body.utf8))
        #expect(result == "invalid")
        let (status, json) = try await decode(response)
        #expect(status == 400)
        #expect((json["error"] as? String)?.contains("not an AdmissionReview") == true, "\(json)")
    }

    @Test("malformed input gets a 400 that says what is wrong", arguments: [
        ("", "not an AdmissionReview"),
        ("{", "not an AdmissionReview"),
        (#"{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":null}"#, "admission.k8s.io/v1"),
        (#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}"#, "with a request"),
        (#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","kind":{"group":"","version":"v1","kind":"Pod"},"operation":"CREATE","namespace":"n","object":{"metadata":{}}}}"#, "missing field spec"),
        (#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","kind":{"group":"","version":"v1","kind":"Pod"},"operation":"CREATE","namespace":"n","object":{"metadata":{},"spec":{"containers":"nginx"}}}}"#, "wrong type at spec.containers"),
        (#"[1,2,3]"#, "not an AdmissionReview"),
    ])
    func malformed(body: String, message: String) async throws {
        let (response, result) = await webhook(store: InMemorySecretStore()).review(Data(body.utf8))
        #expect(result == "invalid")
        let (status, json) = try await decode(response)
        #expect(status == 400)
        #expect((json["error"] as? String)?.contains(message) == true, "\(json)")
    }
}

func collectBody(_ response: Response) async throws -> [UInt8] {
    final class Collector: @unchecked Sendable { var bytes: [UInt8] = [] }
    let c = Collector()
    struct Writer: ResponseBodyWriter {
        let c: Collector
        mutating func write(_ buffer: ByteBuffer) async throws { c.bytes += buffer.readableBytesView }
        consuming func finish(_ trailingHeaders: HTTPFields?) async throws {}
    }
    _ = try await response.body.write(Writer(c: c))
    return c.bytes
}
