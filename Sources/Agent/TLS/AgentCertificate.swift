import Crypto
import Foundation
import SwiftASN1
import X509

/// A certificate authority and serving certificate generated for one node's agent, so
/// containerd can speak TLS to the P2P hosts without a public CA: the CA goes into each
/// `hosts.toml` directory as `ca.crt`, the leaf names every P2P host, `localhost` and
/// 127.0.0.1.
public struct AgentCertificate: Sendable {
    public let caPEM: String
    public let certificatePEM: String
    public let privateKeyPEM: String

    public init(caPEM: String, certificatePEM: String, privateKeyPEM: String) {
        self.caPEM = caPEM
        self.certificatePEM = certificatePEM
        self.privateKeyPEM = privateKeyPEM
    }

    /// Generates a CA (valid 10 years) and a leaf (valid 1 year) for `dnsNames`.
    public static func generate(dnsNames: [String], ipAddresses: [String] = ["127.0.0.1"], now: Date = Date()) throws -> AgentCertificate {
        let caKey = P256.Signing.PrivateKey()
        let caName = try DistinguishedName { CommonName("peerpull agent CA"); OrganizationName("PeerPull") }
        let ca = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(caKey.publicKey),
            notValidBefore: now - 300, notValidAfter: now + 86400 * 3650,
            issuer: caName, subject: caName, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
            },
            issuerPrivateKey: .init(caKey))

        let leafKey = P256.Signing.PrivateKey()
        var names: [GeneralName] = Array(Set(dnsNames + ["localhost"])).sorted().map { .dnsName($0) }
        for ip in ipAddresses {
            let octets = ip.split(separator: ".").compactMap { UInt8($0) }
            if octets.count == 4 { names.append(.ipAddress(ASN1OctetString(contentBytes: ArraySlice(octets)))) }
        }
        let leaf = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(leafKey.publicKey),
            notValidBefore: now - 300, notValidAfter: now + 86400 * 365,
            issuer: caName, subject: try DistinguishedName { CommonName("peerpull agent") },
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage([.serverAuth])
                SubjectAlternativeNames(names)
            },
            issuerPrivateKey: .init(caKey))
        return AgentCertificate(
            caPEM: try ca.serializeAsPEM().pemString,
            certificatePEM: try leaf.serializeAsPEM().pemString,
            privateKeyPEM: leafKey.pemRepresentation)
    }

    /// Loads `ca.crt`, `tls.crt` and `tls.key` from `directory`, or generates and writes
    /// them (key mode 0600) when they are missing, so a restart keeps the CA nodes trust.
    public static func loadOrGenerate(in directory: String, dnsNames: [String]) throws -> AgentCertificate {
        let fm = FileManager.default
        let paths = ["ca.crt", "tls.crt", "tls.key"].map { "\(directory)/\($0)" }
        if paths.allSatisfy({ fm.fileExists(atPath: $0) }) {
            let texts = try paths.map { try String(contentsOfFile: $0, encoding: .utf8) }
            return AgentCertificate(caPEM: texts[0], certificatePEM: texts[1], privateKeyPEM: texts[2])
        }
        try fm.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let generated = try generate(dnsNames: dnsNames)
        try generated.caPEM.write(toFile: paths[0], atomically: true, encoding: .utf8)
        try generated.certificatePEM.write(toFile: paths[1], atomically: true, encoding: .utf8)
        try generated.privateKeyPEM.write(toFile: paths[2], atomically: true, encoding: .utf8)
        try fm.setAttributes([.posixPermissions: 0o600], ofItemAtPath: paths[2])
        return generated
    }
}
