import Crypto
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import OCI
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
    /// The CA's key, kept so that a new serving certificate can be issued under the same
    /// CA (whoever trusts it keeps trusting); nil for certificates issued elsewhere.
    public let caKeyPEM: String?

    public init(caPEM: String, certificatePEM: String, privateKeyPEM: String, caKeyPEM: String? = nil) {
        self.caPEM = caPEM
        self.certificatePEM = certificatePEM
        self.privateKeyPEM = privateKeyPEM
        self.caKeyPEM = caKeyPEM
    }

    /// A CA and a leaf for `dnsNames` and IPv4 `ipAddresses`, valid as `lifetimes` says.
    public static func generate(
        caName: String, leafName: String, dnsNames: [String], ipAddresses: [String] = ["127.0.0.1"],
        now: Date = Date(), lifetimes: CertificateLifetimes = .standard
    ) throws -> GeneratedCertificate {
        let caKey = P256.Signing.PrivateKey()
        let issuer = try DistinguishedName { CommonName(caName); OrganizationName("PeerPull") }
        let ca = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(caKey.publicKey),
            notValidBefore: now - 300, notValidAfter: now + lifetimes.ca,
            issuer: issuer, subject: issuer, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
            },
            issuerPrivateKey: .init(caKey))
        return try issue(ca: ca, caKey: caKey, leafName: leafName, dnsNames: dnsNames, ipAddresses: ipAddresses, now: now, leafLifetime: lifetimes.leaf)
    }

    /// A new serving certificate under this one's CA (which must have its key), valid
    /// `lifetimes.leaf` but never beyond the CA.
    public func reissued(leafName: String, dnsNames: [String], ipAddresses: [String] = ["127.0.0.1"],
                         now: Date = Date(), lifetimes: CertificateLifetimes = .standard) throws -> GeneratedCertificate {
        guard let caKeyPEM else { throw CertificateError("the CA's key is not kept: a new CA must be generated") }
        let ca = try Certificate(pemEncoded: Self.firstPEM(caPEM))
        let caKey = try P256.Signing.PrivateKey(pemRepresentation: caKeyPEM)
        guard Certificate.PublicKey(caKey.publicKey) == ca.publicKey else { throw CertificateError("ca.key does not belong to ca.crt") }
        return try Self.issue(ca: ca, caKey: caKey, leafName: leafName, dnsNames: dnsNames, ipAddresses: ipAddresses, now: now,
                              leafLifetime: lifetimes.leaf)
    }

    private static func issue(ca: Certificate, caKey: P256.Signing.PrivateKey, leafName: String, dnsNames: [String], ipAddresses: [String],
                              now: Date, leafLifetime: TimeInterval) throws -> GeneratedCertificate {
        let leafKey = P256.Signing.PrivateKey()
        var names: [GeneralName] = Array(Set(dnsNames)).sorted().map { .dnsName($0) }
        for ip in ipAddresses {
            let octets = ip.split(separator: ".").compactMap { UInt8($0) }
            if octets.count == 4 { names.append(.ipAddress(ASN1OctetString(contentBytes: ArraySlice(octets)))) }
        }
        let leaf = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(leafKey.publicKey),
            notValidBefore: now - 300, notValidAfter: min(now + leafLifetime, ca.notValidAfter),
            issuer: ca.subject, subject: try DistinguishedName { CommonName(leafName) },
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
            privateKeyPEM: leafKey.pemRepresentation,
            caKeyPEM: caKey.pemRepresentation)
    }

    /// When the serving certificate stops being valid, or nil when it does not parse.
    public var notValidAfter: Date? { (try? Certificate(pemEncoded: certificatePEM))?.notValidAfter }

    /// When the CA stops being valid, or nil when it does not parse. (`caPEM` may hold a
    /// bundle while a CA is being replaced: the first certificate is the current CA.)
    public var caNotValidAfter: Date? { (try? Certificate(pemEncoded: Self.firstPEM(caPEM)))?.notValidAfter }

    /// The first PEM block of `text` (the whole text when it has no end marker).
    public static func firstPEM(_ text: String) -> String {
        let end = "-----END CERTIFICATE-----"
        guard let r = text.range(of: end) else { return text }
        return String(text[..<r.upperBound]) + "\n"
    }

    /// The DNS names of the serving certificate, or nil when it does not parse.
    public var dnsNames: Set<String>? {
        guard let leaf = try? Certificate(pemEncoded: certificatePEM),
              let names = try? leaf.extensions.subjectAlternativeNames else { return nil }
        return Set(names.compactMap { if case .dnsName(let n) = $0 { n } else { nil } })
    }

    /// Loads `ca.crt`, `tls.crt` and `tls.key` (and `ca.key`) from `directory`, or makes
    /// them and writes them (keys mode 0600), so a restart keeps the CA others trust.
    /// The serving certificate is issued again, under the same CA, when it does not name
    /// every one of `required` (an origin was added) or expires within
    /// `lifetimes.renewBefore`; the CA itself is replaced (`make`) only when its key was not
    /// kept (files of an older version) or it expires within `renewBefore` plus a leaf's
    /// lifetime.
    public static func loadOrGenerate(in directory: String, covering required: Set<String> = [],
                                      now: Date = Date(), lifetimes: CertificateLifetimes = .standard,
                                      reissue: (GeneratedCertificate) throws -> GeneratedCertificate,
                                      _ make: () throws -> GeneratedCertificate) throws -> GeneratedCertificate {
        let fm = FileManager.default
        let paths = ["ca.crt", "tls.crt", "tls.key", "ca.key"].map { "\(directory)/\($0)" }
        var next: GeneratedCertificate?
        if paths[..<3].allSatisfy({ fm.fileExists(atPath: $0) }) {
            let texts = try paths[..<3].map { try String(contentsOfFile: $0, encoding: .utf8) }
            let stored = GeneratedCertificate(caPEM: texts[0], certificatePEM: texts[1], privateKeyPEM: texts[2],
                                              caKeyPEM: try? String(contentsOfFile: paths[3], encoding: .utf8))
            if let names = stored.dnsNames, required.isSubset(of: names),
               let expiry = stored.notValidAfter, expiry > now + lifetimes.renewBefore { return stored }
            if stored.caKeyPEM != nil, let caExpiry = stored.caNotValidAfter, caExpiry > now + lifetimes.renewBefore + lifetimes.leaf {
                next = try? reissue(stored)
            }
        }
        try fm.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let generated = try next ?? make()
        try generated.caPEM.write(toFile: paths[0], atomically: true, encoding: .utf8)
        // Each file is replaced by a rename, so a reader (the running agent's certificate
        // reloader) sees the old or the new file, never a part; the key is written with
        // mode 0600 before the rename.
        try generated.certificatePEM.write(toFile: paths[1], atomically: true, encoding: .utf8)
        try writePrivate(generated.privateKeyPEM, to: paths[2])
        if let key = generated.caKeyPEM { try writePrivate(key, to: paths[3]) }
        return generated
    }

    /// Writes `text` to a temporary file of mode 0600 beside `path`, then renames it there.
    private static func writePrivate(_ text: String, to path: String) throws {
        let temporary = path + ".new"
        let fm = FileManager.default
        try? fm.removeItem(atPath: temporary)
        guard fm.createFile(atPath: temporary, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600]) else {
            throw CertificateError("cannot write \(temporary)")
        }
        guard rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            try? fm.removeItem(atPath: temporary)
            throw CertificateError("cannot rename \(temporary) to \(path): \(reason)")
        }
    }
}
