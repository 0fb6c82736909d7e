import Certificates
import Synchronization

/// The webhook certificate this replica serves, shared by the TLS reloader, the Secret's
/// follower, the renewal under the lease and the caBundle keeper.
public final class ServingCertificate: Sendable {
    private let state: Mutex<GeneratedCertificate>

    public init(_ certificate: GeneratedCertificate) { state = Mutex(certificate) }

    public var current: GeneratedCertificate { state.withLock { $0 } }

    /// True when `certificate` differs from the one held.
    @discardableResult
    public func replace(with certificate: GeneratedCertificate) -> Bool {
        state.withLock { held in
            guard held != certificate else { return false }
            held = certificate
            return true
        }
    }
}
