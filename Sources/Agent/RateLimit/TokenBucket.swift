import OCI
/// One token bucket for every byte the agent moves, shared by all transfers.
///
/// Each caller reserves its bytes at once, letting the balance go negative, and then
/// waits until the debt ahead of it (its own included) has been paid back at `rate`.
/// Reservations are served in arrival order, so transfers that ask for chunks of the
/// same size share the rate evenly, and no waiter queue is needed.
public actor TokenBucket {
    public let rate: RateLimit
    /// Bytes that may pass at once after a quiet period.
    public let burst: Double
    private var balance: Double
    private var last: Double
    private let now: @Sendable () -> Double
    private let sleep: @Sendable (Duration) async throws -> Void

    /// - Parameters:
    ///   - now: seconds on a monotonic clock (injected so tests need no real time).
    ///   - sleep: how to wait (injected for the same reason).
    public init(
        rate: RateLimit,
        burst: Double? = nil,
        now: @escaping @Sendable () -> Double = { TokenBucket.monotonicSeconds() },
        sleep: @escaping @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) }
    ) {
        self.rate = rate
        // A tenth of a second of traffic, at least 256 KiB, so one chunk always fits.
        self.burst = burst ?? max(rate.bytesPerSecond / 10, 256 * 1024)
        self.balance = self.burst
        self.now = now
        self.last = now()
        self.sleep = sleep
    }

    /// Waits until `bytes` may pass.
    public func acquire(_ bytes: Int) async throws {
        let wait = reserve(bytes)
        if wait > .zero { try await sleep(wait) }
    }

    /// Reserves `bytes` now and returns how long the caller must wait before they pass.
    public func reserve(_ bytes: Int) -> Duration {
        let t = now()
        balance = min(burst, balance + (t - last) * rate.bytesPerSecond)
        last = t
        balance -= Double(bytes)
        return balance < 0 ? .nanoseconds(Int64(-balance / rate.bytesPerSecond * 1e9)) : .zero
    }

    public static func monotonicSeconds() -> Double {
        (ContinuousClock.now - start).inSeconds
    }

    private static let start = ContinuousClock.now
}
