import Logging

/// Namespace labels, kept current by a watch, so admission does not ask the API server
/// for every pod. A namespace the cache has not seen yet (just created) is fetched once.
public actor NamespaceLabelCache {
    private var labels: [String: [String: String]] = [:]
    private var synced = false
    private let client: KubernetesClient?

    public init(client: KubernetesClient?) {
        self.client = client
    }

    /// Labels of `namespace`; nil when unknown and not fetchable in `timeout`.
    public func labels(of namespace: String, timeout: Duration = .milliseconds(500)) async -> [String: String]? {
        if let known = labels[namespace] { return known }
        guard let client else { return nil }
        guard let ns: Namespace = try? await client.get("/api/v1/namespaces/\(namespace)", timeout: timeout) else { return nil }
        labels[namespace] = ns.metadata.labels ?? [:]
        return labels[namespace]
    }

    public var isSynced: Bool { synced }

    public func set(_ namespace: String, labels value: [String: String]?) {
        labels[namespace] = value ?? [:]
    }

    func apply(_ event: Reflector<Namespace>.Event) {
        switch event {
        case .replaced(let all):
            labels = Dictionary(all.compactMap { ns in ns.metadata.name.map { ($0, ns.metadata.labels ?? [:]) } }, uniquingKeysWith: { a, _ in a })
            synced = true
        case .upserted(let ns):
            if let name = ns.metadata.name { labels[name] = ns.metadata.labels ?? [:] }
        case .deleted(let ns):
            if let name = ns.metadata.name { labels[name] = nil }
        }
    }

    /// Follows every namespace until cancelled.
    public func follow(logger: Logger) async {
        guard let client else { return }
        await Reflector<Namespace>(client: client, path: "/api/v1/namespaces", logger: logger).run { event in
            await self.apply(event)
        }
    }
}
