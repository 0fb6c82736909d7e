import Agent
import Foundation
import OCI
import TestSupport
import Testing

@Suite("containerd hosts.toml")
struct ContainerdHostsConfigTests {
    let origin = "test-registry-vpc.cn-hangzhou.cr.aliyuncs.com"
    let p2p = "test-registry-vpc.distributed.cn-hangzhou.cr.aliyuncs.com:65001"

    @Test func writesBothHostsAndRestoresWhatWasThere() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        // An operator's own configuration for the origin, which must survive.
        try FileManager.default.createDirectory(atPath: dir.file(origin), withIntermediateDirectories: true)
        let theirs = "server = \"https://\(origin)\"\n"
        try theirs.write(toFile: dir.file("\(origin)/hosts.toml"), atomically: true, encoding: .utf8)

        let config = ContainerdHostsConfig(configPath: dir.path, agentEndpoint: "http://127.0.0.1:65001", rule: P2PHostRule())
        try config.write(origins: [origin])
        try config.write(origins: [origin])  // idempotent: the backup is not overwritten by our own file
        let p2pToml = try String(contentsOfFile: dir.file("\(p2p)/hosts.toml"), encoding: .utf8)
        #expect(p2pToml.contains(#"server = "https://\#(origin)""#))
        #expect(p2pToml.contains(#"[host."http://127.0.0.1:65001"]"#))
        #expect(p2pToml.contains(#"capabilities = ["pull", "resolve"]"#))
        #expect(try String(contentsOfFile: dir.file("\(origin)/hosts.toml.peerpull-backup"), encoding: .utf8) == theirs)

        try config.remove(origins: [origin])
        #expect(try String(contentsOfFile: dir.file("\(origin)/hosts.toml"), encoding: .utf8) == theirs)
        #expect(!FileManager.default.fileExists(atPath: dir.file(p2p)))
        #expect(!FileManager.default.fileExists(atPath: dir.file("\(origin)/hosts.toml.peerpull-backup")))
    }

    @Test func tlsAgentGetsCAFile() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let config = ContainerdHostsConfig(configPath: dir.path, agentEndpoint: "https://127.0.0.1:65001", rule: P2PHostRule(),
                                           agentCAPEM: "-----BEGIN CERTIFICATE-----\n…\n")
        try config.write(origins: ["ghcr.io"])
        #expect(try String(contentsOfFile: dir.file("ghcr.distributed.io:65001/hosts.toml"), encoding: .utf8).contains(#"ca = "peerpull-agent-ca.crt""#))
        #expect(FileManager.default.fileExists(atPath: dir.file("ghcr.io/peerpull-agent-ca.crt")))
        try config.remove(origins: ["ghcr.io"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
    }

    /// A real node's usual set-up for a private registry: its CA in `ca.crt` beside its
    /// `hosts.toml`. The agent's CA goes beside it under its own name, the origin fallback
    /// keeps trusting the operator's CA (from the P2P host's directory too), and undoing
    /// leaves the operator's two files exactly as they were.
    @Test func anOperatorsCAForTheOriginIsKeptAndStillTrusted() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try FileManager.default.createDirectory(atPath: dir.file(origin), withIntermediateDirectories: true)
        let theirs = "# mine\nserver = \"https://\(origin)\"\nca = \"ca.crt\"\n\n[host.\"https://mirror.example\"]\n  ca = \"other.crt\"\n"
        try theirs.write(toFile: dir.file("\(origin)/hosts.toml"), atomically: true, encoding: .utf8)
        try "operator CA".write(toFile: dir.file("\(origin)/ca.crt"), atomically: true, encoding: .utf8)
        let config = ContainerdHostsConfig(configPath: dir.path, agentEndpoint: "https://127.0.0.1:65001", rule: P2PHostRule(),
                                           agentCAPEM: "agent CA")
        try config.write(origins: [origin])
        try config.write(origins: [origin])
        let ours = try String(contentsOfFile: dir.file("\(origin)/hosts.toml"), encoding: .utf8)
        #expect(ours.contains("server = \"https://\(origin)\"\nca = \"ca.crt\"\n"), "\(ours)")
        #expect(!ours.contains("other.crt"))
        let p2pToml = try String(contentsOfFile: dir.file("\(p2p)/hosts.toml"), encoding: .utf8)
        #expect(p2pToml.contains("ca = \"../\(origin)/ca.crt\"\n"), "\(p2pToml)")
        #expect(try String(contentsOfFile: dir.file("\(origin)/ca.crt"), encoding: .utf8) == "operator CA")
        #expect(try String(contentsOfFile: dir.file("\(origin)/peerpull-agent-ca.crt"), encoding: .utf8) == "agent CA")
        try config.remove(origins: [origin])
        #expect(try String(contentsOfFile: dir.file("\(origin)/hosts.toml"), encoding: .utf8) == theirs)
        #expect(try String(contentsOfFile: dir.file("\(origin)/ca.crt"), encoding: .utf8) == "operator CA")
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: dir.file(origin))) == ["hosts.toml", "ca.crt"])
        #expect(!FileManager.default.fileExists(atPath: dir.file(p2p)))
    }
}
