import Agent
import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
import OCI
import OCIClient
import SyntheticImages
import TestSupport
import Testing

/// A value from the Prometheus text exposition, e.g. `peerpull_agent_bytes_total{direction="in",source="origin"}`.

/// The agent with its cache in front of a real registry, pulled by skopeo and curl.
@Suite("Agent cache and authorization gate", .serialized)
struct AgentCacheTests {
    static func layers(_ document: ManifestDocument) -> [Descriptor] {
        if case .image(let m) = document { return m.layers }
        return []
    }

    static let image = SyntheticImage(layerSizes: [300_000, 1_200_000], seed: 23)

    @Test("second pull is served from the cache; uncredentialed callers get 401 and no bytes", arguments: ["basic", "token"])
    func secondPullFromCache(kind: String) async throws {
        let users = ["alice": "wonderland"]
        var token: TokenServer?
        let auth: RegistryServer.Auth
        if kind == "token" {
            token = try await TokenServer.start(users: users)
            auth = .token(token!)
        } else {
            auth = .basic(users: users)
        }
        let registry = try await RegistryServer.start(auth: auth)
        let http = RegistryClient.makeHTTPClient()
        let dir = try TemporaryDirectory(prefix: "peerpull-cache")
        var agent: LoopbackServer?
        defer { dir.remove() }
        do {
            let pushed = try await TestImages.push(Self.image, to: registry, repository: "team/app", tag: "v1", credentials: ("alice", "wonderland"))
            var config = RegistryClientConfiguration()
            config.plainHTTPRegistries = [registry.domain]
            let client = RegistryClient(httpClient: http, configuration: config)
            let rig = try FrontEndUnderTest(origin: registry.domain, client: client, dir: dir)
            let metrics = rig.metrics
            agent = try await LoopbackServer.start(router: rig.router)
            let base = "127.0.0.1:\(agent!.port)"

            func pull(_ name: String) async throws {
                try await Command.run(["skopeo", "--insecure-policy", "copy", "--src-tls-verify=false", "--src-creds", "alice:wonderland",
                                       "docker://\(base)/team/app:v1", "oci:\(dir.file(name)):v1"])
                #expect(try OCILayout(root: dir.file(name)).index().manifests.first?.digest == pushed.digest)
            }
            func originBlobGETs() -> Int { registry.accessLog().filter { $0.contains("\"GET /v2/team/app/blobs/") }.count }

            try await pull("first")
            let afterFirst = metrics.render()
            let originBytes = metric(afterFirst, #"peerpull_agent_bytes_total{direction="in",source="origin"}"#)
            let blobGETs = originBlobGETs()
            #expect(originBytes >= 1_500_000)
            #expect(blobGETs == 3)  // two layers and the config, each fetched once

            try await pull("second")
            let afterSecond = metrics.render()
            #expect(originBlobGETs() == blobGETs, "no blob byte came from the origin the second time")
            #expect(metric(afterSecond, #"peerpull_agent_bytes_total{direction="in",source="origin"}"#) == originBytes)
            #expect(metric(afterSecond, #"peerpull_agent_cache_requests_total{result="hit"}"#) == 3)
            #expect(metric(afterSecond, #"peerpull_agent_bytes_total{direction="out",source="cache"}"#)
                    == metric(afterFirst, #"peerpull_agent_bytes_total{direction="out",source="origin"}"#))
            #expect(metric(afterSecond, "peerpull_agent_cache_hit_ratio") == 0.5)
            #expect(afterSecond.contains("peerpull_agent_request_duration_seconds_bucket"))

            // The biggest layer is on disk now. Without credentials, or with wrong ones,
            // the caller gets the origin's 401 and its challenge, never the bytes.
            let manifest = try await client.manifest(Repository(domain: registry.domain, path: "team/app"), reference: "v1",
                                                     authorization: .credentials(.init(username: "alice", password: "wonderland")))
            let layer = try #require(Self.layers(try manifest.document()).max(by: { $0.size < $1.size }))
            let url = "http://\(base)/v2/team/app/blobs/\(layer.digest)"
            for extra in [[String](), ["-u", "alice:wrong"], ["-H", "Authorization: Bearer forged"]] {
                let r = try await Command.run(["curl", "-s", "-D", "-", "-o", dir.file("denied"), "-w", "%{http_code}"] + extra + [url], check: false)
                #expect(r.stdout.hasSuffix("401"), "\(extra): \(r.stdout)")
                #expect(r.stdout.lowercased().contains("www-authenticate: " + (kind == "token" ? "bearer" : "basic")))
                let body = try Data(contentsOf: URL(fileURLWithPath: dir.file("denied")))
                #expect(body.count < 500 && String(decoding: body, as: UTF8.self).contains("UNAUTHORIZED"))
            }

            // Ranges on a cached blob are answered from disk (RFC 9110 suffix semantics).
            let creds = kind == "token" ? ["-H", "Authorization: Bearer \(token!.issue(user: "alice", repository: "team/app"))"] : ["-u", "alice:wonderland"]
            let r = try await Command.run(["curl", "-s", "-o", dir.file("tail"), "-w", "%{http_code}", "-H", "Range: bytes=-10"] + creds + [url])
            #expect(r.stdout == "206")
            let whole = try Data(contentsOf: URL(fileURLWithPath: dir.file("first/blobs/sha256/\(layer.digest.hex)")))
            #expect(try Data(contentsOf: URL(fileURLWithPath: dir.file("tail"))) == whole.suffix(10))
            let bad = try await Command.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Range: bytes=\(layer.size)-"] + creds + [url])
            #expect(bad.stdout == "416")

            // By-digest manifests come from the cache after the gate's HEAD.
            let manifestGETs = registry.accessLog().filter { $0.contains("\"GET /v2/team/app/manifests/sha256:") }.count
            for _ in 0..<2 {
                let m = try await Command.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}"] + creds + ["http://\(base)/v2/team/app/manifests/\(pushed.digest)"])
                #expect(m.stdout == "200")
            }
            #expect(registry.accessLog().filter { $0.contains("\"GET /v2/team/app/manifests/sha256:") }.count == manifestGETs)
        } catch {
            await agent?.stop(); try? await http.shutdown(); registry.stop(); await token?.stop()
            throw error
        }
        await agent?.stop(); try? await http.shutdown(); registry.stop(); await token?.stop()
    }
}
