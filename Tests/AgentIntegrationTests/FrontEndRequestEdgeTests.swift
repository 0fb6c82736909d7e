@testable import Agent
import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import OCI
import OCIClient
import SyntheticImages
import TestSupport
import Testing

/// Requests at the edges of the spec, against a real registry through the agent with its
/// cache: Range corner cases, many clients at once, a manifest asked for by a blob's
/// digest. Each was a defect: a 502 where a 416 belongs, a full origin fetch per
/// malformed Range, one origin HEAD per concurrent client, a 502 for a 404.
@Suite("Agent front end: edge requests", .serialized)
struct FrontEndRequestEdgeTests {
    static let image = SyntheticImage(layerSizes: [200_000, 300_000], seed: 31)

    /// The agent (cache, manifests, gate) before an open registry holding `image`.
    struct Rig {
        let registry: RegistryServer
        let http: HTTPClient
        let agent: LoopbackServer
        let metrics: AgentMetrics
        let cache: BlobCache
        let dir: TemporaryDirectory
        let layers: [Descriptor]
        let config: Descriptor

        var base: String { "http://127.0.0.1:\(agent.port)/v2/team/app" }

        static func start() async throws -> Rig {
            let registry = try await RegistryServer.start()
            let http = RegistryClient.makeHTTPClient()
            let dir = try TemporaryDirectory(prefix: "peerpull-cache")
            do {
                let pushed = try await TestImages.push(FrontEndRequestEdgeTests.image, to: registry, repository: "team/app", tag: "v1")
                var configuration = RegistryClientConfiguration()
                configuration.plainHTTPRegistries = [registry.domain]
                let client = RegistryClient(httpClient: http, configuration: configuration)
                let manifest = try await client.manifest(Repository(domain: registry.domain, path: "team/app"), reference: pushed.digest.description)
                guard case .image(let image) = try manifest.document() else { throw TestSupportError("expected an image manifest") }
                let frontEnd = try FrontEndUnderTest(origin: registry.domain, client: client, dir: dir)
                let agent = try await LoopbackServer.start(router: frontEnd.router)
                return Rig(registry: registry, http: http, agent: agent, metrics: frontEnd.metrics, cache: frontEnd.cache, dir: dir, layers: image.layers, config: image.config)
            } catch {
                try? await http.shutdown(); registry.stop(); dir.remove()
                throw error
            }
        }

        func stop() async {
            await agent.stop(); try? await http.shutdown(); registry.stop(); dir.remove()
        }

        /// Status, headers and body of one request to the agent.
        func get(_ path: String, method: HTTPMethod = .GET, headers: [(String, String)] = []) async throws -> (Int, HTTPHeaders, [UInt8]) {
            var request = HTTPClientRequest(url: base + path)
            request.method = method
            for (name, value) in headers { request.headers.add(name: name, value: value) }
            let response = try await http.execute(request, timeout: .seconds(30))
            let body = try await response.body.collect(upTo: 16 << 20)
            return (Int(response.status.code), response.headers, Array(buffer: body))
        }

        /// The agent's requests at the origin (skopeo's push is in the log too).
        func originRequests(_ method: String, _ digest: Digest) -> Int {
            registry.accessLog().filter { $0.contains("\"\(method) /v2/team/app/blobs/\(digest)") && !$0.contains("skopeo") }.count
        }

        func metric(_ series: String) -> Double { TestSupport.metric(metrics.render(), series) }
    }

    @Test func rangesOnAnUncachedBlobAreResolvedAgainstItsSize() async throws {
        let rig = try await Rig.start()
        do {
            let layer = rig.layers[0]
            let whole = try Data(contentsOf: URL(fileURLWithPath: rig.registry.blobDataPath(layer.digest.description)))
            // Unsatisfiable: answered by the agent from the size the origin reported, with the
            // complete length, exactly as a cached blob answers (was: 502 for bytes=-0, and a
            // 416 without Content-Range).
            for range in ["bytes=-0", "bytes=\(layer.size)-", "bytes=\(layer.size + 10)-\(layer.size + 20)"] {
                let (status, headers, _) = try await rig.get("/blobs/\(layer.digest)", headers: [("Range", range)])
                #expect(status == 416, "\(range)")
                #expect(headers["Content-Range"].first == "bytes */\(layer.size)", "\(range): \(headers)")
            }
            // Satisfiable: only that span is asked of the origin.
            let (status, headers, body) = try await rig.get("/blobs/\(layer.digest)", headers: [("Range", "bytes=-10")])
            #expect(status == 206)
            #expect(headers["Content-Range"].first == "bytes \(layer.size - 10)-\(layer.size - 1)/\(layer.size)")
            #expect(body == Array(whole.suffix(10)))
            #expect(rig.metric(#"peerpull_agent_bytes_total{direction="in",source="origin"}"#) <= 10)
        } catch { await rig.stop(); throw error }
        await rig.stop()
    }

