import OCI
import Swarm
import Testing

func t(_ seconds: Double) -> SwarmInstant { .milliseconds(Int64(seconds * 1000)) }

@Suite("Mesh: upload grants")
struct UploadGrantsTests {
    @Test("slots go round the interested line, and a requester asks only under a grant")
    func roundRobin() {
        var g = UploadGrants<String>(slots: 2)
        let first = g.interested("a")
        #expect(first == ["a", "a"], "alone in the line, it is granted both slots")
        let none = g.interested("b")
        #expect(none == [])
        let refused = g.request(from: "b")
        #expect(!refused, "b holds no grant: refused")
        let asked = g.request(from: "a")
        #expect(asked && g.inUse == 2, "a's grant became a send")
        let next = g.sent(to: "a")
        #expect(next == ["b"], "the freed slot goes to b, which holds none, before a")
        let back = g.declined(by: "a")
        #expect(back == ["b"] && g.interestedCount == 1, "a slot given back goes to another; the decliner leaves the line")
    }

    @Test("a grant given back or left by a requester that lost interest goes to the next")
    func declineAndLeave() {
        var g = UploadGrants<String>(slots: 1)
        _ = g.interested("a")
        _ = g.interested("b")
        let toB = g.declined(by: "a")
        #expect(toB == ["b"])
        let empty = g.notInterested("b")
        #expect(empty == [] && g.inUse == 0 && g.interestedCount == 0, "b's grant is freed; a left when it declined")
        let again = g.interested("a")
        #expect(again == ["a"], "and comes back when it is interested again")
        let stray = g.sent(to: "z")
        #expect(stray == [] && g.inUse == 1, "a send nobody asked for changes nothing")
    }

    @Test("each interested requester is in the line once, however often it says so")
    func noDuplicates() {
        var g = UploadGrants<String>(slots: 1)
        var order = g.interested("a")
        _ = g.interested("b")
        _ = g.interested("b")
        _ = g.interested("c")
        for _ in 0..<5 {
            _ = g.request(from: order.last!)
            order += g.sent(to: order.last!)
        }
        #expect(order == ["a", "a", "b", "c", "a", "b"], "a was back in line before b and c came; b said it twice, waits once")
    }
}

@Suite("Mesh: a download")
struct MeshDownloadTests {
    static let layout = PieceLayout(size: 8 << 20, pieceSize: 1 << 20)  // 8 pieces
    static func set(_ members: [Int]) -> PieceSet { PieceSet(count: layout.count, members) }

    @Test("it is interested in a neighbour that holds what it lacks, and asks only under its grant, rarest first")
    func asksUnderGrants() {
        var d = MeshDownload<String>(layout: Self.layout)
        let r15 = d.neighbourAdded("a", holds: Self.set([]))
        #expect(r15 == [], "nothing to want")
        let r16 = d.neighbourAdded("b", holds: Self.set([1, 2]))
        #expect(r16 == [.interested("b")])
        let r17 = d.have(3, from: "a")
        #expect(r17 == [.interested("a")])
        let r18 = d.have(2, from: "a")
        #expect(r18 == [])
        let r19 = d.granted(by: "a", now: t(0))
        #expect(r19 == [.request(piece: 3, from: "a")], "3: one holder, 2: two")
        let r20 = d.granted(by: "b", now: t(0))
        #expect(r20 == [.request(piece: 1, from: "b")])
        let r21 = d.granted(by: "b", now: t(0))
        #expect(r21 == [.request(piece: 2, from: "b")])
        let r22 = d.granted(by: "a", now: t(0))
        #expect(r22 == [.decline("a")], "the incoming limit")
        let done = d.pieceVerified(3, from: .peer("a"), now: t(0.1))
        #expect(done.first == .have(piece: 3))
        #expect(!done.contains(.notInterested("a")), "a still holds 2, not yet verified here")
        let two = d.pieceVerified(2, from: .peer("b"), now: t(0.2))
        #expect(two.contains(.notInterested("a")) && !two.contains(.notInterested("b")), "b still holds 1, asked of it, not yet here")
    }

