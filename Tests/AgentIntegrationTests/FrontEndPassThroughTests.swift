import Agent
import AsyncHTTPClient
import Foundation
import Hummingbird
import OCI
import OCIClient
import SyntheticImages
import TestSupport
import Testing

/// skopeo, a real pulling client, copies images through the agent's front end from
/// real registries in the three auth setups; the agent holds no credentials.
@Suite("Agent front end (pass-through)", .serialized)
struct FrontEndPassThroughTests {
    static let image = SyntheticImage(layerSizes: [150_000, 700_000], seed: 11)

    @Test("skopeo copy through the agent", arguments: ["open", "basic", "token"], [false, true])
    func skopeoThroughAgent(kind: String, tls: Bool) async throws {
        let users = ["alice": "wonderland"]
        var token: TokenServer?
        let auth: RegistryServer.Auth
        switch kind {
        case "basic": auth = .basic(users: users)
        case "token":
            token = try await TokenServer.start(users: users)
            auth = .token(token!)
        default: auth = .open
        }
        let registry = try await RegistryServer.start(auth: auth)
        let http = RegistryClient.makeHTTPClient()
        let out = try TemporaryDirectory(prefix: "peerpull-out")
        var agent: LoopbackServer?
        do {
            let creds = kind == "open" ? nil : ("alice", "wonderland")
            let pushed = try await TestImages.push(Self.image, to: registry, repository: "team/app", tag: "v1", credentials: creds)
            var config = RegistryClientConfiguration()
            config.plainHTTPRegistries = [registry.domain]
            let frontEnd = RegistryFrontEnd(
                resolver: OriginResolver(origins: [registry.domain], rule: P2PHostRule()),
                client: RegistryClient(httpClient: http, configuration: config))
            let router = Router(context: AgentRequestContext.self)
            frontEnd.register(on: router)
            var args = ["skopeo", "--insecure-policy", "copy"]
            if tls {
                // The agent's generated CA is the only trust skopeo gets: verification is on.
                let certificate = try AgentCertificate.loadOrGenerate(in: out.file("tls"), dnsNames: ["team.distributed.example.com"])
                agent = try await LoopbackServer.start(router: router, tls: (certificate.certificatePEM, certificate.privateKeyPEM))
                try FileManager.default.createDirectory(atPath: out.file("certs"), withIntermediateDirectories: true)
                try certificate.caPEM.write(toFile: out.file("certs/ca.crt"), atomically: true, encoding: .utf8)
                args += ["--src-cert-dir", out.file("certs")]
            } else {
                agent = try await LoopbackServer.start(router: router)
                args += ["--src-tls-verify=false"]
            }
            if let (u, p) = creds { args += ["--src-creds", "\(u):\(p)"] }
            args += ["docker://127.0.0.1:\(agent!.port)/team/app:v1", "oci:\(out.file("image")):v1"]
            try await Command.run(args)
            let layout = try OCILayout(root: out.file("image"))
            #expect(try layout.index().manifests.first?.digest == pushed.digest)

            if kind == "open" && !tls {
                // HEAD and GET of a manifest and a layer carry the origin's length, type and
                // digest unchanged (containerd resolves with HEAD and needs the length).
                let blobs = out.file("image/blobs/sha256")
                let largest = try FileManager.default.contentsOfDirectory(atPath: blobs)
                    .max { (FileSystem.fileSize("\(blobs)/\($0)") ?? 0) < (FileSystem.fileSize("\(blobs)/\($1)") ?? 0) }
                let accept = "application/vnd.oci.image.index.v1+json,application/vnd.oci.image.manifest.v1+json,application/vnd.docker.distribution.manifest.v2+json,application/vnd.docker.distribution.manifest.list.v2+json"
                for path in ["team/app/manifests/v1", "team/app/blobs/sha256:\(try #require(largest))"] {
                    for head in [true, false] {
                        func headers(_ host: String) async throws -> [String] {
                            let out = try await Command.run(["curl", "-sf", "-o", "/dev/null", "-D", "-", "-H", "Accept: \(accept)"]
                                                            + (head ? ["-I"] : []) + ["http://\(host)/v2/\(path)"])
                            return out.stdout.split(separator: "\r\n").map { $0.lowercased() }
                                .filter { ["content-length:", "content-type:", "docker-content-digest:"].contains(where: $0.hasPrefix) }.sorted()
                        }
                        let direct = try await headers(registry.domain)
                        #expect(direct.count == 3)
                        #expect(try await headers("127.0.0.1:\(agent!.port)") == direct, "\(head ? "HEAD" : "GET") \(path)")
                    }
                }
            }

            if kind != "open" {
                // Without credentials the agent answers with the origin's own challenge.
                let noCreds = try await Command.run(["skopeo", "--insecure-policy", "inspect", "--tls-verify=false", "--no-creds",
                                                     "docker://127.0.0.1:\(agent!.port)/team/app:v1"], check: false)
                #expect(noCreds.status != 0)
                #expect(noCreds.stderr.lowercased().contains("unauthorized") || noCreds.stderr.contains("401"), "\(noCreds.stderr)")
            }
        } catch {
            await agent?.stop(); try? await http.shutdown(); registry.stop(); await token?.stop(); out.remove()
            throw error
        }
        await agent?.stop(); try? await http.shutdown(); registry.stop(); await token?.stop(); out.remove()
    }

    @Test func badRequestsGetOCIErrors() async throws {
        let http = RegistryClient.makeHTTPClient()
        let frontEnd = RegistryFrontEnd(
            resolver: OriginResolver(origins: ["127.0.0.1:1"], rule: P2PHostRule()),
            client: RegistryClient(httpClient: http))
        let router = Router(context: AgentRequestContext.self)
        frontEnd.register(on: router)
        let agent = try await LoopbackServer.start(router: router)
        let base = "http://127.0.0.1:\(agent.port)"
        for (method, path, status) in [
            ("GET", "/v2/team/app/blobs/sha256:..%2F..%2Fetc", 400),
            ("GET", "/v2/team/app/manifests/v1?ns=evil.example.com", 404),
            ("PUT", "/v2/team/app/manifests/v1", 405),
            ("DELETE", "/v2/team/app/blobs/sha256:\(String(repeating: "a", count: 64))", 405),
        ] {
            let r = try await Command.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", method, base + path], check: false)
            #expect(r.stdout == String(status), "\(method) \(path)")
        }
        await agent.stop()
        try await http.shutdown()
    }
}
