import Foundation
import OCI
import SyntheticImages
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The `peerpull agent` binary: its configuration file, and requests meant to hurt it.
@Suite("Agent binary", .serialized)
struct AgentBinaryTests {
    @Test("an invalid setting stops the agent with the field's name", arguments: [
        ("port: abc\norigins: [r.example.com]", "port"),
        ("cachesize: 10Gi\norigins: [r.example.com]", "cachesize"),
        ("cacheSize: ten\norigins: [r.example.com]", "cacheSize"),
        ("ratelimit: fast\norigins: [r.example.com]", "ratelimit"),
        ("origins: 5", "origins"),
        ("origins: [\"not a domain!\"]", "origins"),
        ("port: 70000\norigins: [r.example.com]", "port"),
        ("origins: [r.example.com]\nidleTimeoutSeconds: 0", "idleTimeoutSeconds"),
        ("origins: [r.example.com]\nlogLevel: loud", "logLevel"),
        ("- just\n- a list", "(top level)"),
        ("origins: [r.example.com\nport: 1", "--config"),
        // Found by the `settings` fuzz target: a key that is a list trapped in Yams.
        ("? -", "--config"),
        ("origins: [r.example.com]\n? [port]\n: 1", "--config"),
        ("a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]", "--config"),
    ])
    func invalidConfig(yaml: String, field: String) async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try yaml.write(toFile: dir.file("agent.yaml"), atomically: true, encoding: .utf8)
        let r = try await Command.run([TestImages.peerpullBinary, "agent", "--config", dir.file("agent.yaml"), "--data-dir", dir.file("data")], check: false)
        #expect(r.status != 0)
        #expect(r.stderr.contains(field), "\(r.stderr)")
        #expect(r.stderr.count < 2000 && !r.stderr.contains("Fatal error"), "\(r.stderr)")
    }

    @Test func badInputGetsClearAnswersAndTheAgentKeepsServing() async throws {
        let registry = try await RegistryServer.start()
        let dir = try TemporaryDirectory()
        var agent: BackgroundProcess?
        defer { dir.remove() }
        do {
            let image = SyntheticImage(layerSizes: [100_000], seed: 5)
            let pushed = try await TestImages.push(image, to: registry, repository: "team/app", tag: "v1")
            let port = try LoopbackPort.free()
            // Settings from the file, one overridden by a flag (the port).
            try """
            listen: 127.0.0.1
            port: 1
            dataDir: \(dir.file("data"))
            cacheSize: 64Mi
            origins: [\(registry.domain)]
            plainHTTPOrigins: [\(registry.domain)]
            idleTimeoutSeconds: 2
            """.write(toFile: dir.file("agent.yaml"), atomically: true, encoding: .utf8)
            agent = try BackgroundProcess([TestImages.peerpullBinary, "agent", "--config", dir.file("agent.yaml"), "--port", String(port)],
                                          logPath: dir.file("agent.log"))
            let base = "http://127.0.0.1:\(port)"
            func status(_ extra: [String], _ path: String) async throws -> String {
                try await Command.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "10"] + extra + [base + path], check: false).stdout
            }
            try await agent!.waitUntil(timeout: .seconds(60)) { (try? await status([], "/healthz")) == "200" }

            let manifest = try await Command.run(["curl", "-s", "-H", "Accept: \(MediaType.ociManifest)", base + "/v2/team/app/manifests/v1"]).stdout
            let layer = try #require(manifest.matches(of: /sha256:[0-9a-f]{64}/).last.map { String($0.output) }, "\(manifest)")
            #expect(try await status([], "/v2/team/app/blobs/\(layer)") == "200")

            for (path, expected) in [
                ("/v2/team/app/blobs/sha256:../../etc/passwd", "400"),
                ("/v2/team/app/blobs/sha256:%2e%2e%2f%2e%2e", "400"),
                ("/v2/Team/App/manifests/v1", "400"),
                ("/v2/team/app/manifests/" + String(repeating: "t", count: 200), "400"),
                ("/v2/team/app/manifests/v1?ns=elsewhere.example.com", "404"),
            ] {
                #expect(try await status([], path) == expected, "\(path)")
            }
            for (range, expected) in [
                ("bytes=99999999999999999999999-", "200"),  // unparseable: ignored (RFC 9110 §14.2)
                ("bytes=5-1", "200"),
                ("bytes=0-1,5-6", "200"),
                ("bytes=-0", "416"),
                ("bytes=100000000-", "416"),
                ("bytes=10-19", "206"),
                ("pages=1-2", "200"),
            ] {
                #expect(try await status(["-H", "Range: \(range)"], "/v2/team/app/blobs/\(layer)") == expected, "\(range)")
            }

            // A header far beyond any real client's: refused, and the connection dropped.
            let huge = try RawConnection(port: port)
            huge.send("GET /v2/ HTTP/1.1\r\nHost: x\r\nX-Big: \(String(repeating: "a", count: 200_000))\r\n\r\n")
            // An empty answer is what a hung agent's idle timeout gives too: a 4xx is required.
            let hugeStart = ContinuousClock.now
            let answer = await Command.blocking { [huge] in huge.readUntilClosed() }
            #expect(answer.hasPrefix("HTTP/1.1 4"), "\(answer.prefix(200))")
            #expect(ContinuousClock.now - hugeStart < .seconds(2), "refused at once, not left to the idle timeout")

            // Slowloris: many connections that never finish their headers. Others are
            // still served at once, and the silent ones are closed after the idle timeout.
            let slow = try (0..<64).map { _ in try RawConnection(port: port) }
            for c in slow { c.send("GET /v2/team/app/manifests/v1 HTTP/1.1\r\nHost: 127.0.0.1\r\n") }
            let t0 = ContinuousClock.now
            #expect(try await status(["-H", "Accept: \(MediaType.ociManifest)"], "/v2/team/app/manifests/v1") == "200")
            #expect(ContinuousClock.now - t0 < .seconds(2))
            let closed = await Command.blocking { [slow] in slow[0].readUntilClosed() }
            #expect(ContinuousClock.now - t0 < .seconds(8), "a silent connection is closed after idleTimeoutSeconds")
            _ = closed

            // After all of it: still serving, the image still pulls, nothing crashed.
            try await Command.run(["skopeo", "--insecure-policy", "copy", "--src-tls-verify=false",
                                   "docker://127.0.0.1:\(port)/team/app:v1", "oci:\(dir.file("pulled")):v1"])
            #expect(try OCILayout(root: dir.file("pulled")).index().manifests.first?.digest == pushed.digest)
            #expect(agent!.isRunning)
            #expect(!agent!.log.contains("Fatal error"))
        } catch {
            await agent?.stop(); registry.stop()
            throw error
        }
        await agent?.stop(); registry.stop()
    }
}
