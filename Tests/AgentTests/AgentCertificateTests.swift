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

    /// The serving certificate is signed by the CA's key.
    static func verifies(_ c: GeneratedCertificate) throws -> Bool {
        let ca = try Certificate(pemEncoded: c.caPEM)
        let leaf = try Certificate(pemEncoded: c.certificatePEM)
        return leaf.issuer == ca.subject && ca.publicKey.isValidSignature(leaf.signature, for: leaf)
    }
}
