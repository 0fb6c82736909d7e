import OCI
import Swarm
import Testing

@Suite("Coordinator state machine")
struct CoordinatorStateTests {
    static let blob = Digest.compute(of: Array("layer".utf8))
    static let layout = PieceLayout(size: 20 << 20, pieceSize: 1 << 20)  // 20 pieces
    static func member(_ i: Int) -> Member { Member(node: "node-\(i)", address: "198.18.0.\(i)") }
    static func t(_ s: Double) -> SwarmInstant { .milliseconds(Int64(s * 1000)) }
    /// Two pieces to every fetcher, a lone one too (`theOnlyFetcherIsDealtMoreToKeepTheOriginBusy`).
    static var plain: CoordinatorState.Configuration {
        var c = CoordinatorState.Configuration()
        c.originPiecesAlone = c.originPiecesPerFetcher
        return c
    }

    @Test func theOnlyFetcherIsDealtMoreToKeepTheOriginBusy() throws {
        var c = CoordinatorState()
        #expect(c.announce(Self.announce(1), now: Self.t(0)).originPieces == [0, 1, 2, 3])
        #expect(c.announce(Self.announce(2), now: Self.t(0)).originPieces == [4, 5], "two once there are two")
        #expect(c.announce(Self.announce(1, have: [0, 1]), now: Self.t(1)).originPieces == [2, 3], "and no more to the first")
    }

    static func announce(_ i: Int, have: [Int] = [], hashes: [Int: PieceHash] = [:], wantHashes: [Int] = [],
                         layout: PieceLayout = layout, origin: Bool = true) -> Announcement {
        Announcement(blob: blob, layout: layout, member: member(i), have: PieceSet(count: layout.count, have),
                     hashes: hashes, wantHashes: PieceSet(count: layout.count, wantHashes), wantsOriginWork: origin)
    }

    @Test("an answer carries at most hashesPerAnswer hashes, the lowest wanted first")
    func answersAreBounded() throws {
        let big = PieceLayout(size: 3000 << 18, pieceSize: 1 << 18)  // 3,000 pieces
        var c = CoordinatorState()
        var hashes: [Int: PieceHash] = [:]
        for i in 0..<big.count { hashes[i] = PieceHash(hashing: [UInt8(i & 0xff), UInt8(i >> 8)]) }
        _ = c.announce(Self.announce(1, have: Array(0..<big.count), hashes: hashes, layout: big, origin: false), now: Self.t(0))
        let first = c.announce(Self.announce(2, wantHashes: Array(0..<big.count), layout: big), now: Self.t(0.1))
        #expect(first.hashes.count == 2048 && first.hashes.keys.max() == 2047)
        let rest = c.announce(Self.announce(2, wantHashes: Array(2048..<big.count), layout: big), now: Self.t(0.2))
        #expect(rest.hashes.count == big.count - 2048 && rest.hashes[2999] == hashes[2999])
    }

    @Test func theFirstAskersAreDealtDisjointPiecesInOrder() throws {
        var c = CoordinatorState(configuration: Self.plain)
        var dealt: [[Int]] = []
        for i in 1...4 { dealt.append(c.announce(Self.announce(i), now: Self.t(0)).originPieces) }
        #expect(dealt == [[0, 1], [2, 3], [4, 5], [6, 7]])
        let answer = c.announce(Self.announce(5), now: Self.t(0))
        #expect(answer.dealt.members == Array(0...9))
        #expect(answer.peers.isEmpty, "nobody holds anything yet")
    }

