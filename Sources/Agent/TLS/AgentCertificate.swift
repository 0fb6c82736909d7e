import Foundation
import OCI

/// The certificate of one node's agent, so containerd can speak TLS to the P2P hosts
/// without a public CA: the CA goes into each `hosts.toml` directory as `peerpull-agent-ca.crt`, the
/// leaf names every P2P host, `localhost` and 127.0.0.1.
public typealias AgentCertificate = GeneratedCertificate

extension GeneratedCertificate {
    /// A CA (valid 10 years) and a leaf (valid 1 year) for the agent's `dnsNames`.
    public static func generate(dnsNames: [String], ipAddresses: [String] = ["127.0.0.1"], now: Date = Date()) throws -> GeneratedCertificate {
        try generate(caName: "peerpull agent CA", leafName: "peerpull agent", dnsNames: dnsNames + ["localhost"],
                     ipAddresses: ipAddresses, now: now)
    }

    /// The agent's certificate in `directory`, generated on first start and again when it
    /// does not name every P2P host (origins were added since; the DaemonSet's init step
    /// then writes the new CA next to each hosts.toml).
    public static func loadOrGenerate(in directory: String, dnsNames: [String]) throws -> GeneratedCertificate {
        try loadOrGenerate(in: directory, covering: Set(dnsNames + ["localhost"])) { try generate(dnsNames: dnsNames) }
    }
}
