import OCI

/// Decides which origin registry a request is for, in the order the agent trusts them:
/// containerd's `?ns=` (the registry host of the image being pulled: the origin in
/// mirror mode, the P2P host `R.distributed.Y:65001` for a rewritten image), then the
/// P2P host the client dialled, then the single configured origin. Only configured origins are ever contacted: an unknown
/// registry is a 404, never an open proxy.
public struct OriginResolver: Sendable {
    public let origins: OriginSet
    public let rule: P2PHostRule

    public init(origins: some Sequence<String>, rule: P2PHostRule) {
        self.origins = OriginSet(origins)
        self.rule = rule
    }

    public func origin(host: String?, namespace: String?) -> Result<String, OCIErrorResponse> {
        if let ns = namespace?.lowercased(), !ns.isEmpty {
            // A real kubelet's pull of a rewritten image sends the P2P host here, not the origin.
            if let name = rule.origin(forP2PDomain: ns) {
                return origins.origin(named: name).map { .success($0) } ?? .failure(unknown(name))
            }
            let origin = ns == "index.docker.io" ? ImageReference.defaultDomain : ns
            return origins.origins.contains(origin) ? .success(origin) : .failure(unknown(ns))
        }
        if let host, let name = rule.origin(forP2PDomain: host) {
            return origins.origin(named: name).map { .success($0) } ?? .failure(unknown(name))
        }
        if origins.origins.count == 1, let only = origins.origins.first { return .success(only) }
        return .failure(unknown(host ?? "?"))
    }

    private func unknown(_ registry: String) -> OCIErrorResponse {
        OCIErrorResponse(status: 404, code: "NAME_UNKNOWN",
                         message: "registry \(registry.prefix(255)) is not accelerated by this agent; add it to the agent's origins")
    }
}
