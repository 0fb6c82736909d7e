import OCI

/// A repository at a registry: `domain` (`host[:port]`) and `path` (`library/nginx`).
public struct Repository: Hashable, Sendable, CustomStringConvertible {
    public var domain: String
    public var path: String

    public init(domain: String, path: String) {
        self.domain = domain
        self.path = path
    }

    public init(_ reference: ImageReference) {
        self.init(domain: reference.domain, path: reference.repository)
    }

    public var description: String { "\(domain)/\(path)" }

    /// The token scope for pulling, as containerd requests it.
    public var pullScope: String { "repository:\(path):pull" }
}
