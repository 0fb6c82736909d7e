import Logging

/// Pull secrets (the two docker-config types) of every namespace, kept current by a
/// watch, so admission reads a pod's secrets from memory instead of one API call per
/// name. Other secret types are dropped on arrival: they can never be pull secrets
/// (kubelet reads a pull secret only by its docker-config type), so they cost no memory.
public actor SecretCache {
    private var secrets: [String: Secret] = [:]
    private var synced = false

    public init() {}

    /// Whether a full list has arrived (before that, every lookup misses).
    public var isSynced: Bool { synced }

    /// The cached pull secret, or nil when it is not (yet) known here.
    public func secret(namespace: String, name: String) -> Secret? {
        secrets[Self.key(namespace, name)]
    }

    func apply(_ event: Reflector<Secret>.Event) {
        switch event {
        case .replaced(let all):
            secrets = Dictionary(all.filter(Self.isPullSecret).map { (Self.key($0), $0) }, uniquingKeysWith: { _, b in b })
            synced = true
        case .upserted(let secret):
            // A secret whose type changed away from docker-config must leave the cache too.
            secrets[Self.key(secret)] = Self.isPullSecret(secret) ? secret : nil
        case .deleted(let secret):
            secrets[Self.key(secret)] = nil
        }
    }

    /// Follows every namespace's secrets until cancelled.
    public func follow(client: KubernetesClient, logger: Logger) async {
        await Reflector<Secret>(client: client, path: "/api/v1/secrets", logger: logger).run { event in
            await self.apply(event)
        }
    }

    static func isPullSecret(_ s: Secret) -> Bool {
        s.type.flatMap(DockerConfig.Format.init(rawValue:)) != nil
    }

    static func key(_ s: Secret) -> String { key(s.metadata.namespace ?? "", s.metadata.name ?? "") }
    static func key(_ namespace: String, _ name: String) -> String { "\(namespace)/\(name)" }
}
