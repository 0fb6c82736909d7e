import Swarm
import Synchronization

/// The coordinator role of this agent: the state machine, and the clock it is driven by.
public actor SwarmCoordinator {
    private var state: CoordinatorState
    private let clock: SwarmClock
    private var announcements = 0
    /// `CoordinatorState.announceEvery` in milliseconds, readable without waiting for the
    /// actor: the peer server sends it with a refusal when too many announcements wait.
    private nonisolated let paceMillis = Atomic<Int>(0)
    public nonisolated var announceEvery: Duration { .milliseconds(paceMillis.load(ordering: .relaxed)) }
    /// Fetching agents' announcements refused (too many waiting) since the last one taken:
    /// counted without waiting for the actor, added to the pace's count by the next.
    private nonisolated let refusedSince = Atomic<Int>(0)
    public nonisolated var refusedNotYetCounted: Int { refusedSince.load(ordering: .relaxed) }

    public init(configuration: CoordinatorState.Configuration = .init(), clock: SwarmClock = .continuous) {
        state = CoordinatorState(configuration: configuration)
        self.clock = clock
    }

    var now: SwarmInstant { clock.now }

    public func announce(_ a: Announcement) -> CoordinatorAnswer {
        announcements += 1
        if announcements % 256 == 0 { state.expire(now: now) }
        state.refused(refusedSince.exchange(0, ordering: .relaxed), now: now)
        let answer = state.announce(a, now: now)
        paceMillis.store(Int(answer.announceEvery.inSeconds * 1000), ordering: .relaxed)
        return answer
    }

    /// A fetching agent's announcement was refused before it reached the coordinator: it
    /// is demand the pace follows (`CoordinatorState.refused`).
    public nonisolated func refusedFetching() {
        refusedSince.add(1, ordering: .relaxed)
    }
}
