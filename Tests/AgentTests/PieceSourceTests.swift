@testable import Agent
import AsyncHTTPClient
import Logging
import NIOCore
import OCI
import OCIClient
import Swarm
import Synchronization
import TestSupport
import Testing

func bytesStream(_ bytes: [UInt8]) -> ByteStream {
    ByteStream(AsyncStream<ByteBuffer> { c in
        c.yield(ByteBuffer(bytes: bytes))
        c.finish()
    })
}

/// The piece download with its sources as in-memory twins: the swarm's decisions and the
/// cache's checks, with no socket. (The same download against real agents and a real
/// registry: `SwarmLoopbackTests`, `SwarmNamespaceTests`.)
@Suite("Piece sources and the piece download")
struct PieceSourceTests {
    struct FixedMembers: SwarmMembers {
        let members: [Member]
        var current: [Member] { members }
        func follow() async {}
    }

    static let pieceSize = 1 << 20
    static let me = Member(node: "me", address: "198.18.0.1")
    let logger = Logger(label: "test")

    static func blob(_ size: Int) -> (bytes: [UInt8], digest: Digest, layout: PieceLayout) {
        let bytes = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 >> 11) }
        return (bytes, Digest.compute(of: bytes), PieceLayout(size: Int64(size), pieceSize: pieceSize))
    }

    /// An origin that answers `Range` requests from `bytes`, counting them.
    final class RangeOrigin: Sendable {
        let bytes: [UInt8]
        let ranges = Mutex<[ByteRange?]>([])
        init(_ bytes: [UInt8]) { self.bytes = bytes }

        func fetch(_ range: ByteRange?) -> BlobResponse {
            ranges.withLock { $0.append(range) }
            guard case .closed(let first, let last)? = range else {
                return BlobResponse(status: 200, contentLength: Int64(bytes.count), body: bytesStream(bytes))
            }
            let slice = Array(bytes[Int(first)...Int(last)])
            return BlobResponse(status: 206, contentLength: Int64(slice.count),
                                contentRange: ContentRange(first: first, last: last, completeLength: Int64(bytes.count)), body: bytesStream(slice))
        }
    }

    /// A cache in the swarm of `me` alone (its own coordinator), whose peers are twins.
    /// These tests are about which source is asked for what, so no deadline may run out
    /// under the CPU starvation of a loaded test run, where this suite once took 25 s
    /// instead of 2.5: a request timeout of 5 minutes (a request given up is rightly asked
    /// again: the first CI run saw piece 0 asked twice of the origin), and holders and deals
    /// that live an hour (twice in CI the twins' announcements outlived the 8 s holder TTL,
    /// even re-announced every second, and the coordinator rightly dealt piece 0 to the
    /// downloader for the origin).
    func swarmCache(_ dir: TemporaryDirectory, peers: [String: InMemoryPieceSource], metrics: AgentMetrics) async throws -> (BlobCache, SwarmAgent, HTTPClient) {
        var scheduling = PieceScheduler.Configuration()
        scheduling.requestTimeout = .seconds(300)
        var coordinating = CoordinatorState.Configuration()
        coordinating.holderTTL = .seconds(3600)
        coordinating.dealTimeout = .seconds(3600)
        let cache = try BlobCache(configuration: .init(root: dir.file("cache"), quota: 1 << 30), metrics: metrics, logger: logger)
        let http = HTTPClient.shared
        let agent = SwarmAgent(me: Self.me, membership: FixedMembers(members: [Self.me]), coordinator: SwarmCoordinator(configuration: coordinating),
                               client: PeerClient(http: http, credential: PeerCredential(secret: [UInt8](repeating: 7, count: 32))!, me: Self.me),
                               pieceSize: Self.pieceSize, coordinatorTimeout: .seconds(60), schedulerConfiguration: scheduling, peerSource: { member in peers[member.node]! },
                               metrics: metrics, logger: logger)
        await cache.join(agent)
        return (cache, agent, http)
    }

    func read(_ lookup: BlobCache.Lookup?, origin: RangeOrigin) async throws -> [UInt8] {
        guard case .downloading(let lease, let download)? = lookup else {
            Issue.record("expected a download")
            return []
        }
        return try await collect(DownloadingBlobStream(lease: lease, download: download) { bytesStream(Array(origin.bytes[Int($0)...])) })
    }

    @Test("the origin source returns exactly a piece and its hash, and refuses a short or whole answer")
    func originSource() async throws {
        let (bytes, digest, layout) = Self.blob(2_500_000)
        let origin = RangeOrigin(bytes)
        let pool = BufferPool(keep: 2)
        let source = OriginPieceSource { origin.fetch($0) }
        let (piece, hash) = try await source.piece(2, of: digest, layout: layout, into: pool, timeout: .seconds(1))
        #expect(Array(buffer: piece) == Array(bytes[(2 * Self.pieceSize)...]))
        #expect(hash == PieceHash(hashing: Array(bytes[(2 * Self.pieceSize)...])))
        #expect(origin.ranges.withLock { $0 } == [.closed(first: 2_097_152, last: 2_499_999)])

        let whole = OriginPieceSource { _ in BlobResponse(status: 200, contentLength: Int64(bytes.count), body: bytesStream(bytes)) }
        await #expect(throws: RegistryError.self) { _ = try await whole.piece(0, of: digest, layout: layout, into: pool, timeout: .seconds(1)) }
        let short = OriginPieceSource { _ in
            BlobResponse(status: 206, contentLength: 10, contentRange: ContentRange(first: 0, last: 1_048_575, completeLength: Int64(bytes.count)),
                         body: bytesStream(Array(bytes[0..<10])))
        }
        await #expect(throws: RegistryError.self) { _ = try await short.piece(0, of: digest, layout: layout, into: pool, timeout: .seconds(1)) }
    }

    @Test("pieces come from the peers that hold them; a corrupting peer is asked once, dropped, and no wrong byte reaches the reader")
    func peersAndACorruptOne() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let (bytes, digest, layout) = Self.blob(6 * Self.pieceSize + 12_345)
        let good = InMemoryPieceSource(bytes: bytes), bad = InMemoryPieceSource(bytes: bytes, behaviour: .corrupt)
        let metrics = AgentMetrics()
        let (cache, agent, _) = try await swarmCache(dir, peers: ["good": good, "bad": bad], metrics: metrics)
        // Both peers hold the whole blob, and its pieces' hashes are published.
        let hashes = Dictionary(uniqueKeysWithValues: (0..<layout.count).map { i in
            let r = layout.range(of: i)
            return (i, PieceHash(hashing: Array(bytes[Int(r.lowerBound)..<Int(r.upperBound)])))
        })
        // Announced as held (they stay so: see `swarmCache`).
        for node in ["good", "bad"] {
            _ = await agent.coordinator.announce(Announcement(blob: digest, layout: layout, member: Member(node: node, address: "198.18.0.2"),
                                                              have: .full(count: layout.count), hashes: hashes, wantsOriginWork: false))
        }
        let origin = RangeOrigin(bytes)
        let (lookup, _) = await cache.lookup(digest, size: Int64(bytes.count)) { origin.fetch($0) }
        let got = try await read(lookup, origin: origin)
        #expect(got == bytes)
        #expect(origin.ranges.withLock { $0 }.isEmpty, "the origin was not asked: the peers held every piece")
        #expect(bad.asked.count == 1, "the corrupting peer was dropped after its first piece: asked \(bad.asked)")
        #expect(Set(good.asked) == Set(0..<layout.count), "the good peer sent every piece")
        let text = metrics.render()
        #expect(metric(text, #"peerpull_agent_pieces_total{source="peer",result="rejected"}"#) == 1)
    }

    @Test("with no peers the coordinator deals every piece to the agent, and each is read from the origin once")
    func aloneFromTheOrigin() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let (bytes, digest, layout) = Self.blob(5 * Self.pieceSize)
        let metrics = AgentMetrics()
        let (cache, _, _) = try await swarmCache(dir, peers: [:], metrics: metrics)
        let origin = RangeOrigin(bytes)
        let (lookup, _) = await cache.lookup(digest, size: Int64(bytes.count)) { origin.fetch($0) }
        #expect(try await read(lookup, origin: origin) == bytes)
        let asked = origin.ranges.withLock { $0 }
        #expect(asked.count == layout.count && Set(asked.map { "\(String(describing: $0))" }).count == layout.count,
                "each piece once: \(asked)")
    }
}
