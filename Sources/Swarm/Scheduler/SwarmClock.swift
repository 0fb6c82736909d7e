/// The time an agent's swarm parts run on: the downloads, the coordinator and the held
/// blobs' announcements. `now` is a `SwarmInstant` (the time since this clock was made, the
/// scale the state machines use) and `sleep` waits on the same clock.
///
/// The agent uses `.continuous`. A test passes a clock that moves only when the test moves
/// it (TestSupport's `ManualClock`), so no deadline runs out because a loaded CI machine
/// starved the test of CPU, and a test of a timeout does not wait for it.
public struct SwarmClock: Sendable {
    private let elapsed: @Sendable () -> SwarmInstant
    private let sleeper: @Sendable (Duration) async throws -> Void

    /// Time on `clock`, counted from now.
    public init<C: Clock>(_ clock: C) where C.Duration == Duration {
        let start = clock.now
        elapsed = { start.duration(to: clock.now) }
        sleeper = { try await clock.sleep(for: $0) }
    }

    /// The continuous (monotonic, counting while the machine sleeps) clock, from now.
    public static var continuous: SwarmClock { SwarmClock(ContinuousClock()) }

    /// The time since this clock was made.
    public var now: SwarmInstant { elapsed() }

    /// Waits `duration` on this clock; throws `CancellationError` when the task is cancelled.
    public func sleep(for duration: Duration) async throws { try await sleeper(duration) }
}
