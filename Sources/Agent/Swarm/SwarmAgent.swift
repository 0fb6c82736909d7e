import Logging
import NIOConcurrencyHelpers
import OCI
import Swarm

/// This agent's place in the swarm: who it is, who the others are, how to reach them,
/// and the blobs it holds and keeps announcing so late joiners find them.
public final class SwarmAgent: Sendable {
    public let me: Member
    public let membership: any SwarmMembers
    public let coordinator: SwarmCoordinator
    public let client: PeerClient
    public let pieceSize: Int
    /// Coordinators per blob (rendezvous top R); the first that answers is used.
    public let coordinatorsPerBlob: Int
    /// How long an agent waits for a coordinator before it goes to the origin.
    public let coordinatorTimeout: Duration
    public let schedulerConfiguration: PieceScheduler.Configuration
    /// Piece buffers, used again by every download (enough for the pieces in flight and
    /// those kept ahead of the verified prefix by two downloads).
    let buffers = BufferPool(keep: 32)
    /// Where a peer's pieces come from: its peer port, or a twin in unit tests.
    let peerSource: @Sendable (Member) -> any PieceSource
    let metrics: AgentMetrics?
    let logger: Logger
    /// The time of this agent's swarm parts: its downloads in piece mode, the held blobs'
    /// announcements, the coordinators' liveness.
    public let clock: SwarmClock

    struct Held {
        var layout: PieceLayout
        var hashes: [Int: PieceHash]
        var until: SwarmInstant
        var hashesSent: SwarmInstant?
    }
    private let held = NIOLockedValueBox<[Digest: Held]>([:])
    /// Per coordinator, its last answer as a blob's first: when, and the announcement
    /// interval it asked for (one entry per member).
    private let answeredLately = NIOLockedValueBox<[String: (at: SwarmInstant, every: Duration)]>([:])
    /// First coordinators that did not answer, and when (`SwarmCadence.coordinatorRetry`).
    private let failedLately = NIOLockedValueBox<[String: SwarmInstant]>([:])
    /// Blobs whose pieces from the swarm failed the blob's digest, or whose published hash
    /// of a piece differed from the origin's bytes: until then they come whole from the
    /// origin, so a lying agent costs a pull on this node one failed attempt, not every one.
    private let distrusted = NIOLockedValueBox<[Digest: SwarmInstant]>([:])
    public static let distrustFor: Duration = .seconds(3600)
    /// Test-only fault injection (`PeerFaults.lyingHashes` is the download's part).
    let faults: PeerFaults

    public init(me: Member, membership: any SwarmMembers, coordinator: SwarmCoordinator, client: PeerClient,
                pieceSize: Int = PieceLayout.defaultPieceSize, coordinatorsPerBlob: Int = 3,
                coordinatorTimeout: Duration = SwarmCadence.coordinatorTimeout,
                schedulerConfiguration: PieceScheduler.Configuration = .init(),
                peerSource: (@Sendable (Member) -> any PieceSource)? = nil, clock: SwarmClock = .continuous,
                faults: PeerFaults = [], metrics: AgentMetrics?, logger: Logger) {
        self.faults = faults
        self.me = me
        self.membership = membership
        self.coordinator = coordinator
        self.client = client
        self.pieceSize = pieceSize
        self.coordinatorsPerBlob = coordinatorsPerBlob
        self.coordinatorTimeout = coordinatorTimeout
        self.schedulerConfiguration = schedulerConfiguration
        self.peerSource = peerSource ?? { PeerPieceSource(client: client, member: $0) }
        self.clock = clock
        self.metrics = metrics
        self.logger = logger
    }

    /// The blob's coordinators, best first.
    public func coordinators(for blob: Digest) async -> [Member] {
        var members = await membership.current
        if !members.contains(where: { $0.node == me.node }) { members.append(me) }
        return Rendezvous.coordinators(for: blob, among: members, count: coordinatorsPerBlob)
    }

    /// What became of an announcement.
    public enum Reply: Sendable {
        case answered(CoordinatorAnswer)
        /// The first coordinator refused it at once: too many announcements waiting there
        /// (`SwarmCadence.coordinatorQueue`). It is alive: the others are not asked. Its
        /// pace goes along, so that refused agents slow down as answered ones do.
        case busy(announceEvery: Duration)
        /// No coordinator answered within `coordinatorTimeout`.
        case unreachable
    }

    /// The blob's first coordinator's answer; nil when there is none (see `reply(to:)`).
    public func announce(_ a: Announcement) async -> CoordinatorAnswer? {
        if case .answered(let answer) = await reply(to: a) { answer } else { nil }
    }

