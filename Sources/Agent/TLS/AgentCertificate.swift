import Certificates
import Foundation
import OCI

/// The certificate of one node's agent, so containerd can speak TLS to the P2P hosts
/// without a public CA: the CA goes into each `hosts.toml` directory as `peerpull-agent-ca.crt`, the
/// leaf names every P2P host, `localhost` and 127.0.0.1. The CA's key is kept beside it.
public typealias AgentCertificate = GeneratedCertificate

extension GeneratedCertificate {
    /// A CA and a leaf for the agent's `dnsNames` (by default valid 10 years and 1 year).
    public static func generate(dnsNames: [String], ipAddresses: [String] = ["127.0.0.1"], now: Date = Date(),
                                lifetimes: CertificateLifetimes = .standard) throws -> GeneratedCertificate {
        try generate(caName: "peerpull agent CA", leafName: "peerpull agent", dnsNames: dnsNames + ["localhost"],
                     ipAddresses: ipAddresses, now: now, lifetimes: lifetimes)
    }

    /// The agent's certificate in `directory`, generated on first start; its serving
    /// certificate issued again under the same CA when it does not name every P2P host
    /// (origins were added since) or expires within `lifetimes.renewBefore` (30 days), so
    /// containerd, which trusts the CA next to each hosts.toml, keeps trusting the agent.
    /// The running agent calls it again every `tlsCheckInterval` (`AgentCertificateRenewal`).
    public static func loadOrGenerate(in directory: String, dnsNames: [String], now: Date = Date(),
                                      lifetimes: CertificateLifetimes = .standard) throws -> GeneratedCertificate {
        try loadOrGenerate(in: directory, covering: Set(dnsNames + ["localhost"]), now: now, lifetimes: lifetimes,
                           reissue: { try $0.reissued(leafName: "peerpull agent", dnsNames: dnsNames + ["localhost"], now: now, lifetimes: lifetimes) },
                           { try generate(dnsNames: dnsNames, now: now, lifetimes: lifetimes) })
    }
}
