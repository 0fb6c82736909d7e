import Foundation
import Logging

/// A `coordination.k8s.io/v1` Lease, the parts leader election uses.
struct Lease: Codable, Sendable {
    struct Spec: Codable, Sendable {
        var holderIdentity: String?
        var leaseDurationSeconds: Int?
        var acquireTime: String?
        var renewTime: String?
        var leaseTransitions: Int?
    }
    var apiVersion: String? = "coordination.k8s.io/v1"
    var kind: String? = "Lease"
    var metadata: ObjectMeta
    var spec: Spec
}

/// Runs work on one replica at a time: the holder of a Lease, renewed every
/// `renewInterval`, taken over when its holder has not renewed it for `leaseDuration`.
/// Admission runs on every replica; only cluster-wide background work (the secret
/// re-sync) needs a single leader.
public struct LeaderElection: Sendable {
    let client: KubernetesClient
    let namespace: String
    let name: String
    public let identity: String
    let leaseDuration: Int
    let renewInterval: Duration
    let logger: Logger
    /// The wall clock the lease's times are written and judged in (a Lease holds
    /// timestamps, so it is a `Date`), and the wait between rounds: injected, so that tests
    /// move time instead of waiting for it.
    let now: @Sendable () -> Date
    let sleep: @Sendable (Duration) async throws -> Void

    public init(client: KubernetesClient, namespace: String, name: String, identity: String,
                leaseDuration: Int = 15, renewInterval: Duration = .seconds(5), logger: Logger,
                now: @escaping @Sendable () -> Date = { Date() },
                sleep: @escaping @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) }) {
        self.client = client
        self.namespace = namespace
        self.name = name
        self.identity = identity
        self.leaseDuration = leaseDuration
        self.renewInterval = renewInterval
        self.logger = logger
        self.now = now
        self.sleep = sleep
    }

    static func microTime(_ date: Date) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyy-MM-dd'T'HH:mm:ss.SSSSSS'Z'"
        return f.string(from: date)
    }

    static func parse(_ text: String?) -> Date? {
        guard let text else { return nil }
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f.date(from: text) ?? ISO8601DateFormatter().date(from: text)
    }

    /// One round: true when this replica holds the lease afterwards.
    public func tryAcquireOrRenew() async -> Bool {
        let now = self.now()
        let path = "/apis/coordination.k8s.io/v1/namespaces/\(namespace)/leases"
        let stamp = Self.microTime(now)
        do {
            let current: Lease
            do { current = try await client.get("\(path)/\(name)", timeout: .seconds(3)) } catch {
                guard error.code == 404 else { throw error }
                let lease = Lease(metadata: ObjectMeta(name: name, namespace: namespace),
                                  spec: .init(holderIdentity: identity, leaseDurationSeconds: leaseDuration, acquireTime: stamp, renewTime: stamp, leaseTransitions: 0))
                let _: Lease = try await client.create(path, lease, timeout: .seconds(3))
                return true
            }
            var next = current
            if current.spec.holderIdentity != identity {
                let renewed = Self.parse(current.spec.renewTime) ?? .distantPast
                let duration = Double(current.spec.leaseDurationSeconds ?? leaseDuration)
                guard renewed.addingTimeInterval(duration) < now else { return false }
                next.spec.holderIdentity = identity
                next.spec.acquireTime = stamp
                next.spec.leaseTransitions = (current.spec.leaseTransitions ?? 0) + 1
            }
            next.spec.renewTime = stamp
            next.spec.leaseDurationSeconds = leaseDuration
            let _: Lease = try await client.update("\(path)/\(name)", next, timeout: .seconds(3))
            return true
        } catch {
            // A conflict means another replica wrote first; anything else: not leader this round.
            if (error as? KubernetesError)?.code != 409 { logger.debug("leader election round failed", metadata: ["error": "\(error)"]) }
            return false
        }
    }

    /// Runs `work` while this replica leads, cancelling it when leadership is lost. Never returns until cancelled.
    public func run(_ work: @escaping @Sendable () async -> Void) async {
        var task: Task<Void, Never>?
        while !Task.isCancelled {
            let leading = await tryAcquireOrRenew()
            if leading, task == nil {
                logger.info("became leader", metadata: ["lease": "\(namespace)/\(name)", "identity": "\(identity)"])
                task = Task { await work() }
            } else if !leading, let t = task {
                logger.info("lost leadership", metadata: ["lease": "\(namespace)/\(name)"])
                t.cancel()
                task = nil
            }
            do { try await sleep(renewInterval) } catch { break }
        }
        task?.cancel()
    }
}
