/// The origins an agent accelerates, indexed the way P2P hosts map back to them. Shared
/// by the agent (which maps a request's P2P host to its origin) and the controller (which
/// rewrites an image only when that mapping leads back to the image's registry), so the
/// two can never disagree about an ambiguous origin.
public struct OriginSet: Sendable, Equatable {
    public let origins: Set<String>
    /// Host (without port) → the origins on it.
    private let byHost: [String: [String]]

    public init(_ origins: some Sequence<String>) {
        self.origins = Set(origins.map { $0.lowercased() })
        byHost = Dictionary(grouping: self.origins, by: P2PHostRule.host(of:))
    }

    /// The origin a P2P host's origin name (`rule.origin(forP2PDomain:)`) stands for: the
    /// origin itself, or the one origin on that host with its own port
    /// (`harbor.example.com` → `harbor.example.com:8443`); nil when unknown or ambiguous.
    public func origin(named name: String) -> String? {
        if origins.contains(name) { return name }
        guard let candidates = byHost[name], candidates.count == 1 else { return nil }
        return candidates[0]
    }

    /// Whether `origin`'s P2P host maps back to exactly `origin` under `rule`.
    public func roundTrips(_ origin: String, rule: P2PHostRule) -> Bool {
        guard let p2p = rule.p2pDomain(forOrigin: origin), let name = rule.origin(forP2PDomain: p2p) else { return false }
        return self.origin(named: name) == origin
    }
}
