import Certificates
import Foundation
import Logging
import NIOCertificateReloading
import NIOSSL

/// Keeps the running agent's serving certificate valid without a restart: every
/// `interval` it issues the certificate in `directory` again when it nears its end (under
/// the same CA, so containerd keeps trusting the agent), and the TLS server takes the new
/// files through swift-nio-extras' `TimedCertificateReloader` (new handshakes get the new
/// certificate; connections already open keep theirs). If the CA itself had to be
/// replaced, the new one is written next to each `hosts.toml` before the server serves a
/// certificate signed by it.
public struct AgentCertificateRenewal: Sendable {
    let directory: String
    let dnsNames: [String]
    let lifetimes: CertificateLifetimes
    let interval: Duration
    let hosts: ContainerdHostsConfig?
    let origins: [String]
    let logger: Logger
    /// Serves the files in `directory`; `tlsConfiguration()` hands it to the server.
    public let reloader: TimedCertificateReloader

    public init(directory: String, dnsNames: [String], lifetimes: CertificateLifetimes, interval: Duration,
                hosts: ContainerdHostsConfig?, origins: [String], logger: Logger) throws {
        self.directory = directory
        self.dnsNames = dnsNames
        self.lifetimes = lifetimes
        self.interval = interval
        self.hosts = hosts
        self.origins = origins
        self.logger = logger
        self.reloader = try TimedCertificateReloader.makeReloaderValidatingSources(
            refreshInterval: interval,
            certificateSource: .init(location: .file(path: directory + "/tls.crt"), format: .pem),
            privateKeySource: .init(location: .file(path: directory + "/tls.key"), format: .pem),
            logger: logger)
    }

    /// A server configuration whose certificate and key follow the reloader.
    public func tlsConfiguration() throws -> TLSConfiguration {
        try TLSConfiguration.makeServerConfiguration(certificateReloader: reloader)
    }

    /// Checks every `interval` until cancelled.
    public func run() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: interval)
            guard !Task.isCancelled else { return }
            renewIfDue()
        }
    }

    /// Issues the certificate again when it is due, and makes the server use it.
    func renewIfDue(now: Date = Date()) {
        let before = (try? String(contentsOfFile: directory + "/tls.crt", encoding: .utf8)) ?? ""
        let beforeCA = (try? String(contentsOfFile: directory + "/ca.crt", encoding: .utf8)) ?? ""
        do {
            let current = try AgentCertificate.loadOrGenerate(in: directory, dnsNames: dnsNames, now: now, lifetimes: lifetimes)
            guard current.certificatePEM != before else { return }
            if current.caPEM != beforeCA, var hosts {
                // containerd must trust the new CA before it sees a certificate signed by it.
                hosts.agentCAPEM = current.caPEM
                try hosts.write(origins: origins)
                logger.notice("the agent's CA was replaced; containerd's hosts.toml directories name the new one",
                              metadata: ["caValidUntil": "\(current.caNotValidAfter.map { "\($0)" } ?? "?")"])
            }
            try reloader.reload()
            logger.notice("issued the agent's serving certificate again", metadata: [
                "validUntil": "\(current.notValidAfter.map { "\($0)" } ?? "?")", "sameCA": "\(current.caPEM == beforeCA)"])
        } catch {
            logger.error("cannot issue the agent's serving certificate again; the current one stays until it expires: fix \(directory)",
                         metadata: ["error": "\(error)"])
        }
    }
}
