/// The links of a simulated cluster: every node has an uplink and a downlink of its own
/// rate, the origin an uplink, and every transfer (a piece from a sender to a receiver) is a
/// flow that shares both. Rates are max-min fair, as TCP flows on a shaped link roughly
/// are: each link water-fills its capacity over its flows, where a flow limited by its
/// other end takes only what that end offers and leaves the rest to the others. The two
/// ends are balanced once per step, warm-started from the step before, so rates follow
/// the flows as they come and go without a global solve per event.
struct FlowNetwork {
    struct Flow {
        var sender: Int
        var receiver: Int
        var remaining: Double
        /// What the receiver's downlink would give this flow (its water level).
        var receiverOffer = Double.infinity
        var rate = 0.0
    }

    /// Uplink and downlink rates in bytes per second; index `origin` is the origin.
    private(set) var up: [Double]
    private(set) var down: [Double]
    private(set) var flows: [Flow?] = []
    private var free: [Int] = []
    private(set) var outgoing: [[Int]]
    private(set) var incoming: [[Int]]
    private(set) var active = 0
    /// Bytes each sender has sent so far (flows cut short included).
    private(set) var sent: [Double]

    init(up: [Double], down: [Double]) {
        precondition(up.count == down.count)
        self.up = up
        self.down = down
        outgoing = Array(repeating: [], count: up.count)
        incoming = Array(repeating: [], count: up.count)
        sent = Array(repeating: 0, count: up.count)
    }

    mutating func setRates(of node: Int, up u: Double, down d: Double) {
        up[node] = u
        down[node] = d
    }

    /// Starts a flow of `bytes`; its rate is set at the next `balance`.
    mutating func start(from sender: Int, to receiver: Int, bytes: Double) -> Int {
        let flow = Flow(sender: sender, receiver: receiver, remaining: bytes)
        let id: Int
        if let f = free.popLast() { flows[f] = flow; id = f } else { flows.append(flow); id = flows.count - 1 }
        outgoing[sender].append(id)
        incoming[receiver].append(id)
        active += 1
        return id
    }

    /// Ends a flow (finished or cancelled); returns the bytes it had left.
    @discardableResult
    mutating func stop(_ id: Int) -> Double {
        guard let f = flows[id] else { return 0 }
        flows[id] = nil
        free.append(id)
        Self.remove(id, from: &outgoing[f.sender])
        Self.remove(id, from: &incoming[f.receiver])
        active -= 1
        return f.remaining
    }

    func flow(_ id: Int) -> Flow? { flows[id] }

    private static func remove(_ id: Int, from list: inout [Int]) {
        if let i = list.firstIndex(of: id) { list.swapAt(i, list.count - 1); list.removeLast() }
    }

    /// One balancing round: every uplink water-fills over its flows capped by their
    /// receivers' offers, then every downlink over its flows capped by what their senders
    /// allotted, which is the flow's rate (so no link ever carries more than its rate).
    mutating func balance() {
        var allotted = [Double](repeating: 0, count: flows.count)
        var caps: [Double] = []
        for sender in outgoing.indices where !outgoing[sender].isEmpty {
            caps.removeAll(keepingCapacity: true)
            for id in outgoing[sender] { caps.append(flows[id]!.receiverOffer) }
            let (alloc, _) = Self.waterFill(up[sender], caps: caps)
            for (k, id) in outgoing[sender].enumerated() { allotted[id] = alloc[k] }
        }
        for receiver in incoming.indices where !incoming[receiver].isEmpty {
            caps.removeAll(keepingCapacity: true)
            for id in incoming[receiver] { caps.append(allotted[id]) }
            let (alloc, offer) = Self.waterFill(down[receiver], caps: caps)
            for (k, id) in incoming[receiver].enumerated() {
                flows[id]!.rate = alloc[k]
                flows[id]!.receiverOffer = offer[k]
            }
        }
    }

    /// Splits `capacity` over flows wanting at most `caps` each, max-min fair. Returns
    /// each flow's share and what it could have had had it wanted more (the water level;
    /// with capacity left over, its share plus that).
    static func waterFill(_ capacity: Double, caps: [Double]) -> (alloc: [Double], offer: [Double]) {
        let n = caps.count
        var alloc = [Double](repeating: 0, count: n)
        let order = caps.indices.sorted { caps[$0] < caps[$1] }
        var left = capacity
        var level = Double.infinity
        for (k, i) in order.enumerated() {
            let share = left / Double(n - k)
            if caps[i] <= share {
                alloc[i] = caps[i]
                left -= caps[i]
            } else {
                level = share
                for j in order[k...] { alloc[j] = share }
                left = 0
                break
            }
        }
        let offer = level.isFinite ? alloc.map { max($0, level) } : alloc.map { $0 + max(0, left) }
        return (alloc, offer)
    }

    /// Moves every flow on by `dt` seconds at its rate; returns the flows that finished,
    /// with the fraction of `dt` at which each did.
    mutating func advance(by dt: Double) -> [(id: Int, at: Double)] {
        var finished: [(Int, Double)] = []
        for id in flows.indices {
            guard var f = flows[id], f.rate > 0 else { continue }
            let sent = f.rate * dt
            if sent >= f.remaining {
                finished.append((id, f.remaining / f.rate / dt))
                self.sent[f.sender] += f.remaining
                f.remaining = 0
            } else {
                self.sent[f.sender] += sent
                f.remaining -= sent
            }
            flows[id] = f
        }
        return finished
    }
}