    @Test("a grant from a neighbour with nothing wanted is given back")
    func declinesWhenNothingWanted() {
        var d = MeshDownload<String>(layout: Self.layout)
        _ = d.neighbourAdded("a", holds: Self.set([0]))
        _ = d.granted(by: "a", now: t(0))
        let r23 = d.granted(by: "a", now: t(0))
        #expect(r23 == [.decline("a")], "0 is on its way already")
        _ = d.pieceVerified(0, from: .peer("a"), now: t(0.1))
        let after = d.granted(by: "a", now: t(0.1))
        #expect(after == [.decline("a")])
        let r24 = d.granted(by: "z", now: t(0))
        #expect(r24 == [.decline("z")], "not a neighbour")
    }

    @Test("what was asked of a lost neighbour is asked of another")
    func lostNeighbour() {
        var d = MeshDownload<String>(layout: Self.layout)
        _ = d.neighbourAdded("a", holds: Self.set([0]))
        _ = d.neighbourAdded("b", holds: Self.set([0]))
        let r25 = d.granted(by: "a", now: t(0))
        #expect(r25 == [.request(piece: 0, from: "a")])
        _ = d.neighbourLost("a", now: t(0.1))
        #expect(d.source(of: 0) == nil)
        let r26 = d.granted(by: "b", now: t(0.1))
        #expect(r26 == [.request(piece: 0, from: "b")])
        let r27 = d.pieceVerified(0, from: .peer("a"), now: t(0.2))
        #expect(r27.contains(.have(piece: 0)),
                "a piece that arrives anyway is still taken (its bytes were checked)")
    }

    @Test("dealt pieces come from the origin one at a time, each reported done")
    func dealtPieces() {
        var d = MeshDownload<String>(layout: Self.layout)
        let released = Self.set([])
        let r28 = d.coordinatorAnswered(dealt: [0, 1], released: released, now: t(0))
        #expect(r28 == [.fetchOrigin(piece: 0)])
        let first = d.pieceVerified(0, from: .origin, now: t(0.1))
        #expect(first == [.have(piece: 0), .dealtDone(piece: 0), .fetchOrigin(piece: 1)])
        _ = d.neighbourAdded("a", holds: Self.set([2]))
        let r29 = d.coordinatorAnswered(dealt: [2], released: released, now: t(0.2))
        #expect(r29 == [])
        _ = d.pieceVerified(1, from: .origin, now: t(0.3))
        #expect(d.source(of: 2) == .origin, "a dealt piece is fetched even if a neighbour holds it")
    }

    @Test("a dealt piece asked of a peer is taken from the origin, the peer request cancelled")
    func dealtPieceInFlightFromPeer() {
        var d = MeshDownload<String>(layout: Self.layout)
        _ = d.neighbourAdded("a", holds: Self.set([0]))
        _ = d.granted(by: "a", now: t(0))
        let r30 = d.coordinatorAnswered(dealt: [0], released: Self.set([]), now: t(0))
        #expect(r30
            == [.cancel(piece: 0, from: .peer("a")), .fetchOrigin(piece: 0)])
    }

    @Test("a released piece no neighbour offers is reported orphaned after orphanAfter, and again later")
    func orphans() {
        var d = MeshDownload<String>(layout: Self.layout)
        _ = d.neighbourAdded("a", holds: Self.set([1]))
        _ = d.coordinatorAnswered(dealt: [], released: Self.set([0, 1]), now: t(0))
        let early = d.tick(now: t(0.1))
        #expect(!early.contains(.orphaned(piece: 0)))
        let late = d.tick(now: t(6.2))
        #expect(late.contains(.orphaned(piece: 0)) && !late.contains(.orphaned(piece: 1)), "1: a neighbour offers it")
        let again = d.tick(now: t(6.3))
        #expect(!again.contains(.orphaned(piece: 0)), "reported: it waits another orphanAfter")
        let redealt = d.coordinatorAnswered(dealt: [0], released: Self.set([0, 1]), now: t(6.4))
        #expect(redealt == [.fetchOrigin(piece: 0)], "dealt to it: fetched from the origin")
    }

    @Test("a neighbour that sends a corrupt piece is dropped, and the piece asked again")
    func corrupt() {
        var d = MeshDownload<String>(layout: Self.layout)
        _ = d.neighbourAdded("a", holds: Self.set([0]))
        _ = d.neighbourAdded("b", holds: Self.set([0]))
        _ = d.granted(by: "a", now: t(0))
        let r33 = d.pieceFailed(0, from: .peer("a"), corrupt: true, now: t(0.1))
        #expect(r33.first == .drop("a"))
        #expect(d.neighbours["a"] == nil)
        let r34 = d.granted(by: "b", now: t(0.1))
        #expect(r34 == [.request(piece: 0, from: "b")])
    }

    @Test("too few neighbours asks for more, at most once per refillAfter")
    func refill() {
        var d = MeshDownload<String>(layout: Self.layout)
        let r35 = d.tick(now: t(0))
        #expect(r35 == [.refill])
        let r36 = d.tick(now: t(0.5))
        #expect(r36 == [])
        let r37 = d.tick(now: t(1.1))
        #expect(r37 == [.refill])
    }

    @Test("the last piece completes the download and ends every interest")
    func completes() {
        var d = MeshDownload<String>(layout: PieceLayout(size: 2 << 20, pieceSize: 1 << 20))
        _ = d.neighbourAdded("a", holds: PieceSet(count: 2, [0, 1]))
        _ = d.pieceVerified(0, from: .origin, now: t(0))
        let last = d.pieceVerified(1, from: .origin, now: t(0.1))
        #expect(last.contains(.notInterested("a")) && last.last == .complete && d.isComplete)
        let r38 = d.tick(now: t(5))
        #expect(r38 == [], "a finished download asks nothing")
    }

    @Test("any salt picks a piece the granter holds")
    func anySalt() {
        for salt in [Int.min, -7, 0, 5, Int.max] {
            var d = MeshDownload<String>(layout: Self.layout, salt: salt)
            _ = d.neighbourAdded("a", holds: Self.set([6]))
            let r = d.granted(by: "a", now: t(0))
            #expect(r == [.request(piece: 6, from: "a")], "salt \(salt)")
        }
    }

    @Test("an empty blob asks nothing and does not trap")
    func emptyBlob() {
        var d = MeshDownload<String>(layout: PieceLayout(size: 0))
        _ = d.neighbourAdded("a", holds: PieceSet(count: 0))
        let grant = d.granted(by: "a", now: t(0))
        let tick = d.tick(now: t(10))
        #expect(grant == [.decline("a")] && !tick.contains { if case .orphaned = $0 { true } else { false } })
    }

    @Test("a bitfield of another layout drops the neighbour")
    func wrongLayout() {
        var d = MeshDownload<String>(layout: Self.layout)
        let r39 = d.neighbourAdded("a", holds: PieceSet(count: 3))
        #expect(r39 == [.drop("a")])
        let r40 = d.have(99, from: "a")
        #expect(r40 == [])
    }
}

