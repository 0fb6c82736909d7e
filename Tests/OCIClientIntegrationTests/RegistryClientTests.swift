import AsyncHTTPClient
import Foundation
import Hummingbird
import NIOCore
import OCI
import OCIClient
import SyntheticImages
import TestSupport
import Testing

/// The registry client against real registries (Debian's docker-registry) in each
/// auth setup, and against loopback servers for redirects (failures: `RegistryClientFailureTests`).
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
