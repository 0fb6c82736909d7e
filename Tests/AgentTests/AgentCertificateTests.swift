import Agent
import OCI
import TestSupport
import Testing

@Suite("Agent TLS certificate")
struct AgentCertificateTests {
    @Test func theStoredCertificateIsKeptUntilItNoLongerNamesEveryP2PHost() throws {
        let dir = try TemporaryDirectory(prefix: "peerpull-tls")
        defer { dir.remove() }
        // A chart installed before its registries were chosen: a certificate for no P2P host.
        let empty = try AgentCertificate.loadOrGenerate(in: dir.path, dnsNames: [])
        #expect(empty.dnsNames == ["localhost"])
        #expect(try AgentCertificate.loadOrGenerate(in: dir.path, dnsNames: []) == empty, "a restart keeps it")
        // A registry added later: the stored certificate does not name its P2P host, so a
        // new one is made (containerd would otherwise refuse the agent and pull from the origin).
        let host = "r.distributed.example.com"
        let added = try AgentCertificate.loadOrGenerate(in: dir.path, dnsNames: [host])
        #expect(added != empty && added.dnsNames == [host, "localhost"])
        #expect(try AgentCertificate.loadOrGenerate(in: dir.path, dnsNames: [host]) == added)
        #expect(try AgentCertificate.loadOrGenerate(in: dir.path, dnsNames: []) == added, "fewer names need no new certificate")
    }
}
