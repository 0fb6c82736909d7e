/// How a request authenticates to a registry.
public enum RegistryAuthorization: Sendable, Hashable {
    /// No credentials: anonymous Bearer tokens where the registry hands them out.
    case anonymous
    /// The client runs the Basic or Bearer token flow with these credentials.
    case credentials(RegistryCredentials)
    /// A caller's own `Authorization` header (or none), sent unchanged; a 401 is
    /// reported with the registry's challenge so the caller can pass it back.
    case passThrough(String?)

    var cacheIdentity: String {
        switch self {
        case .anonymous: "anonymous"
        case .credentials(let c): c.identity
        case .passThrough: "pass-through"
        }
    }

    var credentials: RegistryCredentials? {
        if case .credentials(let c) = self { return c }
        return nil
    }
}
