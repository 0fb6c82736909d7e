import Foundation
import Yams

/// Where the API server is and how to authenticate: from inside a pod (service-account
/// token and CA, `KUBERNETES_SERVICE_HOST`) or from a kubeconfig file.
public struct KubernetesConnection: Sendable, Equatable {
    public var server: String
    public var caPEM: String?
    public var token: String?
    /// Re-read before each request when set (service-account tokens are rotated on disk).
    public var tokenFile: String?
    public var clientCertificatePEM: String?
    public var clientKeyPEM: String?
    /// The namespace the controller runs in, when known (in a pod).
    public var namespace: String?

    public init(server: String, caPEM: String? = nil, token: String? = nil) {
        self.server = server
        self.caPEM = caPEM
        self.token = token
    }

    public static let serviceAccountDirectory = "/var/run/secrets/kubernetes.io/serviceaccount"

    /// The connection of a pod's service account.
    public static func inCluster(environment: [String: String] = ProcessInfo.processInfo.environment,
                                 directory: String = serviceAccountDirectory) throws(KubernetesError) -> KubernetesConnection {
        guard let host = environment["KUBERNETES_SERVICE_HOST"], let port = environment["KUBERNETES_SERVICE_PORT"] else {
            throw .configuration("not running in a pod (KUBERNETES_SERVICE_HOST is unset): pass --kubeconfig")
        }
        let h = host.contains(":") ? "[\(host)]" : host
        var c = KubernetesConnection(server: "https://\(h):\(port)")
        c.caPEM = try? String(contentsOfFile: directory + "/ca.crt", encoding: .utf8)
        c.tokenFile = directory + "/token"
        c.namespace = (try? String(contentsOfFile: directory + "/namespace", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
        guard FileManager.default.fileExists(atPath: directory + "/token") else {
            throw .configuration("no service-account token at \(directory)/token: set automountServiceAccountToken")
        }
        return c
    }

    /// The current (or named) context of a kubeconfig file: server, CA, and a token or client certificate.
    public static func kubeconfig(path: String, context name: String? = nil) throws(KubernetesError) -> KubernetesConnection {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw .configuration("cannot read kubeconfig \(path)") }
        guard let root = (try? Yams.load(yaml: text)) as? [String: Any] else { throw .configuration("kubeconfig \(path) is not a YAML map") }
        func named(_ list: String, _ name: String?) -> [String: Any]? {
            (root[list] as? [[String: Any]])?.first { $0["name"] as? String == name }
        }
        let contextName = name ?? root["current-context"] as? String
        guard let context = named("contexts", contextName)?["context"] as? [String: Any] else {
            throw .configuration("kubeconfig \(path) has no context \(contextName ?? "(none)")")
        }
        guard let cluster = named("clusters", context["cluster"] as? String)?["cluster"] as? [String: Any],
              let server = cluster["server"] as? String else {
            throw .configuration("kubeconfig \(path): context \(contextName ?? "") names no cluster with a server")
        }
        let base = URL(fileURLWithPath: path).deletingLastPathComponent().path
        func pem(_ map: [String: Any], data: String, file: String) -> String? {
            if let d = map[data] as? String, let decoded = Data(base64Encoded: d) { return String(decoding: decoded, as: UTF8.self) }
            if let f = map[file] as? String { return try? String(contentsOfFile: f.hasPrefix("/") ? f : base + "/" + f, encoding: .utf8) }
            return nil
        }
        var c = KubernetesConnection(server: server)
        c.caPEM = pem(cluster, data: "certificate-authority-data", file: "certificate-authority")
        c.namespace = context["namespace"] as? String
        if let user = named("users", context["user"] as? String)?["user"] as? [String: Any] {
            c.token = user["token"] as? String
            if let f = user["tokenFile"] as? String { c.tokenFile = f }
            c.clientCertificatePEM = pem(user, data: "client-certificate-data", file: "client-certificate")
            c.clientKeyPEM = pem(user, data: "client-key-data", file: "client-key")
        }
        return c
    }

    /// The bearer token to send now, if any.
    func currentToken() -> String? {
        if let tokenFile, let t = try? String(contentsOfFile: tokenFile, encoding: .utf8) {
            return t.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        return token
    }
}
