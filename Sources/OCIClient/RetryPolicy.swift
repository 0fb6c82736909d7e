import OCI

/// Bounded retries with exponential backoff for connection errors and 5xx answers.
/// 4xx answers are never retried: they will not change by asking again.
public struct RetryPolicy: Sendable, Hashable {
    public var maxAttempts: Int
    public var baseDelay: Duration
    public var maxDelay: Duration

    public init(maxAttempts: Int = 3, baseDelay: Duration = .milliseconds(200), maxDelay: Duration = .seconds(3)) {
        precondition(maxAttempts >= 1, "at least one attempt")
        self.maxAttempts = maxAttempts
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
    }

    public static let none = RetryPolicy(maxAttempts: 1)

    /// Delay before attempt `attempt + 1` (attempts count from 1), with up to 25% jitter
    /// so that many nodes retrying after one origin hiccup do not retry in lockstep.
    public func delay(afterAttempt attempt: Int, jitter: Double = Double.random(in: 0...0.25)) -> Duration {
        let exponent = min(attempt - 1, 20)
        var d = baseDelay * (1 << exponent)
        if d > maxDelay { d = maxDelay }
        return d + d * jitter
    }

    public static func isRetryable(status: Int) -> Bool { status >= 500 && status <= 599 }
}
