@testable import OCI
@testable import OCIClient
import Synchronization
import Testing

@Suite("TokenCache")
struct TokenCacheTests {
    @Test func tokensExpireEarlyAndPerKey() async {
        let clock = Mutex(ContinuousClock.now)
        let cache = TokenCache(now: { clock.withLock { $0 } })
        let key = TokenCache.Key(domain: "r", scope: "repository:a:pull", identity: "alice")
        let other = TokenCache.Key(domain: "r", scope: "repository:b:pull", identity: "alice")
        await cache.store("Bearer t", for: key, lifetime: .seconds(60))
        #expect(await cache.authorization(for: key) == "Bearer t")
        #expect(await cache.authorization(for: other) == nil)
        clock.withLock { $0 += .seconds(53) }
        #expect(await cache.authorization(for: key) == "Bearer t")
        // Dropped 6 s (10%) before expiry so no request leaves with a dying token.
        clock.withLock { $0 += .seconds(2) }
        #expect(await cache.authorization(for: key) == nil)
        await cache.store("Basic x", for: other, lifetime: nil)
        clock.withLock { $0 += .seconds(100_000) }
        #expect(await cache.authorization(for: other) == "Basic x")
    }
}
