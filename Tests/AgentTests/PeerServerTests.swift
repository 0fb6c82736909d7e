@testable import Agent
import AsyncHTTPClient
import Logging
import OCI
import Swarm
import TestSupport
import Testing

/// The peer port's coordinator endpoint on a real loopback socket, asked by the agent's
/// own `PeerClient`.
@Suite("Peer server")
struct PeerServerTests {
    static let me = Member(node: "node-a", address: "127.0.0.1")

    /// Serves a peer port with `queue` announcements allowed to wait, runs `body` with a
    /// client of the cluster and the port's member, and stops the server.
    func withPeerServer(queue: Int, _ body: (PeerClient, Member, AgentMetrics, SwarmCoordinator) async throws -> Void) async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let credential = PeerCredential(secret: [UInt8](repeating: 9, count: 32))!
        let metrics = AgentMetrics()
        let logger = Logger(label: "test")
        let cache = try BlobCache(configuration: .init(root: dir.file("cache"), quota: 1 << 20), metrics: metrics, logger: logger)
        let server = PeerServer(credential: credential, coordinator: SwarmCoordinator(), cache: cache, bucket: nil, metrics: metrics,
                                coordinatorQueue: queue, logger: logger)
        let port = try LoopbackPort.free()
        let serving = Task { try await server.run(host: "127.0.0.1", port: port) }
        defer { serving.cancel() }
        let client = PeerClient(http: HTTPClient.shared, credential: credential, me: Self.me)
        let coordinator = Member(node: "node-b", address: "127.0.0.1", peerPort: port)
        // Until it listens.
        let deadline = ContinuousClock.now + .seconds(10)
        while (try? await HTTPClient.shared.get(url: "http://127.0.0.1:\(port)/healthz").get()) == nil, .now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        try await body(client, coordinator, metrics, server.coordinator)
    }

    static func announcement() -> Announcement {
        let layout = PieceLayout(size: 4 << 20, pieceSize: 1 << 20)
        return Announcement(blob: Digest.compute(of: [1]), layout: layout, member: me, have: PieceSet(count: layout.count))
    }

    @Test("an announcement is answered, and one past the coordinator's queue is refused at once with 503 and the coordinator's pace, counted")
    func shedsPastItsQueue() async throws {
        try await withPeerServer(queue: SwarmCadence.coordinatorQueue) { client, coordinator, metrics, _ in
            let answer = try await client.announce(Self.announcement(), to: coordinator, timeout: .seconds(10))
            #expect(answer.originPieces == [0, 1], "the only fetcher is dealt the first pieces")
            #expect(metric(metrics.render(), #"peerpull_agent_coordinator_announcements_total{result="answered"}"#) == 1)
        }
        // With no room to wait, every announcement is one too many.
        try await withPeerServer(queue: 0) { client, coordinator, metrics, state in
            do {
                let answer = try await client.announce(Self.announcement(), to: coordinator, timeout: .seconds(10))
                Issue.record("answered: \(answer)")
            } catch PeerClient.Failure.busy(let every) {
                #expect(every == .zero, "an idle coordinator asks for no slower pace")
            }
            #expect(metric(metrics.render(), #"peerpull_agent_coordinator_announcements_total{result="shed"}"#) == 1)
            #expect(metric(metrics.render(), #"peerpull_agent_coordinator_announcements_total{result="answered"}"#) == 0)
            #expect(state.refusedNotYetCounted == 1, "a fetching agent's refused announcement is demand the pace counts")
        }
    }
}