    @Test func aFetcherThatDeliversIsDealtMoreAndTheOthersLearnWhoHasIt() throws {
        var c = CoordinatorState(configuration: Self.plain)
        _ = c.announce(Self.announce(1), now: Self.t(0))
        _ = c.announce(Self.announce(2), now: Self.t(0))
        let h0 = PieceHash(hashing: [0]), h1 = PieceHash(hashing: [1])
        let more = c.announce(Self.announce(1, have: [0, 1], hashes: [0: h0, 1: h1]), now: Self.t(1))
        #expect(more.originPieces == [4, 5], "pieces 2 and 3 are node-2's")
        let seen = c.announce(Self.announce(2, wantHashes: [0, 1, 9]), now: Self.t(1))
        #expect(seen.peers.map(\.member.node) == ["node-1"] && seen.peers[0].have.members == [0, 1])
        #expect(seen.hashes == [0: h0, 1: h1])
        #expect(seen.originPieces == [2, 3], "its own deal stands")
        // A different hash for a known piece is counted, never replaces the first.
        _ = c.announce(Self.announce(3, have: [0], hashes: [0: PieceHash(hashing: [9])]), now: Self.t(1))
        #expect(c.hashConflicts == 1)
        #expect(c.announce(Self.announce(4, wantHashes: [0]), now: Self.t(1)).hashes == [0: h0])
    }

    @Test("past its target rate the coordinator asks fetching agents to announce less often, until the rate is the target")
    func announcePaceConverges() throws {
        var config = CoordinatorState.Configuration()
        config.announcementRate = 500
        var c = CoordinatorState(configuration: config)
        // 1,000 fetching agents, each announcing at its own pace (every 400 ms) or the
        // coordinator's when that is slower, in 10 ms steps; more than `maxHolders`.
        let agents = 1_000, step = SwarmInstant.milliseconds(10)
        var due = (0..<agents).map { SwarmInstant.milliseconds(Int64($0 % 40) * 10) }
        var counted: [SwarmInstant] = []
        var now = SwarmInstant.zero
        while now < .seconds(24) {
            for i in 0..<agents where due[i] <= now {
                let answer = c.announce(Self.announce(i, have: [0], origin: false), now: now)
                due[i] = now + max(SwarmCadence.announceEvery, answer.announceEvery)
                if now >= .seconds(16) { counted.append(now) }
            }
            now += step
        }
        let rate = Double(counted.count) / 8
        #expect((1.5...2.5).contains(c.announceEvery.inSeconds), "1,000 agents ÷ 500 a second: \(c.announceEvery)")
        #expect((350...650).contains(rate), "announcements a second once settled: \(rate)")
        // Once they hold the blob, the few still fetching keep their own pace.
        for i in 0..<agents { _ = c.announce(Self.announce(i, have: Array(0..<20)), now: now) }
        for k in 0..<30 { _ = c.announce(Self.announce(9_999), now: now + .milliseconds(400) * (k + 1)) }
        #expect(c.announceEvery == .zero)
    }

    @Test("refused announcements count toward the pace: a swamped coordinator slows its agents within a window or two")
    func refusedAnnouncementsCount() throws {
        var config = CoordinatorState.Configuration()
        config.announcementRate = 500
        // Capacity 1,000 a second (one per ms); 10,000 agents every 400 ms are 25,000 a second.
        func settle(countingRefused: Bool) -> Duration {
            var c = CoordinatorState(configuration: config)
            var now = SwarmInstant.zero
            var k = 0
            while now < .seconds(3) {
                _ = c.announce(Self.announce(k % 10_000, have: [0], origin: false), now: now)
                if countingRefused { c.refused(24, now: now) }
                k += 1
                now += .milliseconds(1)
            }
            return c.announceEvery
        }
        #expect(settle(countingRefused: false) <= .milliseconds(600), "capacity ÷ target per window: 150 ms × 2 × 2")
        #expect(settle(countingRefused: true) >= .seconds(2), "demand ÷ target: 150 ms × 50, at most 4 s")
    }

    @Test func onlyTheConfiguredNumberOfFetchersTakeOriginWork() throws {
        var config = Self.plain
        config.originFetchers = 2
        var c = CoordinatorState(configuration: config)
        #expect(!c.announce(Self.announce(1), now: Self.t(0)).originPieces.isEmpty)
        #expect(!c.announce(Self.announce(2), now: Self.t(0)).originPieces.isEmpty)
        #expect(c.announce(Self.announce(3), now: Self.t(0)).originPieces.isEmpty)
        #expect(c.announce(Self.announce(4, origin: false), now: Self.t(0)).originPieces.isEmpty)
        // A fetcher that completes gives its slot up.
        _ = c.announce(Self.announce(1, have: Array(0..<20)), now: Self.t(1))
        #expect(c.announce(Self.announce(3), now: Self.t(1)).originPieces.isEmpty, "nothing is left that nobody holds")
    }

