/// The nonces of the signed requests an agent took, each until its credential's window
/// ends: a request seen before is refused, so a captured request cannot be replayed to
/// the agent it was signed for (`PeerCredential`'s `to` keeps it from every other).
///
/// Bounded: past `capacity` nonces the oldest is forgotten before its window ends. Only a
/// holder of the cluster's secret can make that many valid nonces, and the bound keeps
/// even one from growing the agent's memory (about 64 bytes a nonce). An agent takes
/// about a hundred piece requests a second per Gbit/s it uploads, and a coordinator at
/// N = 10,000 its announcements: the default keeps every nonce of 1,000 requests a second
/// for two minutes.
public struct ReplayGuard: Sendable {
    struct Nonce: Hashable, Sendable {
        var high: UInt64
        var low: UInt64

        init(_ bytes: [UInt8]) {
            var h: UInt64 = 0, l: UInt64 = 0
            for (i, b) in bytes.prefix(16).enumerated() {
                if i < 8 { h = h << 8 | UInt64(b) } else { l = l << 8 | UInt64(b) }
            }
            high = h
            low = l
        }
    }

    public let capacity: Int
    private var seen = Set<Nonce>()
    /// In the order taken, with the time each may be forgotten.
    private var order: [(until: Int64, nonce: Nonce)] = []
    private var head = 0

    public init(capacity: Int = 1 << 17) { self.capacity = max(1, capacity) }

    /// Nonces remembered now.
    public var count: Int { seen.count }

    /// Whether the request signed `signed` is new; it is remembered until `window` seconds
    /// past its time.
    public mutating func admit(_ signed: PeerCredential.Signed, window: Int64, now: Int64) -> Bool {
        forget(before: now)
        let nonce = Nonce(signed.nonce)
        guard !seen.contains(nonce) else { return false }
        while seen.count >= capacity, head < order.count { dropOldest() }
        seen.insert(nonce)
        let (until, overflow) = signed.time.addingReportingOverflow(window)
        order.append((overflow ? .max : until, nonce))
        return true
    }

    /// Forgets nonces whose window ended before `now`. They were taken about in time order,
    /// so the front is the oldest; one out of order waits behind it, at a small cost.
    private mutating func forget(before now: Int64) {
        while head < order.count, order[head].until < now { dropOldest() }
    }

    private mutating func dropOldest() {
        guard head < order.count else { return }
        seen.remove(order[head].nonce)
        head += 1
        if head > 1024, head * 2 > order.count {
            order.removeFirst(head)
            head = 0
        }
    }
}
