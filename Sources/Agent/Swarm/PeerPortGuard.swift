import Foundation
import Synchronization

/// What the peer port lets in before it reads a request: a bounded number of connections,
/// in all and from one address, so that whatever arrives there (it is a host port: every
/// pod of the cluster reaches it) leaves the agent the descriptors, memory and event-loop
/// time to serve containerd on its client port.
public struct PeerPortLimits: Sendable, Equatable {
    /// Connections at once, in all. Default: `defaultConnections`.
    public var connections: Int
    /// Connections at once from one address. An agent's HTTP client keeps at most a few to
    /// each peer (AsyncHTTPClient's soft limit is 8).
    public var connectionsPerAddress = 64
    /// A connection that has not sent a signed request head this long after it opened is
    /// closed (a slow or silent client holds no descriptor for long).
    public var firstRequestDeadline: Duration = .seconds(10)

    public init(connections: Int = PeerPortLimits.defaultConnections) { self.connections = connections }

    /// Raises the process's soft descriptor limit to its hard limit (many runtimes start
    /// containers at 1,024 soft), once, before `defaultConnections` reads it.
    public static func raiseDescriptorLimit() {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < limit.rlim_max else { return }
        limit.rlim_cur = limit.rlim_max
        _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    }

    /// 8,192, or half the process's descriptor limit when that is lower: the other half
    /// stays for the client port, the cache files and the origin's connections. At
    /// N = 10,000 a blob's first coordinator hears from every fetching agent, each over one
    /// kept-alive connection.
    public static var defaultConnections: Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1024 }
        return max(64, min(8192, Int(clamping: limit.rlim_cur) / 2))
    }
}

/// Counts the peer port's connections against `PeerPortLimits`.
final class PeerConnectionGate: Sendable {
    let limits: PeerPortLimits
    private let open = Mutex<(total: Int, byAddress: [String: Int])>((0, [:]))

    init(limits: PeerPortLimits) { self.limits = limits }

    /// Takes a place for a connection from `address`; false when it must be closed.
    func admit(_ address: String) -> Bool {
        open.withLock { o in
            guard o.total < limits.connections, o.byAddress[address, default: 0] < limits.connectionsPerAddress else { return false }
            o.total += 1
            o.byAddress[address, default: 0] += 1
            return true
        }
    }

    func release(_ address: String) {
        open.withLock { o in
            o.total -= 1
            let n = o.byAddress[address, default: 1] - 1
            o.byAddress[address] = n > 0 ? n : nil
        }
    }

    var count: Int { open.withLock { $0.total } }
}

/// Refused peer-port requests and connections, said in the log as counts: the first at
/// once, then at most one line per `interval` with what was refused since. (One line per
/// refusal let a client with no credential write 11,000 lines a second.)
public struct RefusalTally: Sendable {
    public let interval: Duration
    private var counts: [String: Int] = [:]
    private var lastReport: Duration?

    public init(interval: Duration = .seconds(60)) { self.interval = interval }

    /// Counts a refusal for `reason` at `now`; returns the counts to log, by reason, when a
    /// line is due.
    public mutating func record(_ reason: String, now: Duration) -> [String: Int]? {
        counts[reason, default: 0] += 1
        guard lastReport.map({ now - $0 >= interval }) ?? true else { return nil }
        lastReport = now
        defer { counts = [:] }
        return counts
    }
}