    @Test func aSilentFetchersDealsAreDealtAgain() throws {
        var c = CoordinatorState(configuration: Self.plain)
        #expect(c.announce(Self.announce(1), now: Self.t(0)).originPieces == [0, 1])
        #expect(c.announce(Self.announce(2), now: Self.t(0)).originPieces == [2, 3])
        // node-1 goes silent; after the holder TTL (8 s) its pieces return to the pool, lowest first.
        _ = c.announce(Self.announce(2), now: Self.t(5))
        #expect(c.announce(Self.announce(2, have: [2, 3]), now: Self.t(9)).originPieces == [0, 1])
        // A deal that is not fulfilled within the deal timeout moves too, even if its agent talks.
        var d = CoordinatorState(configuration: Self.plain)
        #expect(d.announce(Self.announce(1), now: Self.t(0)).originPieces == [0, 1])
        for s in stride(from: 2.0, through: 10, by: 2) { _ = d.announce(Self.announce(1), now: Self.t(s)) }
        #expect(d.announce(Self.announce(2), now: Self.t(11)).originPieces == [0, 1])
        // ...and node-1, asking again, is benched for the deal timeout, then may fetch again.
        #expect(d.announce(Self.announce(1), now: Self.t(11)).originPieces.isEmpty)
        // (node-2 never delivered 0 and 1 either, so at 21.5 s they are node-1's again.)
        #expect(d.announce(Self.announce(1), now: Self.t(21.5)).originPieces == [0, 1])
    }

