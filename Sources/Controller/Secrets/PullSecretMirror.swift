import Foundation
import Logging

/// Keeps `acr-credential-<name>-p2p` copies of pull secrets: the same type and
/// credentials, with each entry for an accelerated registry moved to that registry's
/// P2P host (`R.distributed.Y:65001`, the exact key kubelet matches for a rewritten
/// image). Invalid credentials stay invalid: the origin judges them either way.
public struct PullSecretMirror: Sendable {
    public let store: any SecretStore
    public let policy: ControllerPolicy
    let logger: Logger

    public static let managedByLabel = "app.kubernetes.io/managed-by"
    public static let managedBy = "peerpull"
    public static let sourceAnnotation = "peerpull.io/source"
    public static let sourceVersionAnnotation = "peerpull.io/source-resource-version"

    public init(store: any SecretStore, policy: ControllerPolicy, logger: Logger = Logger(label: "peerpull.controller")) {
        self.store = store
        self.policy = policy
        self.logger = logger
    }

    /// The copy `source` should have, or nil when it holds no entry for an accelerated registry.
    public func copy(of source: Secret) -> Secret? {
        guard let config = DockerConfig(secret: source), let name = source.metadata.name else { return nil }
        var moved = false
        var entries: [(key: String, entry: JSONValue)] = []
        for (key, entry) in config.entries {
            let path = DockerConfig.path(of: key)
            let probe = path.isEmpty ? "x" : String(path.dropFirst()) + "/x"
            let origins = policy.registries.sorted().filter { DockerConfig.key(key, covers: $0, repository: probe) }
            let targets = origins.compactMap { policy.rule.p2pDomain(forOrigin: $0) }
            if targets.isEmpty {
                entries.append((key, entry))
            } else {
                moved = true
                for t in targets where !entries.contains(where: { $0.key == t + path }) { entries.append((t + path, entry)) }
            }
        }
        guard moved, let type = config.format.rawValue as String? else { return nil }
        var meta = ObjectMeta(
            name: ControllerPolicy.copyName(of: name), namespace: source.metadata.namespace,
            labels: [Self.managedByLabel: Self.managedBy],
            annotations: [Self.sourceAnnotation: name, Self.sourceVersionAnnotation: source.metadata.resourceVersion ?? ""])
        if let uid = source.metadata.uid {
            // Garbage-collected with its source.
            meta.ownerReferences = [OwnerReference(apiVersion: "v1", kind: "Secret", name: name, uid: uid, controller: false, blockOwnerDeletion: false)]
        }
        let data = DockerConfig(format: config.format, entries: entries).encoded().base64EncodedString()
        return Secret(metadata: meta, type: type, data: [config.format.dataKey: data])
    }

    /// Whether `copy` is what `source` calls for (then `sync` would change nothing).
    public func isCurrent(_ copy: Secret, for source: Secret) -> Bool {
        guard let wanted = self.copy(of: source) else { return false }
        return Self.matches(copy, wanted)
    }

    static func matches(_ current: Secret, _ wanted: Secret) -> Bool {
        current.type == wanted.type && current.data == wanted.data
            && current.metadata.ownerReferences == wanted.metadata.ownerReferences
            && current.metadata.annotations?[sourceVersionAnnotation] == wanted.metadata.annotations?[sourceVersionAnnotation]
    }

    /// Creates or updates the copy of `source` so it matches; returns the copy's name,
    /// or nil when the source needs none.
    @discardableResult
    public func sync(source: Secret) async throws(KubernetesError) -> String? {
        guard var wanted = copy(of: source), let namespace = wanted.metadata.namespace, let name = wanted.metadata.name else { return nil }
        for attempt in 1...3 {
            do throws(KubernetesError) {
                guard let current = try await store.secret(namespace: namespace, name: name) else {
                    _ = try await store.create(wanted)
                    logger.info("created pull-secret copy", metadata: ["namespace": "\(namespace)", "secret": "\(name)"])
                    return name
                }
                if Self.matches(current, wanted) { return name }
                wanted.metadata.resourceVersion = current.metadata.resourceVersion
                if current.type != wanted.type {
                    // The type of a secret cannot change: the API server refuses such an update.
                    throw KubernetesError.status(code: 409, reason: "TypeChanged", message: "secret \(namespace)/\(name) has type \(current.type ?? "?"); delete it to let PeerPull recreate it")
                }
                _ = try await store.update(wanted)
                logger.info("updated pull-secret copy", metadata: ["namespace": "\(namespace)", "secret": "\(name)"])
                return name
            } catch {
                // A concurrent writer (the other replica, the re-sync watch): read again.
                guard error.code == 409, attempt < 3, case .status(_, let reason, _) = error, reason != "TypeChanged" else { throw error }
            }
        }
        return name
    }
}
