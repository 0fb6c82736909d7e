import ArgumentParser

/// Short certificate lifetimes, for the renewal tests only (hidden flags of the agent and
/// the controller).
struct CertificateTimingOptions: ParsableArguments {
    @Option(help: .hidden)
    var tlsLeafLifetimeSeconds: Double?
    @Option(help: .hidden)
    var tlsRenewBeforeSeconds: Double?
    @Option(help: .hidden)
    var tlsCheckSeconds: Double?

    /// Overrides the lifetimes and the check interval that were given.
    func apply(leaf: inout Double, renewBefore: inout Double, checkInterval: inout Duration) {
        if let tlsLeafLifetimeSeconds { leaf = tlsLeafLifetimeSeconds }
        if let tlsRenewBeforeSeconds { renewBefore = tlsRenewBeforeSeconds }
        if let tlsCheckSeconds { checkInterval = .milliseconds(Int64(tlsCheckSeconds * 1000)) }
    }
}
