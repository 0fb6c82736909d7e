import Foundation

/// The in-memory twin of the API server's secrets, for tests and local runs: same
/// 404/409 semantics, and an optional delay to play a slow API server.
public actor InMemorySecretStore: SecretStore {
    private var secrets: [String: Secret] = [:]
    private var version = 0
    private let delay: Duration

    public init(_ initial: [Secret] = [], delay: Duration = .zero) {
        self.delay = delay
        for var s in initial {
            version += 1
            s.metadata.resourceVersion = String(version)
            if s.metadata.uid == nil { s.metadata.uid = UUID().uuidString }
            secrets[Self.key(s.metadata.namespace, s.metadata.name)] = s
        }
    }

    /// Sleeps the whole of `d` even when the caller is cancelled. The sleep runs in an
    /// unstructured task, which does not inherit cancellation; a loop around
    /// `Task.sleep` would instead spin (a cancelled sleep returns at once) and hold one
    /// of the cooperative pool's threads for all of `d`.
    static func sleepIgnoringCancellation(_ d: Duration) async {
        await Task { try? await Task.sleep(for: d) }.value
    }

    static func key(_ namespace: String?, _ name: String?) -> String { "\(namespace ?? "")/\(name ?? "")" }

    /// Reads so far, and the most that were in flight at once (to check bounded work).
    public private(set) var reads = 0
    public private(set) var peakConcurrentReads = 0
    private var readsInFlight = 0

    public var all: [Secret] { secrets.values.sorted { Self.key($0.metadata.namespace, $0.metadata.name) < Self.key($1.metadata.namespace, $1.metadata.name) } }

    public func secret(namespace: String, name: String) async throws(KubernetesError) -> Secret? {
        reads += 1
        readsInFlight += 1
        peakConcurrentReads = max(peakConcurrentReads, readsInFlight)
        defer { readsInFlight -= 1 }
        // An API server that does not notice the caller gave up: cancellation is ignored.
        if delay > .zero { await Self.sleepIgnoringCancellation(delay) }
        return secrets[Self.key(namespace, name)]
    }

    public func create(_ secret: Secret) async throws(KubernetesError) -> Secret {
        let k = Self.key(secret.metadata.namespace, secret.metadata.name)
        guard secrets[k] == nil else { throw .status(code: 409, reason: "AlreadyExists", message: "secret \(k) exists") }
        var s = secret
        version += 1
        s.metadata.resourceVersion = String(version)
        s.metadata.uid = UUID().uuidString
        secrets[k] = s
        return s
    }

    public func update(_ secret: Secret) async throws(KubernetesError) -> Secret {
        let k = Self.key(secret.metadata.namespace, secret.metadata.name)
        guard let current = secrets[k] else { throw .status(code: 404, reason: "NotFound", message: "secret \(k)") }
        guard current.metadata.resourceVersion == secret.metadata.resourceVersion else {
            throw .status(code: 409, reason: "Conflict", message: "secret \(k) was modified")
        }
        var s = secret
        version += 1
        s.metadata.resourceVersion = String(version)
        s.metadata.uid = current.metadata.uid
        secrets[k] = s
        return s
    }
}
