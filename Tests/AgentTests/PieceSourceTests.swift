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

    /// A cache in the swarm of `me` alone (its own coordinator), whose peers are twins, and
    /// the clock the download and the coordinator run on. The clock moves only when a test
    /// moves it, so no deadline runs out while a loaded CI machine starves the test of CPU
    /// (before the clock was injected this suite once took 25 s instead of 2.5, saw piece 0
    /// asked twice of the origin and the twins' announcements outlive their TTL). The tests
    /// that let the clock run (`running`) run it faster than real time, so they keep request
    /// timeouts of 5 minutes and holders and deals that live an hour: these tests are about
    /// which source is asked for what, not about timeouts.
    func swarmCache(_ dir: TemporaryDirectory, peers: [String: InMemoryPieceSource], metrics: AgentMetrics) async throws -> (BlobCache, SwarmAgent, ManualClock) {
        let clock = ManualClock()
        var scheduling = PieceScheduler.Configuration()
        scheduling.requestTimeout = .seconds(300)
        var coordinating = CoordinatorState.Configuration()
        coordinating.holderTTL = .seconds(3600)
        coordinating.dealTimeout = .seconds(3600)
        // One SwarmClock for all three: its instants count from when it was made.
        let swarmClock = SwarmClock(clock)
        var configuration = BlobCache.Configuration(root: dir.file("cache"), quota: 1 << 30)
        configuration.clock = swarmClock
        let cache = try BlobCache(configuration: configuration, metrics: metrics, logger: logger)
        let agent = SwarmAgent(me: Self.me, membership: FixedMembers(members: [Self.me]),
                               coordinator: SwarmCoordinator(configuration: coordinating, clock: swarmClock),
                               client: PeerClient(http: HTTPClient.shared, credential: PeerCredential(secret: [UInt8](repeating: 7, count: 32))!, me: Self.me),
                               pieceSize: Self.pieceSize, coordinatorTimeout: .seconds(60), schedulerConfiguration: scheduling,
                               peerSource: { member in peers[member.node]! }, clock: swarmClock, metrics: metrics, logger: logger)
        await cache.join(agent)
        return (cache, agent, clock)
    }

    /// Moves `clock` on by `total`, a tick of the download at a time, with a moment of real
    /// time after each step (and a short wait for the download's ticker to sleep again) so the
    /// download takes in each tick before the next.
    func advance(_ clock: ManualClock, by total: Duration, step: Duration = SwarmCadence.tick) async throws {
        var moved = Duration.zero
        while moved < total {
            clock.advance(by: step)
            moved += step
            try await Task.sleep(for: .milliseconds(5))
            // (Not long: a download that ended has no ticker to wait for.)
            let deadline = ContinuousClock.now + .milliseconds(100)
            while clock.sleepers == 0, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(1)) }
        }
    }

    /// Runs `body` while the clock moves on by a tick every few milliseconds of real time.
    func running<T: Sendable>(_ clock: ManualClock, _ body: () async throws -> T) async throws -> T {
        let ticking = Task {
            while !Task.isCancelled {
                clock.advance(by: SwarmCadence.tick)
                try? await Task.sleep(for: .milliseconds(5))
            }
        }
        defer { ticking.cancel() }
        return try await body()
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
        // Announced as held (they stay so: the clock does not move).
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
        let (cache, _, clock) = try await swarmCache(dir, peers: [:], metrics: metrics)
        let origin = RangeOrigin(bytes)
        let (lookup, _) = await cache.lookup(digest, size: Int64(bytes.count)) { origin.fetch($0) }
        // The coordinator deals a few pieces per answer; the next announcement is due on the clock.
        #expect(try await running(clock) { try await read(lookup, origin: origin) } == bytes)
        let asked = origin.ranges.withLock { $0 }
        #expect(asked.count == layout.count && Set(asked.map { "\(String(describing: $0))" }).count == layout.count,
                "each piece once: \(asked)")
    }

    @Test("an origin that fails with no piece from anywhere ends the download only after the stall limit on the download's clock; the reader gets the blob from the origin on its own")
    func theStallLimitRunsOnTheDownloadsClock() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let (bytes, digest, _) = Self.blob(3 * Self.pieceSize)
        let (cache, _, clock) = try await swarmCache(dir, peers: [:], metrics: AgentMetrics())
        let fetches = Mutex(0)
        // The download's origin fails every piece request; the reader's own fallback (`read`) is a good origin.
        let (lookup, _) = await cache.lookup(digest, size: Int64(bytes.count)) { _ in
            fetches.withLock { $0 += 1 }
            throw RegistryError.transport(registry: "origin.test", detail: "connection refused (the test's failing origin)")
        }
        let reading = Task { try await read(lookup, origin: RangeOrigin(bytes)) }
        // Three requests at a time, each failure resting the origin longer (250 ms doubling to
        // 5 s): by 9.5 s on the clock more than `originFailureLimit` failures were taken in,
        // and still the download waits, for no piece came for less than the stall limit.
        try await advance(clock, by: .milliseconds(9_500))
        #expect(try await eventually { fetches.withLock { $0 } > BlobDownload.originFailureLimit },
                "asked \(fetches.withLock { $0 }) times by 9.5 s on the clock")
        #expect(try await !eventually(within: .milliseconds(500)) { await !cache.isDownloading(digest) },
                "the download gave up before the stall limit, \(fetches.withLock { $0 }) failures in")
        // Past 10 s with no piece, the next failure ends it (the origin rests at most 5 s).
        var onTheClock = Duration.milliseconds(9_500)
        while await cache.isDownloading(digest), onTheClock < .seconds(30) {
            try await advance(clock, by: SwarmCadence.tick)
            onTheClock += SwarmCadence.tick
        }
        #expect(try await eventually { await !cache.isDownloading(digest) }, "the download did not give up by 30 s on its clock")
        #expect(onTheClock <= .seconds(16), "ended at \(onTheClock) on the clock, not within the origin's longest rest after the stall limit")
        #expect(try await reading.value == bytes)
        #expect(await cache.contents[digest] == nil, "a failed download is not kept")
    }
}