@Suite("Mesh: the coordinator")
struct MeshCoordinatorTests {
    static let blob = Digest.compute(of: Array("layer".utf8))
    static let layout = PieceLayout(size: 20 << 20, pieceSize: 1 << 20)

    @Test("the first fetchers are dealt disjoint pieces in order; a done piece is released and the fetcher dealt more")
    func deals() throws {
        var c = MeshCoordinator<Int>()
        var rng = SystemRandomNumberGenerator()
        var dealt: [[Int]] = []
        for i in 0..<3 {
            let answer = c.announce(Self.blob, layout: Self.layout, from: i, complete: false, neighbours: 12, now: t(0), using: &rng)
            dealt.append(try #require(answer).dealt)
        }
        #expect(dealt == [[0, 1], [2, 3], [4, 5]])
        let moreValue = c.dealtDone(Self.blob, piece: 0, from: 0, now: t(1))
        let more = try #require(moreValue)
        #expect(more.dealt == [6] && more.released.members == [0])
        let r41 = c.announce(Self.blob, layout: Self.layout, from: 1, complete: false, neighbours: 0, now: t(1), using: &rng)
        #expect(r41?.dealt == [],
                "a keep-alive deals no more than piecesPerFetcher")
    }

    @Test("past originFetchers, members are dealt nothing")
    func fetcherLimit() {
        var config = MeshCoordinator<Int>.Configuration()
        config.originFetchers = 2
        var c = MeshCoordinator<Int>(configuration: config)
        var rng = SystemRandomNumberGenerator()
        for i in 0..<2 { _ = c.announce(Self.blob, layout: Self.layout, from: i, complete: false, neighbours: 0, now: t(0), using: &rng) }
        let r42 = c.announce(Self.blob, layout: Self.layout, from: 2, complete: false, neighbours: 0, now: t(0), using: &rng)
        #expect(r42?.dealt == [])
    }

