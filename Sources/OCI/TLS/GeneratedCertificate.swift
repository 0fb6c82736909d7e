import Crypto
import Foundation
import SwiftASN1
import X509

/// A private CA and one serving certificate signed by it, generated in-process
/// (swift-certificates): the agent's TLS on the P2P hosts and the controller's webhook
/// both use one, and hand the CA to whoever must trust them (containerd's `ca.crt`, the
/// webhook's `caBundle`).
public struct GeneratedCertificate: Sendable, Equatable {
    public let caPEM: String
    public let certificatePEM: String
    public let privateKeyPEM: String

    public init(caPEM: String, certificatePEM: String, privateKeyPEM: String) {
        self.caPEM = caPEM
        self.certificatePEM = certificatePEM
        self.privateKeyPEM = privateKeyPEM
    }

    /// A CA valid `caDays` and a leaf valid `leafDays` for `dnsNames` and IPv4 `ipAddresses`.
    public static func generate(
        caName: String, leafName: String, dnsNames: [String], ipAddresses: [String] = ["127.0.0.1"],
        now: Date = Date(), caDays: Int = 3650, leafDays: Int = 365
    ) throws -> GeneratedCertificate {
        let caKey = P256.Signing.PrivateKey()
        let issuer = try DistinguishedName { CommonName(caName); OrganizationName("PeerPull") }
        let ca = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(caKey.publicKey),
            notValidBefore: now - 300, notValidAfter: now + Double(86400 * caDays),
            issuer: issuer, subject: issuer, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
            },
            issuerPrivateKey: .init(caKey))

        let leafKey = P256.Signing.PrivateKey()
        var names: [GeneralName] = Array(Set(dnsNames)).sorted().map { .dnsName($0) }
        for ip in ipAddresses {
            let octets = ip.split(separator: ".").compactMap { UInt8($0) }
            if octets.count == 4 { names.append(.ipAddress(ASN1OctetString(contentBytes: ArraySlice(octets)))) }
        }
        let leaf = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(leafKey.publicKey),
            notValidBefore: now - 300, notValidAfter: now + Double(86400 * leafDays),
            issuer: issuer, subject: try DistinguishedName { CommonName(leafName) },
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage([.serverAuth])
                SubjectAlternativeNames(names)
            },
            issuerPrivateKey: .init(caKey))
        return GeneratedCertificate(
            caPEM: try ca.serializeAsPEM().pemString,
            certificatePEM: try leaf.serializeAsPEM().pemString,
            privateKeyPEM: leafKey.pemRepresentation)
    }

    /// The DNS names of the serving certificate, or nil when it does not parse.
    public var dnsNames: Set<String>? {
        guard let leaf = try? Certificate(pemEncoded: certificatePEM),
              let names = try? leaf.extensions.subjectAlternativeNames else { return nil }
        return Set(names.compactMap { if case .dnsName(let n) = $0 { n } else { nil } })
    }

    /// Loads `ca.crt`, `tls.crt` and `tls.key` from `directory`, or generates them with
    /// `make` and writes them (key mode 0600), so a restart keeps the CA others trust.
    /// Stored files whose serving certificate does not name every one of `required` are
    /// generated again: the names changed since (an origin was added).
    public static func loadOrGenerate(in directory: String, covering required: Set<String> = [],
                                      _ make: () throws -> GeneratedCertificate) throws -> GeneratedCertificate {
        let fm = FileManager.default
        let paths = ["ca.crt", "tls.crt", "tls.key"].map { "\(directory)/\($0)" }
        if paths.allSatisfy({ fm.fileExists(atPath: $0) }) {
            let texts = try paths.map { try String(contentsOfFile: $0, encoding: .utf8) }
            let stored = GeneratedCertificate(caPEM: texts[0], certificatePEM: texts[1], privateKeyPEM: texts[2])
            if let names = stored.dnsNames, required.isSubset(of: names) { return stored }
        }
        try fm.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let generated = try make()
        try generated.caPEM.write(toFile: paths[0], atomically: true, encoding: .utf8)
        try generated.certificatePEM.write(toFile: paths[1], atomically: true, encoding: .utf8)
        try generated.privateKeyPEM.write(toFile: paths[2], atomically: true, encoding: .utf8)
        try fm.setAttributes([.posixPermissions: 0o600], ofItemAtPath: paths[2])
        return generated
    }
}
