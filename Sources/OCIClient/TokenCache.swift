import OCI

/// Bearer tokens and Basic headers per (registry, scope, identity), kept until they
/// expire so a pull of many blobs asks the token server once per repository.
actor TokenCache {
    struct Key: Hashable {
        var domain: String
        var scope: String
        var identity: String
    }

    private struct Entry {
        var authorization: String
        var expires: ContinuousClock.Instant?
    }

    private var entries: [Key: Entry] = [:]
    private let now: @Sendable () -> ContinuousClock.Instant

    init(now: @escaping @Sendable () -> ContinuousClock.Instant = { ContinuousClock.now }) {
        self.now = now
    }

    func authorization(for key: Key) -> String? {
        guard let e = entries[key] else { return nil }
        if let exp = e.expires, exp <= now() {
            entries[key] = nil
            return nil
        }
        return e.authorization
    }

    /// Stores a header valid for `lifetime` (nil: until replaced). Tokens are dropped a
    /// little early so a request never leaves with a token that expires in flight.
    func store(_ authorization: String, for key: Key, lifetime: Duration?) {
        let expires = lifetime.map { now() + max(.zero, $0 - min(.seconds(10), $0 / 10)) }
        entries[key] = Entry(authorization: authorization, expires: expires)
        if entries.count > 4096 { purgeExpired() }
    }

    func remove(_ key: Key) { entries[key] = nil }

    private func purgeExpired() {
        let t = now()
        entries = entries.filter { $0.value.expires.map { $0 > t } ?? true }
    }
}
