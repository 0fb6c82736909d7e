import NIOSSL
import OCI

/// A TLS server configuration from a PEM certificate chain and PEM private key, as the
/// agent and the test servers load them.
public enum TLSServerIdentity {
    public static func configuration(certificatePEM: String, privateKeyPEM: String) throws -> TLSConfiguration {
        TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMBytes(Array(certificatePEM.utf8)).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(bytes: Array(privateKeyPEM.utf8), format: .pem)))
    }
}
