import AsyncHTTPClient
import Foundation
import Hummingbird
import NIOCore
import OCI
import OCIClient
import Synchronization
import SyntheticImages
import TestSupport
import Testing

/// The registry client against real registries (Debian's docker-registry) in each
/// auth setup, and against loopback servers for redirects and failures.
@Suite("RegistryClient", .serialized)
struct RegistryClientTests {
    static let users = ["alice": "wonderland"]
    static let image = SyntheticImage(layerSizes: [300_000, 1_200_000], seed: 7)

    /// Runs `body` with a registry holding `image` as `team/app:v1`, then stops everything.
    func withRegistry(
        _ kind: String, publicRepositories: Set<String> = [],
        _ body: (RegistryServer, RegistryClient, TokenServer?) async throws -> Void
    ) async throws {
        var token: TokenServer?
        let auth: RegistryServer.Auth
        switch kind {
        case "basic": auth = .basic(users: Self.users)
        case "token":
            let t = try await TokenServer.start(users: Self.users, publicRepositories: publicRepositories)
            token = t
            auth = .token(t)
        default: auth = .open
        }
        let registry = try await RegistryServer.start(auth: auth)
        let http = RegistryClient.makeHTTPClient()
        var config = RegistryClientConfiguration()
        config.plainHTTPRegistries = [registry.domain]
        config.retry = RetryPolicy(maxAttempts: 2, baseDelay: .milliseconds(10))
        let client = RegistryClient(httpClient: http, configuration: config)
        do {
            try await TestImages.push(Self.image, to: registry, repository: "team/app", tag: "v1",
                                      credentials: kind == "open" ? nil : ("alice", "wonderland"))
            try await body(registry, client, token)
        } catch {
            try? await http.shutdown()
            registry.stop()
            await token?.stop()
            throw error
        }
        try? await http.shutdown()
        registry.stop()
        await token?.stop()
    }

