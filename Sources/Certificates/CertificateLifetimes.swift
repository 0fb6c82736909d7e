import Foundation

/// How long generated certificates are valid, and how long before its end a serving
/// certificate is issued again. Short ones are for tests.
public struct CertificateLifetimes: Sendable, Equatable {
    public var ca: TimeInterval
    public var leaf: TimeInterval
    public var renewBefore: TimeInterval

    public init(ca: TimeInterval = 3650 * 86400, leaf: TimeInterval = 365 * 86400, renewBefore: TimeInterval = 30 * 86400) {
        self.ca = ca
        self.leaf = leaf
        self.renewBefore = renewBefore
    }

    /// A CA for 10 years, a serving certificate for one, issued again 30 days before its end.
    public static let standard = CertificateLifetimes()

    /// What is wrong with these lifetimes checked every `checkInterval` (the hidden
    /// `--tls-*-seconds` flags of the agent and the controller), as the flag and the problem.
    public func problem(checkInterval: Duration) -> (field: String, problem: String)? {
        guard leaf > renewBefore, renewBefore > 0 else {
            return ("--tls-leaf-lifetime-seconds", "the serving certificate must live longer than --tls-renew-before-seconds (> 0)")
        }
        guard checkInterval >= .milliseconds(100), checkInterval < .seconds(renewBefore) else {
            return ("--tls-check-seconds", "must be at least 0.1 s and shorter than --tls-renew-before-seconds")
        }
        return nil
    }
}
