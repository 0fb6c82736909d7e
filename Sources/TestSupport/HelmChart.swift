import Foundation
import Yams

/// The project's Helm chart rendered, linted and schema-checked by Helm's own Go SDK
/// (PyPI `helm-python-sdk`, driven by `charts/render.py`; no helm binary).
public struct HelmChart: Sendable {
    public let path: String

    public init(path: String = HelmChart.repositoryRoot + "/charts/ack-acr-acceleration-p2p") {
        self.path = path
    }

    /// The repository root (where Package.swift is), found from this source file.
    public static var repositoryRoot: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    }

    public struct Refused: Error, CustomStringConvertible {
        public let description: String
    }

    /// Template path → rendered YAML; throws `Refused` with Helm's message when the
    /// values fail the schema or a template fails.
    public func render(_ values: [String: Any], namespace: String = "peerpull-system") async throws -> [String: String] {
        let out = try await call(["render", path, try json(values), namespace])
        guard let manifests = out["manifests"] as? [String: String] else { throw Refused(description: "\(out)") }
        return manifests
    }

    /// The rendered objects, decoded, in a stable order.
    public func objects(_ values: [String: Any], namespace: String = "peerpull-system") async throws -> [[String: Any]] {
        var objects: [[String: Any]] = []
        for (_, text) in try await render(values, namespace: namespace).sorted(by: { $0.key < $1.key }) {
            for doc in try Yams.load_all(yaml: text) {
                if let object = doc as? [String: Any] { objects.append(object) }
            }
        }
        return objects
    }

    /// All rendered manifests as one multi-document YAML stream (for kubectl apply).
    public func manifests(_ values: [String: Any], namespace: String = "peerpull-system", skipping kinds: Set<String> = []) async throws -> String {
        try await objects(values, namespace: namespace).filter { !kinds.contains($0["kind"] as? String ?? "") }
            .map { try Yams.dump(object: $0) }.joined(separator: "---\n")
    }

    /// `helm install` / `helm upgrade` of release `p2p` on a real cluster, through Helm's SDK.
    @discardableResult
    public func install(_ values: [String: Any], namespace: String, kubeconfig: String, upgrade: Bool = false) async throws -> [String: Any] {
        try await call([upgrade ? "upgrade" : "install", path, try json(values), namespace, kubeconfig])
    }

    /// `helm uninstall p2p`.
    public func uninstall(namespace: String, kubeconfig: String) async throws {
        _ = try await call(["uninstall", "-", "{}", namespace, kubeconfig])
    }

    public func lint(_ values: [String: Any]) async throws -> [String: Any] {
        try await call(["lint", path, try json(values)])
    }

    private func json(_ values: [String: Any]) throws -> String {
        String(decoding: try JSONSerialization.data(withJSONObject: values), as: UTF8.self)
    }

    private func call(_ arguments: [String]) async throws -> [String: Any] {
        let r = try await Command.run(["python3", HelmChart.repositoryRoot + "/charts/render.py"] + arguments, check: false)
        guard let out = try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any] else {
            throw Refused(description: "charts/render.py failed (pip install helm-python-sdk?): \(r.stderr.suffix(1500))")
        }
        if let error = out["error"] as? String { throw Refused(description: error) }
        return out
    }
}
