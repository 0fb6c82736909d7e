import Logging

/// Re-syncs copies when their source secret changes (rotated registry tokens), following
/// the replica's watch of pull secrets. A source is known by the copies that name it.
public actor PullSecretResync {
    private var sources: Set<String> = []  // "namespace/name" of secrets that have a copy
    private let mirror: PullSecretMirror
    private let metrics: ControllerMetrics?
    private let logger: Logger

    public init(mirror: PullSecretMirror, metrics: ControllerMetrics?, logger: Logger) {
        self.mirror = mirror
        self.metrics = metrics
        self.logger = logger
    }

    func handle(_ event: Reflector<Secret>.Event) async {
        switch event {
        case .replaced(let all):
            sources = Set(all.compactMap(Self.sourceKey))
            for secret in all where sources.contains(Self.key(secret)) { await resync(secret) }
        case .upserted(let secret):
            if let source = Self.sourceKey(secret) { sources.insert(source); return }
            if sources.contains(Self.key(secret)) { await resync(secret) }
        case .deleted(let secret):
            // The copy goes with its source through its ownerReference.
            if Self.sourceKey(secret) == nil { sources.remove(Self.key(secret)) }
        }
    }

    private func resync(_ secret: Secret) async {
        do {
            try await mirror.sync(source: secret)
            metrics?.secretSync("ok")
        } catch {
            metrics?.secretSync("error")
            logger.warning("cannot re-sync a pull-secret copy", metadata: ["source": "\(Self.key(secret))", "error": "\(error)"])
        }
    }

    static func key(_ s: Secret) -> String { "\(s.metadata.namespace ?? "")/\(s.metadata.name ?? "")" }

    /// For a copy made by PeerPull, the key of its source.
    static func sourceKey(_ s: Secret) -> String? {
        guard s.metadata.labels?[PullSecretMirror.managedByLabel] == PullSecretMirror.managedBy,
              let source = s.metadata.annotations?[PullSecretMirror.sourceAnnotation] else { return nil }
        return "\(s.metadata.namespace ?? "")/\(source)"
    }

    /// Re-syncs from the replica's secret watches (the cache's) until cancelled: what the
    /// cache holds now, then every change.
    public func follow(cache: SecretCache) async {
        let (snapshot, events) = await cache.subscribe()
        await handle(.replaced(snapshot))
        for await event in events {
            if Task.isCancelled { break }
            await handle(event)
        }
    }
}
