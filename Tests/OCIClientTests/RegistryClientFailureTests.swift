import AsyncHTTPClient
import Foundation
import Hummingbird
import NIOCore
import OCI
import OCIClient
import Synchronization
import TestSupport
import Testing

/// Failure modes that a real registry will not produce on demand.
@Suite("RegistryClient against misbehaving servers")
struct RegistryClientFailureTests {
    func client(for server: LoopbackServer, attempts: Int = 3) -> (RegistryClient, HTTPClient) {
        let http = RegistryClient.makeHTTPClient()
        var config = RegistryClientConfiguration()
        config.plainHTTPRegistries = ["127.0.0.1:\(server.port)"]
        config.retry = RetryPolicy(maxAttempts: attempts, baseDelay: .milliseconds(1))
        return (RegistryClient(httpClient: http, configuration: config, sleep: { _ in }), http)
    }

    @Test func retries5xxButNot4xx() async throws {
        let flakyHits = Atomic<Int>(0)
        let missingHits = Atomic<Int>(0)
        let router = Router()
        router.get("/v2/flaky/manifests/:ref") { _, _ -> Response in
            let n = flakyHits.add(1, ordering: .relaxed).newValue
            if n < 3 { return Response(status: .serviceUnavailable) }
            let body = #"{"schemaVersion":2,"config":{"mediaType":"x","size":1,"digest":"sha256:\#(String(repeating: "a", count: 64))"},"layers":[]}"#
            return Response(status: .ok, headers: [.contentType: MediaType.ociManifest], body: .init(byteBuffer: ByteBuffer(string: body)))
        }
        router.get("/v2/missing/manifests/:ref") { _, _ -> Response in
            missingHits.add(1, ordering: .relaxed)
            return Response(status: .notFound, body: .init(byteBuffer: ByteBuffer(string: #"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#)))
        }
        let server = try await LoopbackServer.start(router: router)
        let (client, http) = client(for: server)
        let repo = { Repository(domain: "127.0.0.1:\(server.port)", path: $0) }
        let m = try await client.manifest(repo("flaky"), reference: "v1")
        #expect(!m.bytes.isEmpty)
        #expect(flakyHits.load(ordering: .relaxed) == 3)
        do {
            let m = try await client.manifest(repo("missing"), reference: "v1")
            Issue.record("a 404 answered \(m.bytes.count) bytes")
        } catch {
            guard case .notFound(_, _, _, let detail) = error else { Issue.record("\(error)"); return }
            #expect(detail == "MANIFEST_UNKNOWN: manifest unknown")
        }
        #expect(missingHits.load(ordering: .relaxed) == 1)
        try await http.shutdown()
        await server.stop()
    }

    @Test func connectionRefusedIsTransportError() async throws {
        // Nothing listens on port 1. AsyncHTTPClient's pool keeps retrying a refused
        // connection until the connect timeout, so that timeout bounds each attempt.
        let http = RegistryClient.makeHTTPClient(connectTimeout: .milliseconds(300))
        var config = RegistryClientConfiguration()
        config.plainHTTPRegistries = ["127.0.0.1:1"]
        config.retry = RetryPolicy(maxAttempts: 2, baseDelay: .milliseconds(1))
        let attempts = Atomic<Int>(0)
        let client = RegistryClient(httpClient: http, configuration: config, sleep: { _ in attempts.add(1, ordering: .relaxed) })
        do {
            _ = try await client.manifest(Repository(domain: "127.0.0.1:1", path: "x"), reference: "v1")
            Issue.record("reached a stopped server")
        } catch {
            guard case .transport = error else { Issue.record("\(error)"); return }
        }
        #expect(attempts.load(ordering: .relaxed) == 1)  // one backoff between two attempts
        try await http.shutdown()
    }

    @Test func redirectToStorageHostDropsAuthorization() async throws {
        let blob = Array("layer bytes".utf8)
        let digest = Digest.compute(of: blob)
        let seenAuthorization = Mutex<[String?]>([])
        let storageRouter = Router()
        storageRouter.get("/storage/:hex") { request, _ -> Response in
            seenAuthorization.withLock { $0.append(request.headers[.authorization]) }
            return Response(status: .ok, body: .init(byteBuffer: ByteBuffer(bytes: blob)))
        }
        let storage = try await LoopbackServer.start(router: storageRouter)
        let registryRouter = Router()
        registryRouter.get("/v2/team/app/blobs/:digest") { request, _ -> Response in
            guard request.headers[.authorization] != nil else {
                return Response(status: .unauthorized, headers: [.wwwAuthenticate: #"Basic realm="test""#])
            }
            // "localhost" is another origin than "127.0.0.1", like a storage bucket host.
            return Response(status: .temporaryRedirect, headers: [.location: "http://localhost:\(storage.port)/storage/\(digest.hex)"])
        }
        let registry = try await LoopbackServer.start(router: registryRouter)
        let (client, http) = client(for: registry)
        let response = try await client.blob(
            Repository(domain: "127.0.0.1:\(registry.port)", path: "team/app"), digest: digest,
            authorization: .credentials(.init(username: "u", password: "p")))
        var got: [UInt8] = []
        for try await chunk in response.body { got += Array(buffer: chunk) }
        #expect(got == blob)
        #expect(seenAuthorization.withLock { $0 } == [nil])
        try await http.shutdown()
        await registry.stop()
        await storage.stop()
    }
}
