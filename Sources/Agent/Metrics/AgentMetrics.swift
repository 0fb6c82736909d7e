import Prometheus
import Synchronization

/// The agent's Prometheus metrics. Each agent owns its registry (rather than the
/// process-wide `MetricsSystem`), so tests running several agents in one process read
/// exactly their own numbers. Label sets are fixed and small.
public final class AgentMetrics: Sendable {
    /// Where served bytes came from. `peer` is registered now so dashboards need no
    /// change when the swarm lands.
    public enum Source: String, Sendable, CaseIterable { case origin, cache, peer }
    public enum CacheResult: String, Sendable, CaseIterable {
        /// The whole blob was on disk.
        case hit
        /// Fetched from the origin into the cache.
        case miss
        /// Joined a download another request had started.
        case joined
        /// Not cacheable (no room, range on a missing blob, empty blob): passed through.
        case bypass
    }
    public enum Kind: String, Sendable, CaseIterable { case base, manifest, blob }

    public let registry: PrometheusCollectorRegistry
    private let received: [Source: Counter]
    private let served: [Source: Counter]
    private let cacheRequests: [CacheResult: Counter]
    private let authChecks: [String: Counter]
    private let hitRatio: Gauge
    private let hitsAndLookups = Mutex<(hits: Int, lookups: Int)>((0, 0))
    let cacheSize: Gauge
    let cacheBlobs: Gauge
    let cacheQuota: Gauge
    let evictions: Counter
    private let uploaded: Counter
    private let peerRefusals: Counter
    private let pieces: [String: Counter]
    private let coordinatorCalls: [String: Counter]
    private let durations: Mutex<[String: DurationHistogram]> = Mutex([:])
    private let coordinatorLatency: DurationHistogram
    private let blobFirstByte: DurationHistogram
    private let blobDurations: [String: DurationHistogram]
    private let blobPeers: ValueHistogram
    private let pieceRequestFailures: [String: Counter]
    private let unknownRegistry: Counter
    private let blobsDistrusted: Counter
    private let announcementsHandled: [String: Counter]
    private let swarmMembersGauge: Gauge
    private let containerdStates: [ContainerdPreflight.Result: Gauge]
    private let containerdWarnings: Gauge

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        func bytes(_ direction: String) -> [Source: Counter] {
            Dictionary(uniqueKeysWithValues: Source.allCases.map { source in
                (source, registry.makeCounter(
                    descriptor: Self.name("bytes", "total", "Blob bytes moved by the agent: direction in = received from origin or peers, out = served to clients, by where they came from."),
                    labels: [("direction", direction), ("source", source.rawValue)]))
            })
        }
        received = bytes("in")
        served = bytes("out")
        cacheRequests = Dictionary(uniqueKeysWithValues: CacheResult.allCases.map { result in
            (result, registry.makeCounter(
                descriptor: Self.name("cache_requests", "total", "Blob GETs by how the cache answered them."),
                labels: [("result", result.rawValue)]))
        })
        authChecks = Dictionary(uniqueKeysWithValues: ["allowed", "refused", "remembered", "shared", "error"].map { result in
            (result, registry.makeCounter(
                descriptor: Self.name("authorization_checks", "total", "Checks of a caller's access at the origin before serving cached content: remembered = answered from the verdict cache."),
                labels: [("result", result)]))
        })
        hitRatio = registry.makeGauge(descriptor: Self.name("cache_hit", "ratio", "Share of blob GETs since start that were served wholly from the cache."))
        cacheSize = registry.makeGauge(descriptor: Self.name("cache_size", "bytes", "Bytes of complete, verified blobs in the cache."))
        cacheBlobs = registry.makeGauge(descriptor: Self.name("cache", "blobs", "Complete, verified blobs in the cache."))
        cacheQuota = registry.makeGauge(descriptor: Self.name("cache_quota", "bytes", "The cache's configured size limit."))
        evictions = registry.makeCounter(descriptor: Self.name("cache_evictions", "total", "Blobs removed to keep the cache within its quota."))
        uploaded = registry.makeCounter(descriptor: Self.name("peer_uploaded", "bytes_total", "Piece bytes sent to other agents."))
        peerRefusals = registry.makeCounter(descriptor: Self.name("peer_requests_refused", "total", "Peer-port requests and connections refused: no valid agent credential, a body past its bound, too many connections, or no signed request in time."))
        pieces = Dictionary(uniqueKeysWithValues: ["origin verified", "peer verified", "peer rejected"].map { key in
            let parts = key.split(separator: " ").map(String.init)
            return (key, registry.makeCounter(
                descriptor: Self.name("pieces", "total", "Pieces received, by source and by whether they matched their hash (rejected pieces are fetched again elsewhere)."),
                labels: [("source", parts[0]), ("result", parts[1])]))
        })
        coordinatorCalls = Dictionary(uniqueKeysWithValues: ["answered", "busy", "failed", "unreachable"].map { result in
            (result, registry.makeCounter(
                descriptor: Self.name("coordinator_requests", "total", "Announcements to blob coordinators: busy = refused at once with too many waiting (the download keeps its last answer), unreachable = no coordinator answered and the download went to the origin."),
                labels: [("result", result)]))
        })
        coordinatorLatency = registry.makeDurationHistogram(
            descriptor: Self.name("coordinator_request_duration", "seconds", "Time for a blob coordinator to answer an announcement (the agent's own coordinator included)."),
            buckets: [.milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
                      .milliseconds(100), .milliseconds(250), .milliseconds(500)])
        blobFirstByte = registry.makeDurationHistogram(
            descriptor: Self.name("blob_first_byte", "seconds", "From the start of a swarm download to its first verified bytes handed to clients."),
            buckets: [.milliseconds(10), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
                      .seconds(1), .seconds(2), .seconds(5), .seconds(10)])
        blobDurations = Dictionary(uniqueKeysWithValues: ["complete", "failed"].map { result in
            (result, registry.makeDurationHistogram(
                descriptor: Self.name("blob_download_duration", "seconds", "Swarm downloads from start to end: complete = verified and cached, failed = its readers went on from the origin."),
                labels: [("result", result)],
                buckets: [.milliseconds(100), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10), .seconds(25),
                          .seconds(60), .seconds(150), .seconds(300), .seconds(900)]))
        })
        pieceRequestFailures = Dictionary(uniqueKeysWithValues: ["refused", "busy", "status", "timeout", "short", "connection", "other"].map { reason in
            (reason, registry.makeCounter(
                descriptor: Self.name("piece_requests_failed", "total", "Piece requests to peers that brought no piece: refused = the peer does not hold it, busy = it was sending its most pieces at once, timeout = too slow, connection = not reachable or cut."),
                labels: [("reason", reason)]))
        })
        announcementsHandled = Dictionary(uniqueKeysWithValues: ["answered", "shed"].map { result in
            (result, registry.makeCounter(
                descriptor: Self.name("coordinator_announcements", "total", "Announcements this agent took as a blob coordinator: shed = refused at once (503) with too many already waiting; the agent asking keeps its last answer."),
                labels: [("result", result)]))
        })
        blobsDistrusted = registry.makeCounter(
            descriptor: Self.name("swarm_blobs_distrusted", "total", "Blobs whose swarm hashes proved wrong (the blob failed its digest, or a published piece hash differed from the origin's bytes): taken from the origin alone for an hour on this node. Not 0: an agent with the cluster secret lies."))
        unknownRegistry = registry.makeCounter(
            descriptor: Self.name("unknown_registry_requests", "total", "Requests for a registry the agent does not accelerate, answered 404 NAME_UNKNOWN (containerd then tries its next host, usually the origin: bytes that bypass the agent)."))
        swarmMembersGauge = registry.makeGauge(
            descriptor: Self.name("swarm", "members", "Agents in this agent's swarm member list (itself included once it is ready); 0 for long: every blob comes from the origin."))
        containerdStates = Dictionary(uniqueKeysWithValues: [ContainerdPreflight.Result.honoured, .ignored, .unreadable].map { result in
            (result, registry.makeGauge(
                descriptor: Self.name("containerd_preflight", "state", "1 for the current verdict on containerd's configuration: honoured = its CRI registry config_path names the agent's hosts.toml directory; ignored = containerd would not read the agent's hosts.toml and the agent is not ready; unreadable = the configuration cannot be read and the agent is not ready (/readyz says why)."),
                labels: [("result", result.rawValue)]))
        })
        containerdWarnings = registry.makeGauge(
            descriptor: Self.name("containerd_preflight", "warnings", "Conditions in containerd's configuration that make some containerd releases ignore the agent's hosts.toml (/status lists them)."))
        blobPeers = registry.makeValueHistogram(
            descriptor: Self.name("blob_peers", "count", "Peers that sent pieces of each completed swarm download."),
            buckets: [0, 1, 2, 4, 8, 16, 32, 64])
    }

    /// `peerpull_agent_<metric>_<unit>`.
    static func name(_ metric: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "peerpull", subsystem: "agent", metricName: metric, unitName: unit, helpText: help)
    }

    func received(_ count: Int, from source: Source) { received[source]!.increment(by: Int64(count)) }
    func served(_ count: Int, from source: Source) { served[source]!.increment(by: Int64(count)) }
    func uploaded(_ count: Int) { uploaded.increment(by: Int64(count)) }
    func peerRefused() { peerRefusals.increment() }
    func piece(from source: String, verified: Bool) { pieces["\(source) \(verified ? "verified" : "rejected")"]?.increment() }
    func coordinatorCall(_ result: String) { coordinatorCalls[result]?.increment() }
    func announcementHandled(shed: Bool) { announcementsHandled[shed ? "shed" : "answered"]?.increment() }
    func coordinatorAnswered(after duration: Duration) { coordinatorLatency.record(duration) }
    func pieceRequestFailed(_ reason: String) { pieceRequestFailures[reason]?.increment() }
    func blobDistrusted() { blobsDistrusted.increment() }
    func blobFirstByte(after duration: Duration) { blobFirstByte.record(duration) }
    func blobFinished(complete: Bool, after duration: Duration, peers: Int) {
        blobDurations[complete ? "complete" : "failed"]!.record(duration)
        if complete { blobPeers.record(Double(peers)) }
    }

    func unknownRegistryRequest() { unknownRegistry.increment() }
    func swarmMembers(_ count: Int) { swarmMembersGauge.set(to: Double(count)) }

    func containerdPreflight(_ verdict: ContainerdPreflight) {
        for (result, gauge) in containerdStates { gauge.set(to: result == verdict.result ? 1 : 0) }
        containerdWarnings.set(to: Double(verdict.warnings.count))
    }

    func cacheRequest(_ result: CacheResult) {
        cacheRequests[result]!.increment()
        let ratio = hitsAndLookups.withLock { state -> Double in
            state.lookups += 1
            if result == .hit { state.hits += 1 }
            return Double(state.hits) / Double(state.lookups)
        }
        hitRatio.set(to: ratio)
    }

    func authorizationCheck(_ result: String) { authChecks[result]?.increment() }

    func requestFinished(kind: Kind, method: String, status: Int, duration: Duration) {
        let statusClass = "\(status / 100)xx"
        let key = "\(kind.rawValue) \(method) \(statusClass)"
        let histogram = durations.withLock { map -> DurationHistogram in
            if let h = map[key] { return h }
            let h = registry.makeDurationHistogram(
                descriptor: Self.name("request_duration", "seconds", "Time to answer registry API requests, until the response head (blob bodies stream on)."),
                labels: [("kind", kind.rawValue), ("method", method), ("status", statusClass)],
                buckets: [.milliseconds(1), .milliseconds(5), .milliseconds(25), .milliseconds(100), .milliseconds(250),
                          .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10)])
            map[key] = h
            return h
        }
        histogram.record(duration)
    }

    /// The Prometheus text exposition.
    public func render() -> String { registry.emitToString() }
}