    @Test func rangesTheAgentDoesNotServeNeverCostAnOriginFetch() async throws {
        let rig = try await Rig.start()
        do {
            let layer = rig.layers[1]
            let (status, _, whole) = try await rig.get("/blobs/\(layer.digest)")
            #expect(status == 200 && whole.count == Int(layer.size))
            await rig.cache.downloadEnded(layer.digest)  // the download has published into the cache
            #expect(await rig.cache.contents[layer.digest] != nil)
            let originGETs = rig.originRequests("GET", layer.digest)
            #expect(originGETs == 1)
            let hits = rig.metric(#"peerpull_agent_cache_requests_total{result="hit"}"#)
            // Malformed, reversed, several ranges, an end past 18 digits: RFC 9110 lets the
            // server ignore the header, and the agent sends the whole blob from its cache
            // (was: a fresh full origin fetch on every such request, uncounted).
            let ranges = ["bytes=5-3", "bytes=0-1,5-6", "bytes=0-1234567890123456789", "bytes=abc", "pages=0-1"]
            for range in ranges {
                let (status, _, body) = try await rig.get("/blobs/\(layer.digest)", headers: [("Range", range)])
                #expect(status == 200, "\(range)")
                #expect(body == whole, "\(range)")
            }
            #expect(rig.originRequests("GET", layer.digest) == originGETs, "no blob GET reached the origin")
            #expect(rig.metric(#"peerpull_agent_cache_requests_total{result="hit"}"#) == hits + Double(ranges.count))
        } catch { await rig.stop(); throw error }
        await rig.stop()
    }

    @Test func concurrentClientsShareOneAuthorizationCheck() async throws {
        let rig = try await Rig.start()
        do {
            let layer = rig.layers[0]
            let bodies = try await withThrowingTaskGroup(of: [UInt8].self) { group in
                for _ in 0..<50 {
                    group.addTask { try await rig.get("/blobs/\(layer.digest)", headers: [("Authorization", "Basic YWxpY2U6d29uZGVybGFuZA==")]).2 }
                }
                return try await group.reduce(into: [[UInt8]]()) { $0.append($1) }
            }
            #expect(bodies.count == 50 && Set(bodies.map { $0.count }) == [Int(layer.size)])
            // One HEAD for one caller and one blob (was: about 10 for 50 clients).
            #expect(rig.originRequests("HEAD", layer.digest) == 1)
            #expect(rig.metric(#"peerpull_agent_authorization_checks_total{result="allowed"}"#) == 1)
        } catch { await rig.stop(); throw error }
        await rig.stop()
    }

    @Test func aManifestAskedForByABlobDigestIsManifestUnknown() async throws {
        let rig = try await Rig.start()
        do {
            // The registry answers 500 UNKNOWN for these (it fails to parse a layer as a
            // manifest); the agent answers as the distribution spec says, 404 MANIFEST_UNKNOWN.
            for digest in [rig.layers[0].digest, rig.config.digest] {
                for method in [HTTPMethod.GET, .HEAD] {
                    let (status, _, body) = try await rig.get("/manifests/\(digest)", method: method)
                    #expect(status == 404, "\(method) \(digest)")
                    if method == .GET { #expect(String(decoding: body, as: UTF8.self).contains("MANIFEST_UNKNOWN")) }
                }
            }
            // A digest the registry does not have at all stays a plain 404.
            let absent = Digest.compute(of: Array("absent".utf8))
            #expect(try await rig.get("/manifests/\(absent)").0 == 404)
            #expect(rig.metric("peerpull_agent_unknown_registry_requests_total") == 0)
            // A registry the agent does not accelerate: 404 NAME_UNKNOWN, counted (containerd
            // would go to its next host without a word).
            let (status, _, body) = try await rig.get("/manifests/v1?ns=elsewhere.example.com")
            #expect(status == 404 && String(decoding: body, as: UTF8.self).contains("NAME_UNKNOWN"))
            #expect(rig.metric("peerpull_agent_unknown_registry_requests_total") == 1)
        } catch { await rig.stop(); throw error }
        await rig.stop()
    }
}
