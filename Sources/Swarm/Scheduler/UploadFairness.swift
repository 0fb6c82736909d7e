/// How an agent shares its upload slots among the agents asking for pieces: each may hold
/// at most an equal share of the slots among those that asked lately (at least one), so
/// that agents already being served cannot take every slot that frees up while another
/// is refused again and again. Measured in the simulator: without it, at N = 8 one node
/// in eight was starved of peers and finished 1.5–1.7 × the bound while the rest were
/// done by 1.3.
public struct UploadFairness: Sendable {
    /// Askers heard from within this count as asking.
    public var window: Duration = .seconds(1)
    private var lastAsked: [String: SwarmInstant] = [:]
    private var lastPruned: SwarmInstant = .zero

    public init() {}

    /// Records a request from `asker` and returns how many slots it may hold.
    public mutating func share(of slots: Int, asker: String, now: SwarmInstant) -> Int {
        lastAsked[asker] = now
        if now - lastPruned > window {
            lastAsked = lastAsked.filter { now - $0.value <= window }
            lastPruned = now
        }
        return max(1, slots / max(1, lastAsked.count))
    }
}