    @Test("manifest and blobs in every auth setup", arguments: ["open", "basic", "token"])
    func manifestAndBlobs(kind: String) async throws {
        try await withRegistry(kind) { registry, client, _ in
            let repo = Repository(domain: registry.domain, path: "team/app")
            let auth: RegistryAuthorization = kind == "open" ? .anonymous : .credentials(.init(username: "alice", password: "wonderland"))
            let head = try await client.manifest(repo, reference: "v1", method: .HEAD, authorization: auth)
            let get = try await client.manifest(repo, reference: "v1", authorization: auth)
            #expect(head.digest == get.digest)
            #expect(head.size == Int64(get.bytes.count))
            #expect(get.contentType == MediaType.ociManifest)
            guard case .image(let manifest) = try get.document() else { Issue.record("expected a manifest"); return }
            #expect(manifest.layers.count == 2)

            // By digest, then each blob streamed and verified.
            let byDigest = try await client.manifest(repo, reference: get.digest!.description, authorization: auth)
            #expect(byDigest.bytes == get.bytes)
            for blob in manifest.blobs {
                let response = try await client.blob(repo, digest: blob.digest, authorization: auth)
                #expect(response.status == 200)
                var verifier = DigestVerifier(for: blob.digest)
                for try await chunk in response.body { chunk.withUnsafeReadableBytes { verifier.update($0) } }
                try verifier.verify(blob.digest)
                #expect(verifier.count == blob.size)
            }

            // A Range of the big layer.
            let layer = manifest.layers[1]
            let ranged = try await client.blob(repo, digest: layer.digest, range: .closed(first: 10, last: 1033), authorization: auth)
            #expect(ranged.status == 206)
            #expect(ranged.contentRange == ContentRange(first: 10, last: 1033, completeLength: layer.size))
            var n = 0
            for try await chunk in ranged.body { n += chunk.readableBytes }
            #expect(n == 1024)

            await #expect(throws: RegistryError.self) {
                _ = try await client.manifest(repo, reference: "nope", authorization: auth)
            }
            do {
                let m = try await client.manifest(repo, reference: "nope", authorization: auth)
                Issue.record("a missing tag answered \(m.bytes.count) bytes")
            } catch let error as RegistryError {
                guard case .notFound = error else { Issue.record("expected notFound, got \(error)"); return }
            }
        }
    }

    @Test("wrong or missing credentials are unauthorized", arguments: ["basic", "token"])
    func unauthorized(kind: String) async throws {
        try await withRegistry(kind) { registry, client, _ in
            let repo = Repository(domain: registry.domain, path: "team/app")
            for auth in [RegistryAuthorization.anonymous, .credentials(.init(username: "alice", password: "wrong")),
                         .credentials(.init(username: "mallory", password: "wonderland"))] {
                do {
                    _ = try await client.manifest(repo, reference: "v1", authorization: auth)
                    Issue.record("\(auth) was let in")
                } catch let error as RegistryError {
                    guard case .unauthorized(let r, _, _, _) = error else { Issue.record("\(auth): \(error)"); continue }
                    #expect(r == registry.domain)
                    #expect(error.description.contains(registry.domain))
                }
            }
        }
    }

    @Test func anonymousTokenForPublicRepository() async throws {
        try await withRegistry("token", publicRepositories: ["team/app"]) { registry, client, token in
            let repo = Repository(domain: registry.domain, path: "team/app")
            let m = try await client.manifest(repo, reference: "v1")
            #expect(m.digest != nil)
            #expect(token!.requestLog.contains { $0.hasPrefix("- repository:team/app:pull") })
        }
    }

    @Test func tokensAreCachedPerScope() async throws {
        try await withRegistry("token") { registry, client, token in
            let repo = Repository(domain: registry.domain, path: "team/app")
            let auth = RegistryAuthorization.credentials(.init(username: "alice", password: "wonderland"))
            let before = token!.requestLog.count
            for _ in 0..<5 { _ = try await client.manifest(repo, reference: "v1", method: .HEAD, authorization: auth) }
            #expect(token!.requestLog.count == before + 1)
        }
    }

    @Test func passThroughReturnsChallengeAndUsesCallerHeader() async throws {
        try await withRegistry("token") { registry, client, token in
            let repo = Repository(domain: registry.domain, path: "team/app")
            do {
                _ = try await client.manifest(repo, reference: "v1", authorization: .passThrough(nil))
                Issue.record("let in without a token")
            } catch let error as RegistryError {
                guard case .unauthorized(_, _, let challenge, _) = error else { Issue.record("\(error)"); return }
                let c = AuthChallenge.parse(challenge ?? "")
                #expect(c.first?.realm == token!.realm)
                #expect(c.first?.scope == "repository:team/app:pull")
            }
            // The caller runs the token flow itself and passes its token through.
            let http = HTTPClient(eventLoopGroupProvider: .singleton)
            defer { _ = http.shutdown() }
            let raw = try await http.execute(
                HTTPClientRequest(url: token!.realm + "?service=\(token!.service)&scope=repository:team/app:pull"
                    .replacingOccurrences(of: ":pull", with: "%3Apull")), timeout: .seconds(10))
            var req = HTTPClientRequest(url: token!.realm + "?service=\(token!.service)&scope=repository%3Ateam%2Fapp%3Apull")
            req.headers.add(name: "Authorization", value: RegistryCredentials(username: "alice", password: "wonderland").basicAuthorization)
            _ = try await raw.body.collect(upTo: 1 << 20)
            let response = try await http.execute(req, timeout: .seconds(10))
            struct T: Decodable { var token: String }
            let t = try JSONDecoder().decode(T.self, from: Data(buffer: try await response.body.collect(upTo: 1 << 20)))
            let m = try await client.manifest(repo, reference: "v1", authorization: .passThrough("Bearer \(t.token)"))
            #expect(m.digest != nil)
        }
    }
}

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