    /// The blob's first coordinator's answer, given 60% of `coordinatorTimeout`; if it
    /// fails, the first answer of the others, asked at once for the rest of it;
    /// `.unreachable` when none answers within `coordinatorTimeout` in all (the caller
    /// goes to the origin). The others are asked only when the first fails, not when it is
    /// busy: each coordinator deals origin work on its own, so asking all of them would
    /// read the origin several times (docs/decisions/swarm-tuning.md#a-busy-first-coordinator-is-not-passed-over).
    /// A first coordinator that did not answer, and has not since, is not asked for
    /// `SwarmCadence.coordinatorRetry`.
    public func reply(to a: Announcement) async -> Reply {
        let all = await coordinators(for: a.blob)
        guard let first = all.first else { return .unreachable }
        // A first coordinator that answered lately is alive, only slow: it gets the whole
        // budget and the others are not asked (they would deal origin work of their own).
        let now = clock.now
        let alive = answeredLately.withLockedValue { $0[first.node].map { SwarmCadence.alive(since: now - $0.at, announceEvery: $0.every) } ?? false }
        // One that failed lately (and is not alive) is passed over for a while.
        let passOver = !alive && all.count > 1
            && failedLately.withLockedValue { $0[first.node].map { now - $0 < SwarmCadence.coordinatorRetry } ?? false }
        let firstBudget = passOver ? .zero : alive ? coordinatorTimeout : coordinatorTimeout * SwarmCadence.firstCoordinatorShare
        if !passOver {
            switch await ask(first, a, timeout: firstBudget) {
            case .answered(let answer):
                answeredLately.withLockedValue { $0[first.node] = (clock.now, answer.announceEvery) }
                failedLately.withLockedValue { $0[first.node] = nil }
                return .answered(answer)
            case .busy(let every):
                return .busy(announceEvery: every)
            case .unreachable:
                let at = clock.now
                failedLately.withLockedValue { failed in
                    failed = failed.filter { at - $0.value < SwarmCadence.coordinatorRetry }
                    failed[first.node] = at
                }
            }
            if alive {
                metrics?.coordinatorCall("unreachable")
                return .unreachable
            }
        }
        let rest = Array(all.dropFirst())
        let remaining = coordinatorTimeout - firstBudget
        let answer = await withTaskGroup(of: Reply.self) { group -> CoordinatorAnswer? in
            for c in rest { group.addTask { await self.ask(c, a, timeout: remaining) } }
            for await reply in group {
                guard case .answered(let answer) = reply else { continue }
                group.cancelAll()
                return answer
            }
            return nil
        }
        guard let answer else {
            metrics?.coordinatorCall("unreachable")
            return .unreachable
        }
        return .answered(answer)
    }

    private func ask(_ c: Member, _ a: Announcement, timeout: Duration) async -> Reply {
        let start = clock.now
        if c.node == me.node {
            let answer = await coordinator.announce(a)
            metrics?.coordinatorCall("answered")
            metrics?.coordinatorAnswered(after: clock.now - start)
            return .answered(answer)
        }
        do {
            let answer = try await client.announce(a, to: c, timeout: timeout)
            metrics?.coordinatorCall("answered")
            metrics?.coordinatorAnswered(after: clock.now - start)
            return .answered(answer)
        } catch PeerClient.Failure.busy(let every) {
            metrics?.coordinatorCall("busy")
            return .busy(announceEvery: every)
        } catch {
            metrics?.coordinatorCall("failed")
            logger.debug("coordinator did not answer", metadata: ["coordinator": "\(c)", "blob": "\(a.blob)", "error": "\(error)"])
            return .unreachable
        }
    }

    /// Takes `blob` from the origin alone for `distrustFor`: the swarm's hashes of it were wrong.
    func distrust(_ blob: Digest) {
        let now = clock.now
        distrusted.withLockedValue { map in
            map = map.filter { $0.value > now }  // those whose hour is up
            map[blob] = now + Self.distrustFor
        }
        held.withLockedValue { $0[blob] = nil }
        metrics?.blobDistrusted()
    }

    /// Whether `blob` may be taken through the swarm (see `distrust`).
    public func trusts(_ blob: Digest) -> Bool {
        let now = clock.now
        return distrusted.withLockedValue { $0[blob].map { $0 <= now } ?? true }
    }

    /// Keeps announcing `blob` as held for `period`, so that agents that pull it later
    /// take it from here rather than from the origin.
    func holding(_ blob: Digest, layout: PieceLayout, hashes: [Int: PieceHash], period: Duration = .seconds(600)) {
        held.withLockedValue { $0[blob] = Held(layout: layout, hashes: hashes, until: clock.now + period, hashesSent: nil) }
    }

    /// Re-announces held blobs every `interval` (well within the coordinators' holder TTL)
    /// until cancelled. Their hashes go along once a minute, so a coordinator that
    /// restarted learns them again.
    public func announceHeld(interval: Duration = SwarmCadence.announceHeld) async {
        while !Task.isCancelled {
            let now = clock.now
            let due = held.withLockedValue { map -> [(Digest, Held)] in
                map = map.filter { $0.value.until > now }
                return map.map { ($0.key, $0.value) }
            }
            for (blob, h) in due {
                let sendHashes = h.hashesSent.map { now - $0 > .seconds(60) } ?? true
                let a = Announcement(blob: blob, layout: h.layout, member: me, have: .full(count: h.layout.count),
                                     hashes: sendHashes ? h.hashes : [:], wantsOriginWork: false)
                if await announce(a) != nil, sendHashes {
                    held.withLockedValue { $0[blob]?.hashesSent = now }
                }
            }
            try? await clock.sleep(for: interval)
        }
    }

    /// Reads the member list every `interval` until cancelled: its size goes to the
    /// `swarm_members` metric, and a list empty for a minute (the agent pulls everything
    /// from the origin then) is said in the log once, and its end once.
    public func watchMembers(interval: Duration = .seconds(5), alarm: EmptySwarmAlarm = EmptySwarmAlarm()) async {
        var alarm = alarm
        while !Task.isCancelled {
            let count = await membership.current.count
            metrics?.swarmMembers(count)
            switch alarm.observe(members: count, now: clock.now) {
            case .warn(let emptyFor):
                logger.warning("the swarm has had no members for \(emptyFor.inSeconds.rounded()) s: every blob comes from the origin; check the agent's log for the membership watch's errors, its RBAC (list/watch endpointslices) and the agent Service",
                               metadata: ["node": "\(me.node)"])
            case .recovered(let members):
                logger.notice("the swarm has members again", metadata: ["members": "\(members)"])
            case nil: break
            }
            do { try await clock.sleep(for: interval) } catch { return }
        }
    }
}
