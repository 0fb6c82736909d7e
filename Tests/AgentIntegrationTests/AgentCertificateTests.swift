import Agent
import Certificates
import Foundation
import OCI
import TestSupport
import Testing
import X509

@Suite("Agent TLS certificate")
struct AgentCertificateTests {
    @Test func theStoredCertificateIsKeptUntilItNoLongerNamesEveryP2PHostAndThenReissuedUnderTheSameCA() throws {
        let dir = try TemporaryDirectory(prefix: "peerpull-tls")
        defer { dir.remove() }
        // A chart installed before its registries were chosen: a certificate for no P2P host.
        let empty = try AgentCertificate.loadOrGenerate(in: dir.path, dnsNames: [])
        #expect(empty.dnsNames == ["localhost"])
        #expect(try AgentCertificate.loadOrGenerate(in: dir.path, dnsNames: []) == empty, "a restart keeps it")
        // A registry added later: the stored certificate does not name its P2P host, so a
        // new one is issued (containerd would otherwise refuse the agent and pull from the
        // origin), under the same CA, which containerd already trusts.
        let host = "r.distributed.example.com"
        let added = try AgentCertificate.loadOrGenerate(in: dir.path, dnsNames: [host])
        #expect(added.certificatePEM != empty.certificatePEM && added.dnsNames == [host, "localhost"])
        #expect(added.caPEM == empty.caPEM && added.caKeyPEM == empty.caKeyPEM)
        #expect(try Self.verifies(added))
        #expect(try AgentCertificate.loadOrGenerate(in: dir.path, dnsNames: [host]) == added)
        #expect(try AgentCertificate.loadOrGenerate(in: dir.path, dnsNames: []) == added, "fewer names need no new certificate")
        let mode = try FileManager.default.attributesOfItem(atPath: dir.file("ca.key"))[.posixPermissions] as? Int
        #expect(mode == 0o600)
    }

    @Test func aServingCertificateNearItsEndIsReissuedUnderTheSameCABeforeItExpires() throws {
        let dir = try TemporaryDirectory(prefix: "peerpull-tls")
        defer { dir.remove() }
        let start = Date()
        let first = try AgentCertificate.loadOrGenerate(in: dir.path, dnsNames: ["r.distributed.example.com"], now: start)
        // 300 days on: 65 days left, kept. 340 days on: 25 days left, issued again.
        #expect(try AgentCertificate.loadOrGenerate(in: dir.path, dnsNames: ["r.distributed.example.com"], now: start + 300 * 86400) == first)
        let later = start + 340 * 86400
        let renewed = try AgentCertificate.loadOrGenerate(in: dir.path, dnsNames: ["r.distributed.example.com"], now: later)
        #expect(renewed.certificatePEM != first.certificatePEM && renewed.caPEM == first.caPEM)
        #expect((renewed.notValidAfter ?? .distantPast) > later + 300 * 86400)
        #expect(try Self.verifies(renewed))
    }

    @Test func filesWithoutTheCAsKeyOrACANearItsEndGetANewCA() throws {
        let dir = try TemporaryDirectory(prefix: "peerpull-tls")
        defer { dir.remove() }
        let start = Date()
        let first = try AgentCertificate.loadOrGenerate(in: dir.path, dnsNames: [], now: start)
        // An older version's files (no ca.key): a new name needs a new CA.
        try FileManager.default.removeItem(atPath: dir.file("ca.key"))
        let second = try AgentCertificate.loadOrGenerate(in: dir.path, dnsNames: ["r.distributed.example.com"], now: start)
        #expect(second.caPEM != first.caPEM && second.caKeyPEM != nil)
        // Nine and a half years on, the CA itself (ten years) is replaced with the leaf.
        let third = try AgentCertificate.loadOrGenerate(in: dir.path, dnsNames: ["r.distributed.example.com"], now: start + 3470 * 86400)
        #expect(third.caPEM != second.caPEM)
    }

