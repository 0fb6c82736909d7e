import Crypto
import OCI
import OCIClient

/// Decides whether a caller may receive cached content, by asking the origin.
///
/// The agent keeps no passwords, so it cannot judge credentials itself: before serving
/// a cached blob or manifest it sends a `HEAD` for that exact object to the origin with
/// the caller's own `Authorization`, and serves only on 2xx. A 401 (with the origin's
/// challenge, unchanged), 403 or 404 goes back to the caller and no byte of the cached
/// object does. The check names the digest, not only the repository, because a blob on
/// disk may have come from another repository the caller cannot read.
///
/// Allowed verdicts are remembered for `ttl` per (hash of the `Authorization` header,
/// repository, digest): containerd's HEAD-then-GET and retries cost one origin round trip.
/// Refusals are never remembered, so a client that fetches a token is let in at once.
public actor AuthorizationGate {
    public enum Object: Hashable, Sendable {
        case blob(OCI.Digest)
        case manifest(OCI.Digest)
    }

    /// What the origin said about an object the caller may read.
    public struct Verdict: Sendable, Equatable {
        public var size: Int64?
        public var contentType: String?
        public var digest: OCI.Digest?
    }

    private struct Key: Hashable {
        var credential: [UInt8]
        var repository: Repository
        var object: Object
    }

    private let client: RegistryClient
    public nonisolated let ttl: Duration
    private let now: @Sendable () -> Double
    private var remembered: [Key: (verdict: Verdict, expires: Double)] = [:]
    private var inFlight: [Key: Task<Verdict, any Error>] = [:]
    private let maximumRemembered = 16_384
    private let metrics: AgentMetrics?

    /// - Parameter now: seconds on a monotonic clock (injected for tests).
    public init(client: RegistryClient, ttl: Duration = .seconds(60), metrics: AgentMetrics? = nil,
                now: @escaping @Sendable () -> Double = { TokenBucket.monotonicSeconds() }) {
        self.client = client
        self.ttl = ttl
        self.metrics = metrics
        self.now = now
    }

    /// Returns the origin's description of `object` if `authorization` may pull it from
    /// `repository`; throws the origin's refusal otherwise.
    public func check(_ object: Object, in repository: Repository, authorization: String?) async throws(RegistryError) -> Verdict {
        let credential = Array(SHA256.hash(data: Array((authorization ?? "").utf8)))
        let key = Key(credential: credential, repository: repository, object: object)
        let t = now()
        if let hit = remembered[key], hit.expires > t {
            metrics?.authorizationCheck("remembered")
            return hit.verdict
        }
        // Concurrent requests of one caller for one object share one origin check:
        // containerd fetches layers in parallel and retries, and 50 clients asking at
        // once must not become 50 HEADs at the origin.
        if let pending = inFlight[key] {
            metrics?.authorizationCheck("shared")
            return try await Self.outcome(of: pending)
        }
        let check = Task { [client] () async throws -> Verdict in
            try await Self.ask(client, object, in: repository, authorization: authorization)
        }
        inFlight[key] = check
        let verdict: Verdict
        do throws(RegistryError) {
            verdict = try await Self.outcome(of: check)
            inFlight[key] = nil
        } catch {
            inFlight[key] = nil
            switch error {
            case .unauthorized, .denied, .notFound: metrics?.authorizationCheck("refused")
            default: metrics?.authorizationCheck("error")
            }
            throw error
        }
        metrics?.authorizationCheck("allowed")
        if remembered.count >= maximumRemembered {
            remembered = remembered.filter { $0.value.expires > t }
            if remembered.count >= maximumRemembered { remembered.removeAll() }
        }
        let seconds = ttl.inSeconds
        if seconds > 0 { remembered[key] = (verdict, t + seconds) }
        return verdict
    }

    /// The origin's answer for one object: a HEAD with the caller's own credentials.
    private static func ask(_ client: RegistryClient, _ object: Object, in repository: Repository, authorization: String?) async throws(RegistryError) -> Verdict {
        switch object {
        case .blob(let digest):
            let head = try await client.headBlob(repository, digest: digest, authorization: .passThrough(authorization))
            return Verdict(size: head.contentLength, contentType: head.contentType, digest: digest)
        case .manifest(let digest):
            let head = try await client.manifest(repository, reference: digest.description, method: .HEAD,
                                                 authorization: .passThrough(authorization))
            return Verdict(size: head.size, contentType: head.contentType, digest: digest)
        }
    }

    private static func outcome(of check: Task<Verdict, any Error>) async throws(RegistryError) -> Verdict {
        do { return try await check.value } catch let e as RegistryError { throw e } catch {
            throw .transport(registry: "origin", detail: "authorization check: \(error)")
        }
    }
}
