/// A failure talking to the API server, said so an operator knows what to check.
public enum KubernetesError: Error, Sendable, CustomStringConvertible {
    case configuration(String)
    /// The API server answered with a `Status` (404, 409 conflict, 410 gone, 403 …).
    case status(code: Int, reason: String, message: String)
    case transport(String)
    case decoding(String)
    case timedOut(String)

    public var description: String {
        switch self {
        case .configuration(let m): "Kubernetes configuration: \(m)"
        case .status(let code, let reason, let m):
            code == 403 ? "the API server refused (403 \(reason)): \(m); check the controller's RBAC" : "the API server answered \(code) \(reason): \(m)"
        case .transport(let m): "cannot reach the API server: \(m)"
        case .decoding(let m): "unexpected answer from the API server: \(m)"
        case .timedOut(let what): "the API server did not answer in time (\(what))"
        }
    }

    public var code: Int? { if case .status(let c, _, _) = self { return c } else { return nil } }
}
