import Agent
import OCI
import Testing

private let hex = String(repeating: "a", count: 64)

@Suite("RegistryRoute and OriginResolver")
struct RegistryRouteTests {
    @Test func validRoutes() throws {
        #expect(try RegistryRoute.parse(path: "/v2/").get() == .base)
        #expect(try RegistryRoute.parse(path: "/v2/team/app/manifests/v1").get() == .manifest(repository: "team/app", reference: .tag("v1")))
        #expect(try RegistryRoute.parse(path: "/v2/a/manifests/sha256:\(hex)").get() == .manifest(repository: "a", reference: .digest(try Digest(parsing: "sha256:\(hex)"))))
        #expect(try RegistryRoute.parse(path: "/v2/x/blobs/y/blobs/sha256:\(hex)").get() == .blob(repository: "x/blobs/y", digest: try Digest(parsing: "sha256:\(hex)")))
    }

    @Test("bad paths are refused", arguments: [
        ("/v2/team/app/blobs/sha256:../../etc/passwd", 400, "DIGEST_INVALID"),
        ("/v2/team/app/blobs/sha256:%2e%2e", 400, "DIGEST_INVALID"),
        ("/v2/../etc/blobs/sha256:\(hex)", 400, "NAME_INVALID"),
        ("/v2/Team/app/manifests/v1", 400, "NAME_INVALID"),
        ("/v2/team//app/manifests/v1", 400, "NAME_INVALID"),
        ("/v2/team/app/manifests/-bad", 400, "TAG_INVALID"),
        ("/v2/team/app/manifests/sha256:xyz", 400, "DIGEST_INVALID"),
        ("/v2/team/app/tags/list", 404, "UNSUPPORTED"),
        ("/etc/passwd", 404, "NOT_FOUND"),
        ("/v2/" + String(repeating: "a/", count: 1100) + "manifests/x", 414, "NAME_INVALID"),
    ])
    func bad(_ vector: (String, Int, String)) {
        guard case .failure(let e) = RegistryRoute.parse(path: vector.0) else { Issue.record("accepted \(vector.0)"); return }
        #expect(e.status == vector.1)
        #expect(e.code == vector.2)
    }

    @Test func originResolution() throws {
        let r = OriginResolver(origins: ["test-registry-vpc.cn-hangzhou.cr.aliyuncs.com", "ghcr.io"], rule: P2PHostRule())
        #expect(try r.origin(host: "test-registry-vpc.distributed.cn-hangzhou.cr.aliyuncs.com:65001", namespace: nil).get() == "test-registry-vpc.cn-hangzhou.cr.aliyuncs.com")
        #expect(try r.origin(host: "127.0.0.1:65001", namespace: "ghcr.io").get() == "ghcr.io")
        // containerd pulling a rewritten image names its registry, the P2P host, in ?ns=.
        #expect(try r.origin(host: "127.0.0.1:65001", namespace: "test-registry-vpc.distributed.cn-hangzhou.cr.aliyuncs.com:65001").get()
                    == "test-registry-vpc.cn-hangzhou.cr.aliyuncs.com")
        #expect((try? r.origin(host: "127.0.0.1:65001", namespace: "evil.distributed.example.com:65001").get()) == nil)
        // Unknown registries are never proxied.
        #expect((try? r.origin(host: "evil.distributed.example.com:65001", namespace: nil).get()) == nil)
        #expect((try? r.origin(host: "127.0.0.1:65001", namespace: "evil.example.com").get()) == nil)
        #expect((try? r.origin(host: "127.0.0.1:65001", namespace: nil).get()) == nil)
        let single = OriginResolver(origins: ["ghcr.io"], rule: P2PHostRule())
        #expect(try single.origin(host: "127.0.0.1:65001", namespace: nil).get() == "ghcr.io")
    }
}