    @Test("a handout is members other than the asker, half of them complete ones when there are")
    func handout() throws {
        var c = MeshCoordinator<Int>()
        var rng = SystemRandomNumberGenerator()
        for i in 0..<40 { _ = c.announce(Self.blob, layout: Self.layout, from: i, complete: i < 10, neighbours: 0, now: t(0), using: &rng) }
        let answerValue = c.announce(Self.blob, layout: Self.layout, from: 40, complete: false, neighbours: 12, now: t(0), using: &rng)
        let answer = try #require(answerValue)
        #expect(answer.neighbours.count == 12 && Set(answer.neighbours).count == 12 && !answer.neighbours.contains(40))
        #expect(answer.neighbours.filter { $0 < 10 }.count == 6)
        let r43 = c.announce(Self.blob, layout: Self.layout, from: 0, complete: true, neighbours: 100, now: t(0), using: &rng)
        #expect(r43?.neighbours.count == 12,
                "at most the configured neighbours")
    }

    @Test("a member not heard from within its TTL is dropped, and its deals go to another")
    func expiry() throws {
        var c = MeshCoordinator<Int>()
        var rng = SystemRandomNumberGenerator()
        _ = c.announce(Self.blob, layout: Self.layout, from: 1, complete: false, neighbours: 0, now: t(0), using: &rng)
        _ = c.announce(Self.blob, layout: Self.layout, from: 2, complete: false, neighbours: 0, now: t(0), using: &rng)
        _ = c.announce(Self.blob, layout: Self.layout, from: 2, complete: false, neighbours: 0, now: t(24), using: &rng)
        c.expire(now: t(26))
        #expect(c.memberCount(of: Self.blob) == 1)
        let one = c.dealtDone(Self.blob, piece: 2, from: 2, now: t(26))
        let two = c.dealtDone(Self.blob, piece: 3, from: 2, now: t(26))
        #expect(try #require(one).dealt + #require(two).dealt == [0, 1], "node 1's pieces, dealt again")
    }

    @Test("a deal not done within dealTimeout goes to another fetcher")
    func dealTimeout() throws {
        var c = MeshCoordinator<Int>()
        var rng = SystemRandomNumberGenerator()
        _ = c.announce(Self.blob, layout: Self.layout, from: 1, complete: false, neighbours: 0, now: t(0), using: &rng)
        _ = c.announce(Self.blob, layout: Self.layout, from: 1, complete: false, neighbours: 0, now: t(11), using: &rng)
        c.expire(now: t(11))
        let answerValue = c.announce(Self.blob, layout: Self.layout, from: 2, complete: false, neighbours: 0, now: t(11), using: &rng)
        let answer = try #require(answerValue)
        #expect(answer.dealt == [0, 1])
    }

    @Test("a piece reported orphaned is dealt to one reporter per redealAfter")
    func orphanedPieces() throws {
        var c = MeshCoordinator<Int>()
        var rng = SystemRandomNumberGenerator()
        _ = c.announce(Self.blob, layout: Self.layout, from: 1, complete: false, neighbours: 0, now: t(0), using: &rng)
        _ = c.dealtDone(Self.blob, piece: 0, from: 1, now: t(1))
        let unreleased = c.orphaned(Self.blob, piece: 5, from: 2, now: t(4))
        #expect(unreleased == nil, "a piece nobody fetched is not an orphan")
        let first = c.orphaned(Self.blob, piece: 0, from: 2, now: t(4))
        let second = c.orphaned(Self.blob, piece: 0, from: 3, now: t(5))
        let later = c.orphaned(Self.blob, piece: 0, from: 3, now: t(9.5))
        #expect(try #require(first).dealt == [0] && #require(second).dealt == [] && #require(later).dealt == [0])
    }

    @Test("another layout for the blob, or a blob past maxBlobs, gets no answer")
    func refusals() {
        var config = MeshCoordinator<Int>.Configuration()
        config.maxBlobs = 1
        var c = MeshCoordinator<Int>(configuration: config)
        var rng = SystemRandomNumberGenerator()
        _ = c.announce(Self.blob, layout: Self.layout, from: 1, complete: false, neighbours: 0, now: t(0), using: &rng)
        let r44 = c.announce(Self.blob, layout: PieceLayout(size: 20 << 20, pieceSize: 1 << 19), from: 2, complete: false,
                           neighbours: 0, now: t(0), using: &rng)
        #expect(r44 == nil)
        let r45 = c.announce(Digest.compute(of: [1]), layout: Self.layout, from: 2, complete: false, neighbours: 0, now: t(0), using: &rng)
        #expect(r45 == nil)
    }
}
