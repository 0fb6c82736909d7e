/// An agent's upload slots, shared among the agents asking for pieces: at most `slots`
/// pieces are sent at once, and each asker may hold at most an equal share of them among
/// the askers heard from within `window` (at least one), so that agents already being
/// served cannot take every slot that frees up while another is refused again and again.
/// The peer server keeps one, and the simulator runs the same one per simulated agent.
/// Why the share: docs/decisions/swarm-tuning.md#upload-slots.
public struct UploadSlots: Sendable {
    /// Pieces an agent sends at once: more share the uplink more ways, so each hop from
    /// node to node takes longer. Why 8: docs/decisions/swarm-tuning.md#upload-slots.
    public static let defaultSlots = 8

    public let slots: Int
    /// A fixed share per asker instead of the equal one (for experiments in the simulator).
    public let fixedShare: Int?
    public var window: Duration = .seconds(1)
    public private(set) var inUse = 0
    private var perAsker: [String: Int] = [:]
    private var lastAsked: [String: SwarmInstant] = [:]
    private var lastPruned: SwarmInstant = .zero

    public init(slots: Int = defaultSlots, fixedShare: Int? = nil) {
        self.slots = slots
        self.fixedShare = fixedShare
    }

    /// How many slots `asker` may hold now; records that it asked.
    public mutating func share(for asker: String, now: SwarmInstant) -> Int {
        lastAsked[asker] = now
        if now - lastPruned > window {
            lastAsked = lastAsked.filter { now - $0.value <= window }
            lastPruned = now
        }
        return fixedShare ?? max(1, slots / max(1, lastAsked.count))
    }

    /// Takes a slot for `asker`, or returns false (the answer is "busy").
    public mutating func take(for asker: String, now: SwarmInstant) -> Bool {
        let share = share(for: asker, now: now)
        guard inUse < slots, perAsker[asker, default: 0] < share else { return false }
        inUse += 1
        perAsker[asker, default: 0] += 1
        return true
    }

    /// The piece taken for `asker` has been sent, or its connection is gone.
    public mutating func release(for asker: String) {
        guard let held = perAsker[asker] else { return }
        inUse -= 1
        perAsker[asker] = held > 1 ? held - 1 : nil
    }
}