    @Test func theRunningAgentServesARenewedCertificateUnderTheSameCAWithoutARestart() async throws {
        // Lifetimes of seconds instead of a year: the serving certificate lives 6 s and is
        // issued again when less than 4 s are left, checked every 0.5 s. A client trusting
        // only the CA (containerd, by the file next to hosts.toml) must connect throughout,
        // to the same process, and see new certificates.
        let dir = try TemporaryDirectory(prefix: "peerpull-tls")
        defer { dir.remove() }
        let port = try LoopbackPort.free(), peerless = try LoopbackPort.free()
        let agent = try BackgroundProcess([
            TestImages.peerpullBinary, "agent", "--listen", "127.0.0.1", "--port", String(port), "--peer-port", String(peerless),
            "--data-dir", dir.file("data"), "--tls-dir", dir.file("tls"), "--origin", "r.example.com",
            "--tls-leaf-lifetime-seconds", "6", "--tls-renew-before-seconds", "4", "--tls-check-seconds", "0.5",
            "--containerd-config-path", dir.file("certs.d")],
            logPath: dir.file("agent.log"),
            // Its own temporary directory: every file the agent replaces (keys, certificates,
            // CAs, hosts.toml) must leave nothing there, or a node collects a directory per
            // write for as long as it runs.
            environment: ProcessInfo.processInfo.environment.merging(["TMPDIR": dir.file("tmp")]) { _, new in new })
        try FileManager.default.createDirectory(atPath: dir.file("tmp"), withIntermediateDirectories: true)
        do { try await Self.watchRenewals(agent, port: port, dir: dir) } catch {
            await agent.stop()
            throw error
        }
        await agent.stop()
        let left = try FileManager.default.contentsOfDirectory(atPath: dir.file("tmp"))
        #expect(left.isEmpty, "the agent left \(left) in its temporary directory")
        #expect(FileManager.default.fileExists(atPath: dir.file("certs.d/r.example.com/hosts.toml")), "it wrote hosts.toml")
    }

    static func watchRenewals(_ agent: BackgroundProcess, port: Int, dir: TemporaryDirectory) async throws {
        let url = "https://127.0.0.1:\(port)/healthz"
        func status() async -> String {
            (try? await Command.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5", "--cacert", dir.file("tls/ca.crt"), url],
                                    check: false).stdout) ?? "error"
        }
        try await agent.waitUntil(timeout: .seconds(60)) { await status() == "200" }
        let ca = try String(contentsOfFile: dir.file("tls/ca.crt"), encoding: .utf8)
        var served: Set<String> = []
        var failures: [String] = []
        let end = ContinuousClock.now + .seconds(14)
        while ContinuousClock.now < end {
            // A new connection each time: the certificate of its handshake, and a request the CA's trust must carry.
            let shown = try await Command.run(["bash", "-c",
                "openssl s_client -connect 127.0.0.1:\(port) </dev/null 2>/dev/null | openssl x509 -noout -serial -enddate"], check: false).stdout
            if shown.contains("serial=") { served.insert(shown) }
            let code = await status()
            if code != "200" { failures.append(code) }
            try await Task.sleep(for: .milliseconds(500))
        }
        #expect(failures.isEmpty, "requests trusting only the CA failed: \(failures); \(agent.log.suffix(800))")
        // 14 s of a 6 s certificate renewed 4 s before its end: about 7 certificates; at least 4.
        #expect(served.count >= 4, "certificates served: \(served.count): \(served.sorted()); \(agent.log.suffix(800))")
        #expect(agent.isRunning, "the same process served throughout")
        #expect(try String(contentsOfFile: dir.file("tls/ca.crt"), encoding: .utf8) == ca, "the CA stays")
        #expect(agent.log.contains("issued the agent's serving certificate again"))
    }

    /// The serving certificate is signed by the CA's key.
    static func verifies(_ c: GeneratedCertificate) throws -> Bool {
        let ca = try Certificate(pemEncoded: c.caPEM)
        let leaf = try Certificate(pemEncoded: c.certificatePEM)
        return leaf.issuer == ca.subject && ca.publicKey.isValidSignature(leaf.signature, for: leaf)
    }
}