    @Test("eight fetchers that announce but never deliver lose their places: an honest asker is dealt the work")
    func fetchersThatNeverDeliverLoseTheirPlaces() throws {
        var c = CoordinatorState(configuration: Self.plain)
        for i in 1...8 { #expect(!c.announce(Self.announce(i), now: Self.t(0)).originPieces.isEmpty) }
        // They keep announcing (alive, holding nothing); node-9 is a fetcher nowhere.
        var t = 0.4
        while t < 10 {
            for i in 1...8 { _ = c.announce(Self.announce(i), now: Self.t(t)) }
            #expect(c.announce(Self.announce(9), now: Self.t(t)).originPieces.isEmpty, "at \(t) s")
            t += 0.4
        }
        for i in 1...8 { _ = c.announce(Self.announce(i), now: Self.t(10.5)) }
        let honest = c.announce(Self.announce(9), now: Self.t(10.5))
        #expect(honest.originPieces == [0, 1], "the lowest pieces, left by the liars, go to an agent that asks")
        for i in 1...8 { #expect(c.announce(Self.announce(i), now: Self.t(11)).originPieces.isEmpty, "node-\(i) is benched") }
    }

    @Test func aHolderReportedUnreachableAndSilentIsDroppedAtOnce() throws {
        var c = CoordinatorState(configuration: Self.plain)
        #expect(c.announce(Self.announce(1), now: Self.t(0)).originPieces == [0, 1])
        _ = c.announce(Self.announce(2), now: Self.t(0))
        // Reported while still talking (silent for 0.5 s only): kept.
        var report = Self.announce(2)
        report.unreachable = ["node-1"]
        #expect(c.announce(report, now: Self.t(0.5)).originPieces == [2, 3])
        // Silent for over a second and reported: dropped, its deals back in the pool for the
        // next fetcher that asks (not after the 8 s holder TTL).
        _ = c.announce(report, now: Self.t(1.6))
        #expect(c.size.holders == 1)
        #expect(c.announce(Self.announce(3), now: Self.t(1.7)).originPieces == [0, 1])
    }

    @Test func aLateJoinerGetsPeersAndNoOriginWork() throws {
        var c = CoordinatorState(configuration: Self.plain)
        _ = c.announce(Self.announce(1, have: Array(0..<20)), now: Self.t(0))
        let late = c.announce(Self.announce(9), now: Self.t(1))
        #expect(late.originPieces.isEmpty && late.peers.map(\.member.node) == ["node-1"])
        // If the only holder leaves, what it held is dealt again.
        let alone = c.announce(Self.announce(9), now: Self.t(10))
        #expect(alone.peers.isEmpty && alone.originPieces == [0, 1])
    }

    @Test func anAnswerListsAHolderOfEveryPieceTheAskerLacksWhenTheCapAllows() throws {
        var config = CoordinatorState.Configuration()
        config.peersPerAnswer = 4
        var c = CoordinatorState(configuration: config)
        // Ten holders of pieces 0-9, and one of piece 19 only.
        for i in 1...10 { _ = c.announce(Self.announce(i, have: Array(0...9), origin: false), now: Self.t(0)) }
        _ = c.announce(Self.announce(11, have: [19], origin: false), now: Self.t(0))
        for asker in 20..<30 {
            let answer = c.announce(Self.announce(asker, origin: false), now: Self.t(1))
            #expect(answer.peers.count == 4)
            #expect(answer.peers.contains { $0.member.node == "node-11" }, "the only holder of piece 19, for node-\(asker)")
        }
        // Askers are spread over the other holders, not all sent to the same three.
        var listed = Set<String>()
        for asker in 20..<30 { c.announce(Self.announce(asker, origin: false), now: Self.t(1)).peers.forEach { listed.insert($0.member.node) } }
        #expect(listed.count > 4)
    }

    @Test("an asker meets other holders with every answer, not the same ones for the whole rollout")
    func anAskerMeetsOtherHoldersWithEveryAnswer() throws {
        var config = CoordinatorState.Configuration()
        config.peersPerAnswer = 4
        var c = CoordinatorState(configuration: config)
        for i in 1...40 { _ = c.announce(Self.announce(i, have: Array(0...9), origin: false), now: Self.t(0)) }
        var met = Set<String>()
        for round in 0..<5 {
            let answer = c.announce(Self.announce(99, origin: false), now: Self.t(0.2 * Double(round)))
            #expect(answer.peers.count == 4)
            answer.peers.forEach { met.insert($0.member.node) }
        }
        #expect(met.count >= 12, "five answers of 4 listed \(met.count) holders")
    }

    @Test func memoryIsBounded() throws {
        var config = CoordinatorState.Configuration()
        config.maxHolders = 10
        config.peersPerAnswer = 4
        config.maxBlobs = 3
        var c = CoordinatorState(configuration: config)
        for i in 1...50 { _ = c.announce(Self.announce(i, have: [i % 20]), now: Self.t(Double(i) / 100)) }
        #expect(c.size.holders == 10)
        let answer = c.announce(Self.announce(99), now: Self.t(1))
        #expect(answer.peers.count == 4)
        for k in 0..<5 {
            var a = Self.announce(1)
            a.blob = Digest.compute(of: Array("other \(k)".utf8))
            _ = c.announce(a, now: Self.t(2 + Double(k)))
        }
        #expect(c.size.blobs == 3)
        c.expire(now: Self.t(100))
        #expect(c.size.blobs == 0 && c.size.holders == 0, "nothing outlives its announcements")
    }

    @Test func aDifferentCutOfTheBlobIsAnsweredWithTheSwarmsLayout() throws {
        var c = CoordinatorState(configuration: Self.plain)
        _ = c.announce(Self.announce(1), now: Self.t(0))
        let other = PieceLayout(size: 20 << 20, pieceSize: 4 << 20)
        let answer = c.announce(Self.announce(2, layout: other), now: Self.t(0))
        #expect(answer.layout == Self.layout && answer.originPieces.isEmpty)
        #expect(c.size.holders == 1, "its pieces, in another cut, are not recorded")
    }

    @Test func theVersionChangesWithWhatTheCoordinatorKnows() throws {
        var c = CoordinatorState(configuration: Self.plain)
        let v1 = c.announce(Self.announce(1), now: Self.t(0)).version
        let v2 = c.announce(Self.announce(1), now: Self.t(0.1)).version
        #expect(v1 == v2, "a repeated announcement changes nothing")
        let v3 = c.announce(Self.announce(1, have: [0]), now: Self.t(0.2)).version
        #expect(v3 != v2 && c.version(of: Self.blob) == v3)
    }
}
