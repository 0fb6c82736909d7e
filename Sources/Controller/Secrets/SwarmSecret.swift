import Foundation
import Logging

/// The Secret whose key signs agent-to-agent requests (`<fullname>-swarm`), created once
/// by the controller and never changed.
///
/// Every agent must hold the same key: agents that start with a new one refuse the others'
/// requests, and a rolling update splits into two swarms. The chart used to generate it
/// with `lookup` and `randAlphaNum`, which GitOps tools (`helm template`, where `lookup`
/// finds nothing) rendered anew on every sync. Now the chart only names it; the agents'
/// pods wait until kubelet can mount it. Every replica runs `ensure` at start: creation is
/// atomic (409 for all but the first), so replicas racing agree on one key.
///
/// The agents read the key `secret` as the file `/etc/peerpull-swarm/secret`, whose bytes
/// (line breaks dropped) are the key, at least 16 of them: the format the chart's Secret had.
public struct SwarmSecret: Sendable {
    /// The Secret's data key, the file name in the agents' mount.
    public static let dataKey = "secret"
    /// Random characters of a new key (the chart's `randAlphaNum 48` before).
    public static let keyLength = 48
    /// The agent's `PeerCredential.minimumSecretBytes`: a shorter key stops the agent.
    public static let minimumKeyBytes = 16

    /// What `ensure` found or did.
    public enum Outcome: Sendable, Equatable {
        case created
        case existing
        /// The Secret exists but holds no usable key; it is left as it is.
        case unusable(String)
    }

    let store: any SecretStore
    let namespace: String
    let name: String
    let logger: Logger

    public init(store: any SecretStore, namespace: String, name: String, logger: Logger) {
        self.store = store
        self.namespace = namespace
        self.name = name
        self.logger = logger
    }

    /// Creates the Secret with a new key when it does not exist; never changes one that does.
    @discardableResult
    public func ensure(newKey: @Sendable () -> String = SwarmSecret.randomKey) async throws(KubernetesError) -> Outcome {
        if let existing = try await store.secret(namespace: namespace, name: name) { return check(existing) }
        let secret = Secret(
            metadata: ObjectMeta(name: name, namespace: namespace, labels: [PullSecretMirror.managedByLabel: PullSecretMirror.managedBy],
                                 annotations: [Self.purposeAnnotation: "the swarm's peer-signing key, made once by the PeerPull controller"]),
            type: "Opaque",
            data: [Self.dataKey: Data(newKey().utf8).base64EncodedString()])
        do {
            _ = try await store.create(secret)
        } catch {
            guard error.code == 409 else { throw error }
            // Another replica created it first: use theirs.
            guard let theirs = try await store.secret(namespace: namespace, name: name) else { throw error }
            return check(theirs)
        }
        logger.notice("created the swarm's peer-signing key", metadata: ["secret": "\(namespace)/\(name)"])
        return .created
    }

    static let purposeAnnotation = "peerpull.io/purpose"

    private func check(_ secret: Secret) -> Outcome {
        let key = secret.data?[Self.dataKey].flatMap { Data(base64Encoded: $0) }?.filter { $0 != 0x0A && $0 != 0x0D }
        guard let key, key.count >= Self.minimumKeyBytes else {
            let problem = "secret \(namespace)/\(name) has no key `\(Self.dataKey)` of at least \(Self.minimumKeyBytes) bytes, so no agent can join "
                + "the swarm; delete it and restart the controller to have a new one made, or put a key there"
            logger.error("the swarm's peer-signing key is unusable", metadata: ["problem": "\(problem)"])
            return .unusable(problem)
        }
        logger.info("using the swarm's peer-signing key", metadata: ["secret": "\(namespace)/\(name)"])
        return .existing
    }

    /// `keyLength` letters and digits from the system's cryptographically secure generator.
    public static func randomKey() -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
        var generator = SystemRandomNumberGenerator()
        return String((0..<keyLength).map { _ in alphabet.randomElement(using: &generator)! })
    }

    /// `ensure` until it succeeds (the API server or the controller's permissions may not
    /// be ready at start), then returns. The first error is logged, not every retry.
    public func ensureUntilDone(retryAfter: Duration = .seconds(2)) async {
        var warned = false
        while !Task.isCancelled {
            do {
                try await ensure()
                return
            } catch {
                if !warned {
                    logger.warning("cannot read or create the swarm's peer-signing key yet; retrying (agents wait for it)", metadata: [
                        "secret": "\(namespace)/\(name)", "error": "\(error)"])
                    warned = true
                }
            }
            try? await Task.sleep(for: retryAfter)
        }
    }
}
