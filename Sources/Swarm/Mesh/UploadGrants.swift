/// An agent's uploads in the mesh: at most `slots` pieces leave the node at once, across all
/// blobs, and a neighbour asks for a piece only when it holds a grant, one of those slots
/// handed to it. Neighbours that said they are interested wait in one round-robin line; a
/// slot that frees goes to the next in line, which goes to the back of it. So there
/// is no "busy" answer, no rest after one, and no queue of requests at the uploader: a piece
/// that is asked for is sent at once. Why so few slots: a piece crossing an uplink shared
/// `slots` ways takes `slots` piece-times, and every hop from node to node pays that
/// (docs/decisions/mesh.md).
///
/// `Requester` names one neighbour's interest in one blob. Value type: the agent keeps one
/// per node and the simulator one per simulated node.
public struct UploadGrants<Requester: Hashable & Sendable>: Sendable {
    public static var defaultSlots: Int { 3 }

    public let slots: Int
    /// Per requester, slots granted and not yet asked for, and pieces being sent to it.
    public private(set) var granted: [Requester: Int] = [:]
    private var sendingTo: [Requester: Int] = [:]
    public private(set) var sending = 0
    private var line: [Requester] = []
    private var head = 0
    private var waiting: Set<Requester> = []
    /// Requesters in `line[head...]` (each at most once).
    private var queued: Set<Requester> = []

    public init(slots: Int = Self.defaultSlots) {
        precondition(slots >= 1)
        self.slots = slots
    }

    /// Slots in use: granted or sending.
    public var inUse: Int { granted.values.reduce(0, +) + sending }
    public var interestedCount: Int { waiting.count }

    /// `requester` wants pieces this node holds: it joins the line. Returns the grants to send.
    public mutating func interested(_ requester: Requester) -> [Requester] {
        waiting.insert(requester)
        enqueue(requester)
        return handOut()
    }

    /// `requester` wants nothing more from this node (or is gone): it leaves the line, and
    /// a grant it held goes to the next. Returns the grants to send.
    public mutating func notInterested(_ requester: Requester) -> [Requester] {
        waiting.remove(requester)
        granted[requester] = nil
        return handOut()
    }

    /// A request under a grant: true if `requester` held one (the piece is sent now); false
    /// if it held none (refuse it).
    public mutating func request(from requester: Requester) -> Bool {
        guard let held = granted[requester] else { return false }
        granted[requester] = held > 1 ? held - 1 : nil
        sendingTo[requester, default: 0] += 1
        sending += 1
        return true
    }

    /// `requester` gave a grant back (nothing it wants now, or its downlink is full): it
    /// leaves the line until it says it is interested again. Returns the grants to send.
    public mutating func declined(by requester: Requester) -> [Requester] {
        if let held = granted[requester] { granted[requester] = held > 1 ? held - 1 : nil }
        waiting.remove(requester)
        return handOut()
    }

    /// A piece to `requester` has been sent (or its connection broke). Returns the grants
    /// to send.
    public mutating func sent(to requester: Requester) -> [Requester] {
        guard let n = sendingTo[requester] else { return [] }
        sendingTo[requester] = n > 1 ? n - 1 : nil
        sending -= 1
        return handOut()
    }

    /// Free slots go round the line, first to requesters that hold none, then to any (so a
    /// lone requester may have them all). A requester that left the line is skipped.
    private mutating func handOut() -> [Requester] {
        var out: [Requester] = []
        var free = slots - inUse
        for onlyIdle in [true, false] {
            var turns = line.count - head
            while free > 0, turns > 0 {
                turns -= 1
                let next = line[head]
                head += 1
                queued.remove(next)
                guard waiting.contains(next) else { continue }
                let holds = granted[next, default: 0] + sendingTo[next, default: 0] > 0
                if onlyIdle && holds {
                    enqueue(next)
                    continue
                }
                granted[next, default: 0] += 1
                out.append(next)
                free -= 1
                enqueue(next)
            }
        }
        if head > 64, head * 2 > line.count {
            line.removeFirst(head)
            head = 0
        }
        return out
    }

    private mutating func enqueue(_ requester: Requester) {
        guard waiting.contains(requester), queued.insert(requester).inserted else { return }
        line.append(requester)
    }
}
