import Agent
import Synchronization
import Testing

@Suite("Rate limit")
struct RateLimitTests {
    @Test("parse", arguments: [(String, Double)]([
        ("512M", 512e6), ("512MB", 512e6), ("512M/s", 512e6), ("100K", 100e3), ("1G", 1e9),
        ("64Mi", 64.0 * 1048576), ("1Gi", 1073741824), ("1.5M", 1.5e6), ("2048", 2048.0),
    ]))
    func parse(_ v: (String, Double)) throws {
        #expect(try RateLimit(parsing: v.0).bytesPerSecond == v.1)
    }

    @Test("refuse", arguments: ["", "M", "-5M", "0", "5X", "fast", "1e9", "5 M", "nanM"])
    func refuse(_ text: String) {
        #expect(throws: RateLimitError.self) { try RateLimit(parsing: text) }
    }

    /// Fake time: `sleep` advances the clock instead of waiting.
    final class FakeTime: Sendable {
        let seconds = Mutex(0.0)
        let slept = Mutex<[Double]>([])
        func now() -> Double { seconds.withLock { $0 } }
        func sleep(_ d: Duration) {
            let s = Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
            slept.withLock { $0.append(s) }
        }
    }

    @Test func holdsTheRateAfterTheBurst() async throws {
        let time = FakeTime()
        let bucket = TokenBucket(rate: RateLimit(bytesPerSecond: 1_000_000), burst: 100_000,
                                 now: { time.now() }, sleep: { time.sleep($0) })
        try await bucket.acquire(100_000)  // the burst: no wait
        #expect(time.slept.withLock { $0 }.isEmpty)
        try await bucket.acquire(500_000)  // half a second of debt
        #expect(abs((time.slept.withLock { $0.last } ?? 0) - 0.5) < 1e-6)
        // Queued callers wait for the debt ahead of them too: arrival order is kept.
        try await bucket.acquire(250_000)
        #expect(abs((time.slept.withLock { $0.last } ?? 0) - 0.75) < 1e-6)
        // After quiet seconds the bucket is full again, but never more than the burst: ten
        // seconds earn 10 MB of tokens, of which only 100 kB are kept, so 300 kB wait 0.2 s.
        time.seconds.withLock { $0 += 10 }
        try await bucket.acquire(300_000)
        #expect(time.slept.withLock { $0.count } == 3)
        #expect(abs((time.slept.withLock { $0.last } ?? 0) - 0.2) < 1e-6, "\(time.slept.withLock { $0 })")
    }
}
