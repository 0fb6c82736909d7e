import Logging

/// Pull secrets (the two docker-config types) of every namespace, kept current by
/// watches, so admission reads a pod's secrets from memory instead of one API call per
/// name, and the leader's re-sync follows the same watches instead of its own.
///
/// Only the docker-config types are listed and watched (a field selector on `type`):
/// kubelet uses a pull secret only by those types, and a cluster's other secrets (Helm
/// releases, TLS, tokens) can be many and large. Lists are paged.
public actor SecretCache {
    public typealias Event = Reflector<Secret>.Event

    private var secrets: [String: Secret] = [:]
    private var subscribers: [Int: AsyncStream<Event>.Continuation] = [:]
    private var nextSubscriber = 0

    public init() {}

    /// The cached pull secret, or nil when it is not (yet) known here.
    public func secret(namespace: String, name: String) -> Secret? {
        secrets[Self.key(namespace, name)]
    }

    /// Every cached secret, and the events that follow it, until the stream is dropped.
    public func subscribe() -> (snapshot: [Secret], events: AsyncStream<Event>) {
        let id = nextSubscriber
        nextSubscriber += 1
        let (stream, continuation) = AsyncStream<Event>.makeStream(bufferingPolicy: .bufferingNewest(10_000))
        continuation.onTermination = { _ in Task { await self.unsubscribe(id) } }
        subscribers[id] = continuation
        return (Array(secrets.values), stream)
    }

    private func unsubscribe(_ id: Int) { subscribers[id] = nil }

    /// Applies an event of the watch on secrets of `type`.
    func apply(_ event: Event, type: String) {
        let forwarded: Event
        switch event {
        case .replaced(let all):
            // A re-list of one type replaces that type's secrets only.
            secrets = secrets.filter { $0.value.type != type }
            for s in all where s.type == type { secrets[Self.key(s)] = s }
            forwarded = .replaced(Array(secrets.values))
        case .upserted(let secret):
            secrets[Self.key(secret)] = secret.type == type ? secret : nil
            forwarded = event
        case .deleted(let secret):
            secrets[Self.key(secret)] = nil
            forwarded = event
        }
        for c in subscribers.values { c.yield(forwarded) }
    }

    /// Follows every namespace's pull secrets until cancelled.
    public func follow(client: KubernetesClient, logger: Logger) async {
        await withTaskGroup(of: Void.self) { group in
            for type in DockerConfig.Format.allTypes {
                let selector = "fieldSelector=type%3D" + type.replacingOccurrences(of: "/", with: "%2F")
                group.addTask {
                    await Reflector<Secret>(client: client, path: "/api/v1/secrets?\(selector)", logger: logger).run { event in
                        await self.apply(event, type: type)
                    }
                }
            }
        }
    }

    static func key(_ s: Secret) -> String { key(s.metadata.namespace ?? "", s.metadata.name ?? "") }
    static func key(_ namespace: String, _ name: String) -> String { "\(namespace)/\(name)" }
}

extension DockerConfig.Format {
    /// The secret types kubelet reads pull credentials from.
    static var allTypes: [String] { [Self.dockerConfigJSON.rawValue, Self.dockerCfg.rawValue] }
}
