import OCI

/// What went wrong talking to a registry, worded for the operator who must fix it.
public enum RegistryError: Error, Sendable, CustomStringConvertible {
    /// 401: no or wrong credentials. `challenge` is the registry's `WWW-Authenticate`.
    case unauthorized(registry: String, repository: String?, challenge: String?, detail: String?)
    /// 403: the credentials are valid but may not pull this repository.
    case denied(registry: String, repository: String?, detail: String?)
    /// 404: no such repository, tag, manifest or blob.
    case notFound(registry: String, repository: String, reference: String, detail: String?)
    /// The bytes received do not hash to the digest they were asked for.
    case digestMismatch(registry: String, repository: String, DigestMismatch)
    /// 416: the requested range lies outside the blob.
    case rangeNotSatisfiable(registry: String, repository: String, digest: Digest, range: ByteRange)
    /// The token endpoint named by the registry's challenge failed.
    case tokenRequestFailed(realm: String, status: Int?, detail: String)
    /// Any other status, after retries where retrying made sense.
    case unexpectedStatus(registry: String, status: Int, detail: String?)
    /// Connection refused, reset, TLS failure or timeout, after retries.
    case transport(registry: String, detail: String)
    /// The registry sent something that breaks the distribution spec.
    case invalidResponse(registry: String, detail: String)
    /// A manifest above the size limit (containerd refuses them too).
    case manifestTooLarge(registry: String, repository: String, limit: Int)

    public var description: String {
        switch self {
        case .unauthorized(let r, let repo, _, let d):
            return "unauthorized: registry \(r) refused the credentials\(repo.map { " for repository \($0)" } ?? "")\(suffix(d)); check the user name and password or the pull secret"
        case .denied(let r, let repo, let d):
            return "denied: registry \(r) does not allow pulling\(repo.map { " repository \($0)" } ?? "")\(suffix(d)); grant the account pull access"
        case .notFound(let r, let repo, let ref, let d):
            return "notFound: registry \(r) has no \(repo):\(ref)\(suffix(d)); check the image name, tag and digest"
        case .digestMismatch(let r, let repo, let m):
            return "digestMismatch: \(m.description) (registry \(r), repository \(repo))"
        case .rangeNotSatisfiable(let r, let repo, let d, let range):
            return "rangeNotSatisfiable: registry \(r) cannot serve \(range) of \(repo)@\(d)"
        case .tokenRequestFailed(let realm, let status, let d):
            return "token request to \(realm) failed\(status.map { " with HTTP \($0)" } ?? ""): \(d)"
        case .unexpectedStatus(let r, let s, let d):
            return "registry \(r) answered HTTP \(s)\(suffix(d))"
        case .transport(let r, let d):
            return "cannot reach registry \(r): \(d); check the address, the network and --plain-http"
        case .invalidResponse(let r, let d):
            return "registry \(r) sent an invalid response: \(d)"
        case .manifestTooLarge(let r, let repo, let limit):
            return "registry \(r) sent a manifest for \(repo) larger than \(limit) bytes; refusing it"
        }
    }

    private func suffix(_ detail: String?) -> String {
        guard let detail, !detail.isEmpty else { return "" }
        return " (\(detail))"
    }

    /// A short machine-readable name (`unauthorized`, `digestMismatch`, …) for logs and metrics.
    public var code: String {
        switch self {
        case .unauthorized: "unauthorized"
        case .denied: "denied"
        case .notFound: "notFound"
        case .digestMismatch: "digestMismatch"
        case .rangeNotSatisfiable: "rangeNotSatisfiable"
        case .tokenRequestFailed: "tokenRequestFailed"
        case .unexpectedStatus: "unexpectedStatus"
        case .transport: "transport"
        case .invalidResponse: "invalidResponse"
        case .manifestTooLarge: "manifestTooLarge"
        }
    }
}
