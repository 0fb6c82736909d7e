import OCI
import Swarm
import Testing

@Suite("Piece scheduler state machine")
struct PieceSchedulerTests {
    static let layout = PieceLayout(size: 10 << 20, pieceSize: 1 << 20)  // 10 pieces
    static func peer(_ i: Int) -> Member { Member(node: "node-\(i)", address: "198.18.0.\(i)") }
    static func t(_ s: Double) -> SwarmInstant { .milliseconds(Int64(s * 1000)) }
    static func pieces(_ m: [Int]) -> PieceSet { PieceSet(count: layout.count, m) }

    /// Every piece has been dealt at some point (cursor at the end) unless said otherwise.
    static func answer(peers: [(Int, [Int])] = [], origin: [Int] = [], dealt: [Int] = [], cursor: Int = 10) -> CoordinatorAnswer {
        CoordinatorAnswer(layout: layout, peers: peers.map { PeerView(member: peer($0.0), have: pieces($0.1)) },
                          originPieces: origin, dealt: pieces(dealt + origin), cursor: cursor)
    }

    static func fetches(_ actions: [PieceScheduler.Action]) -> [Int: PieceScheduler.Source] {
        var out: [Int: PieceScheduler.Source] = [:]
        for case .fetch(let piece, let source) in actions { out[piece] = source }
        return out
    }

    @Test func withoutACoordinatorEverythingComesFromTheOriginInOrder() throws {
        var s = PieceScheduler(layout: Self.layout)
        let first = s.coordinatorsUnreachable(now: Self.t(0))
        #expect(first == [0, 1, 2].map { .fetch(piece: $0, from: .origin) }, "three ranges at a time, front first")
        let next = s.pieceArrived(0, from: .origin, now: Self.t(1))
        #expect(next == [.fetch(piece: 3, from: .origin)])
        for i in 1..<10 { _ = s.pieceArrived(i, from: .origin, now: Self.t(2)) }
        #expect(s.isComplete)
    }

    @Test func dealtPiecesComeFromTheOriginAndTheRestFromPeersFrontFirstThenRarest() throws {
        var s = PieceScheduler(layout: Self.layout)
        // Pieces 0-3 held by peers (hashes known); 8 and 9 dealt to us; 4-7 dealt to others.
        let a = s.coordinatorAnswered(Self.answer(peers: [(1, [0, 1, 2, 3]), (2, [2, 3]), (3, [3])], origin: [8, 9], dealt: [4, 5, 6, 7]),
                                      hashes: [0, 1, 2, 3], now: Self.t(0))
        let f = Self.fetches(a)
        #expect(f[8] == .origin && f[9] == nil, "dealt pieces come from the origin one at a time")
        #expect(f[4] == nil && f[5] == nil, "pieces dealt to others are waited for, not fetched")
        // Stream window (prefix 0 + 4): pieces 0..3 first. Each from the least busy holder,
        // one request per peer: node-1 is the only holder of 0 and 1, so 1 waits for it.
        #expect(f[0] == .peer(Self.peer(1)) && f[1] == nil)
        #expect(f[2] == .peer(Self.peer(2)) && f[3] == .peer(Self.peer(3)))
        #expect(!s.fetching.contains(5))
        // The dealt piece arrives: the next dealt one is asked of the origin at once.
        #expect(Self.fetches(s.pieceArrived(8, from: .origin, now: Self.t(1))) == [9: .origin])
        #expect(Self.fetches(s.pieceArrived(0, from: .peer(Self.peer(1)), now: Self.t(1))) == [1: .peer(Self.peer(1))])
    }

    @Test func aFetcherDownToOneDealtPieceNotYetAskedAsksForMoreAtOnceUntilTheBlobIsAllDealt() throws {
        var s = PieceScheduler(layout: Self.layout)
        #expect(!s.wantsDeals, "not a fetcher before any deal")
        // Pieces 2 and 3 are another fetcher's: one dealt piece at a time from the origin.
        let first = s.coordinatorAnswered(Self.answer(origin: [0, 1, 4], dealt: [2, 3], cursor: 5), hashes: [], now: Self.t(0))
        #expect(Self.fetches(first) == [0: .origin])
        #expect(!s.wantsDeals, "pieces 1 and 4 wait their turn")
        #expect(!SwarmCadence.announceDue(since: .milliseconds(1), newPiece: true, announceEvery: .zero, wantsDeals: s.wantsDeals))
        #expect(Self.fetches(s.pieceArrived(0, from: .origin, now: Self.t(0.01))) == [1: .origin])
        #expect(s.wantsDeals, "one dealt piece is left to ask: more are asked for now, not at the next announcement")
        #expect(SwarmCadence.announceDue(since: .milliseconds(1), newPiece: true, announceEvery: .seconds(4), wantsDeals: s.wantsDeals))
        _ = s.coordinatorAnswered(Self.answer(origin: [1, 4, 5], dealt: [2, 3], cursor: 6), hashes: [0], now: Self.t(0.011))
        #expect(!s.wantsDeals)
        // The last pieces dealt (the cursor at the end): nothing more to ask for.
        _ = s.coordinatorAnswered(Self.answer(origin: [9], dealt: [2, 3], cursor: 10), hashes: [0], now: Self.t(0.02))
        #expect(!s.wantsDeals, "every piece is dealt")
        // A download that was never dealt anything does not push its coordinator.
        var other = PieceScheduler(layout: Self.layout)
        _ = other.coordinatorAnswered(Self.answer(peers: [(1, [0])], dealt: [1, 2], cursor: 3), hashes: [0], now: Self.t(0))
        #expect(!other.wantsDeals)
    }

    @Test func aFetcherAloneKeepsTwoDealtPiecesInFlight() throws {
        var s = PieceScheduler(layout: Self.layout)
        let first = s.coordinatorAnswered(Self.answer(origin: [0, 1], cursor: 2), hashes: [], now: Self.t(0))
        #expect(Self.fetches(first) == [0: .origin, 1: .origin], "no other fetcher shares the origin's link")
        #expect(s.wantsDeals)
        // Piece 0 arrives while the answer to the announcement it caused is on its way; that
        // answer still lists 0 as dealt (to this agent): it is not another fetcher's.
        _ = s.pieceArrived(0, from: .origin, now: Self.t(0.01))
        let next = s.coordinatorAnswered(Self.answer(origin: [1, 2, 3], dealt: [0], cursor: 4), hashes: [0], now: Self.t(0.02))
        #expect(Self.fetches(next) == [2: .origin], "still two in flight: \(Self.fetches(next))")
    }

    @Test func aSuspectPeerIsNotMadeRoomForAndListedAfreshAsTrusted() throws {
        var c = PieceScheduler.Configuration()
        c.maxPeers = 2
        c.peerStallLimit = .seconds(600)
        var s = PieceScheduler(layout: Self.layout, configuration: c)
        _ = s.coordinatorAnswered(Self.answer(peers: [(1, Array(0..<10)), (2, [9])]), hashes: Array(0..<10), now: Self.t(0))
        _ = s.pieceFailed(0, from: .peer(Self.peer(1)), .failed, now: Self.t(1))
        // A third peer is listed, then node-1 again: node-1 must still be suspect, so what
        // only it holds keeps going to the origin (three at a time from the failure on).
        _ = s.coordinatorAnswered(Self.answer(peers: [(3, [9])]), hashes: Array(0..<10), now: Self.t(1.1))
        _ = s.coordinatorAnswered(Self.answer(peers: [(1, Array(0..<10))]), hashes: Array(0..<10), now: Self.t(1.2))
        #expect(Self.fetches(s.pieceArrived(0, from: .origin, now: Self.t(1.3)))[3] == .origin)
    }

    @Test("peers that announce every piece and never answer cannot hold a pull: it completes from the origin")
    func peersThatNeverAnswerCannotHoldAPull() throws {
        var s = PieceScheduler(layout: Self.layout)
        var originAsked: [Int: SwarmInstant] = [:]
        var fresh = 100
        func liars() -> [(Int, [Int])] {
            // Every answer lists twelve peers never heard of, each claiming every piece.
            defer { fresh += 12 }
            return (fresh..<fresh + 12).map { ($0, Array(0..<10)) }
        }
        func run(_ actions: [PieceScheduler.Action], at now: SwarmInstant) {
            for case .fetch(let piece, .origin) in actions { originAsked[piece] = now }
        }
        var now = Self.t(0)
        run(s.coordinatorAnswered(Self.answer(peers: liars()), hashes: Array(0..<10), now: now), at: now)
        var firstOrigin: SwarmInstant?
        while !s.isComplete, now < .seconds(120) {
            now += .milliseconds(100)
            // The origin answers within 50 ms; the peers never do.
            for (piece, since) in originAsked where now - since >= .milliseconds(50) {
                originAsked[piece] = nil
                firstOrigin = firstOrigin ?? now
                run(s.pieceArrived(piece, from: .origin, now: now), at: now)
            }
            run(s.tick(now: now), at: now)
            if Int(now.inSeconds * 10) % 4 == 0 {
                run(s.coordinatorAnswered(Self.answer(peers: liars()), hashes: Array(0..<10), now: now), at: now)
            }
        }
        #expect(s.isComplete, "the pull is held at \(s.have.memberCount) of 10 pieces")
        let first = try #require(firstOrigin)
        #expect(first <= .seconds(10), "the origin was first asked after \(first)")
        #expect(now <= .seconds(15), "completed at \(now)")
    }

    @Test func aPeerWhoseRequestFailedCountsAsNoOnesSourceUntilItDelivers() throws {
        var c = PieceScheduler.Configuration()
        c.originRequests = 1
        c.peerStallLimit = .seconds(600)  // the stall rule apart
        func failedAt1(deliversAt: SwarmInstant?) -> (atFailure: [Int: PieceScheduler.Source], next: [Int: PieceScheduler.Source]) {
            var s = PieceScheduler(layout: Self.layout, configuration: c)
            // node-1 holds every piece, node-2 piece 5 (every piece dealt before, none to us).
            let view = Self.answer(peers: [(1, Array(0..<10)), (2, [5])])
            _ = s.coordinatorAnswered(view, hashes: Array(0..<10), now: Self.t(0))
            let atFailure = Self.fetches(s.pieceFailed(0, from: .peer(Self.peer(1)), .failed, now: Self.t(1)))
            // Listed again by the coordinator, as it keeps announcing.
            _ = s.coordinatorAnswered(view, hashes: Array(0..<10), now: Self.t(1.1))
            if let deliversAt { _ = s.pieceArrived(9, from: .peer(Self.peer(1)), now: deliversAt) }
            return (atFailure, Self.fetches(s.pieceArrived(0, from: .origin, now: Self.t(2))))
        }
        let failed = failedAt1(deliversAt: nil)
        // At once, not after the 3 s an orphan waits for a source still coming: these had one.
        #expect(failed.atFailure == [0: .origin], "what only the failed peer offered goes to the origin at once")
        #expect(failed.next == [1: .origin], "and the next as the origin is free: \(failed.next)")
        let delivered = failedAt1(deliversAt: Self.t(1.5))
        #expect(!delivered.next.values.contains(.origin), "a piece from it makes it a source again: \(delivered.next)")
    }

    @Test func aPieceWithoutAKnownHashIsNotAskedOfAPeer() throws {
        var s = PieceScheduler(layout: Self.layout)
        let a = s.coordinatorAnswered(Self.answer(peers: [(1, [0, 1])], dealt: Array(2..<10)), hashes: [1], now: Self.t(0))
        #expect(Self.fetches(a) == [1: .peer(Self.peer(1))])
        #expect(s.wantHashes.contains(0) && !s.wantHashes.contains(1))
    }

    @Test func aCorruptPieceDropsThePeerForTheBlobAndIsFetchedElsewhere() throws {
        var s = PieceScheduler(layout: Self.layout)
        _ = s.coordinatorAnswered(Self.answer(peers: [(1, [0]), (2, [0])], dealt: Array(1..<10)), hashes: [0], now: Self.t(0))
        let first = try #require(s.sources(of: 0).first)
        let retry = s.pieceFailed(0, from: first, .corrupt, now: Self.t(1))
        let other: PieceScheduler.Source = first == .peer(Self.peer(1)) ? .peer(Self.peer(2)) : .peer(Self.peer(1))
        #expect(retry == [.fetch(piece: 0, from: other)])
        // Even when the dropped peer reports the piece again, it is never asked.
        _ = s.pieceFailed(0, from: other, .failed, now: Self.t(2))
        #expect(Self.fetches(s.coordinatorAnswered(Self.answer(peers: [(1, [0]), (2, [0])], dealt: Array(1..<10)), hashes: [], now: Self.t(3))).isEmpty,
                "one peer is dropped, the other resting")
    }

    @Test func aSilentRequestIsGivenUpAndItsPeerRested() throws {
        // Among peers equally free each agent has its own order: an agent that puts node-1 first.
        let first = Self.answer(peers: [(1, [0, 1]), (2, [0, 1])], dealt: Array(2..<10))
        let agent = try #require((0..<64).map { "agent-\($0)" }.first { name in
            var s = PieceScheduler(layout: Self.layout, node: name)
            _ = s.coordinatorAnswered(first, hashes: [0, 1], now: Self.t(0))
            return s.sources(of: 0) == [.peer(Self.peer(1))]
        })
        var s = PieceScheduler(layout: Self.layout, node: agent)
        _ = s.coordinatorAnswered(first, hashes: [0, 1], now: Self.t(0))
        #expect(s.sources(of: 0) == [.peer(Self.peer(1))] && s.sources(of: 1) == [.peer(Self.peer(2))])
        #expect(s.tick(now: Self.t(5)).isEmpty, "within the timeout nothing changes")
        _ = s.pieceArrived(1, from: .peer(Self.peer(2)), now: Self.t(5))
        // node-1 never answers: after 6 s its request is given up and node-2 is asked.
        let after = s.tick(now: Self.t(7))
        #expect(after == [.cancel(piece: 0, from: .peer(Self.peer(1))), .fetch(piece: 0, from: .peer(Self.peer(2)))])
        // node-1 rests: a new piece it holds is not asked of it until the backoff ends.
        s.hashesKnown([2])
        #expect(Self.fetches(s.peerHas(Self.peer(1), pieces: Self.pieces([0, 1, 2]), now: Self.t(8))).isEmpty)
        // (Piece 0's request to node-2 timed out meanwhile too.) Neither has delivered since
        // it failed, and no peer has for long: the front pieces come from the origin.
        let later = Self.fetches(s.tick(now: Self.t(17.5)))
        #expect(later[0] == .origin && later[2] == .origin, "\(later)")
    }

    @Test func aPieceNobodyHasOrWasDealtFallsBackToTheOriginAfterAWhile() throws {
        var s = PieceScheduler(layout: Self.layout)
        // Pieces 0-8 dealt elsewhere; piece 9 neither held nor dealt (its fetcher vanished).
        #expect(Self.fetches(s.coordinatorAnswered(Self.answer(dealt: Array(0..<9)), hashes: [], now: Self.t(0))).isEmpty)
        #expect(Self.fetches(s.tick(now: Self.t(2))).isEmpty)
        #expect(Self.fetches(s.tick(now: Self.t(3.1))) == [9: .origin])
    }

    @Test func aPieceWhoseOnlyHolderRefusesItComesFromTheOriginAfterAWhile() throws {
        var s = PieceScheduler(layout: Self.layout)
        // node-1 is listed as holding everything but answers "not held" (it lost the blob),
        // and every coordinator answer lists it again.
        let answer = Self.answer(peers: [(1, Array(0..<10))])
        #expect(Self.fetches(s.coordinatorAnswered(answer, hashes: Array(0..<10), now: Self.t(0)))[0] == .peer(Self.peer(1)))
        _ = s.pieceFailed(0, from: .peer(Self.peer(1)), .refused, now: Self.t(0.1))
        #expect(Self.fetches(s.coordinatorAnswered(answer, hashes: [], now: Self.t(0.3)))[0] == nil)
        #expect(Self.fetches(s.tick(now: Self.t(2)))[0] == nil, "a refusal is not at once a reason for the origin")
        // Its only holder refused it: the piece is an orphan and, after the fallback time,
        // the origin's, though every answer still lists node-1 as holding it.
        #expect(Self.fetches(s.tick(now: Self.t(3.2)))[0] == .origin)
        #expect(Self.fetches(s.coordinatorAnswered(answer, hashes: [], now: Self.t(11)))[0] == nil, "node-1 is not asked for it again")
    }

    @Test func oneUnansweredRoundDoesNotSendASwarmDownloadToTheOrigin() throws {
        var s = PieceScheduler(layout: Self.layout)
        _ = s.coordinatorAnswered(Self.answer(peers: [(1, Array(0..<10))]), hashes: Array(0..<10), now: Self.t(0))
        #expect(Self.fetches(s.coordinatorsUnreachable(now: Self.t(0.5))).values.allSatisfy { $0 != .origin })
        #expect(!s.originOnly)
        // Silence for longer than coordinatorLoss: the origin it is.
        #expect(Self.fetches(s.coordinatorsUnreachable(now: Self.t(2.1))).values.contains(.origin))
        #expect(s.originOnly)
    }

    @Test func aBusyCoordinatorIsWaitedForLongerThanASilentOneBeforeTheOrigin() throws {
        // Refused as busy from the start (a herd of downloads starting at once).
        var s = PieceScheduler(layout: Self.layout)
        for t in stride(from: 0.0, through: 4.8, by: 0.4) {
            #expect(Self.fetches(s.coordinatorBusy(now: Self.t(t))).isEmpty, "at \(t) s")
        }
        #expect(!s.originOnly)
        _ = s.coordinatorBusy(now: Self.t(5.2))
        #expect(s.originOnly, "5 s with no answer")
        // After an answer: as long past it.
        var t = PieceScheduler(layout: Self.layout)
        _ = t.coordinatorAnswered(Self.answer(peers: [(1, Array(0..<10))]), hashes: Array(0..<10), now: Self.t(0))
        _ = t.coordinatorBusy(now: Self.t(4.9))
        #expect(!t.originOnly)
        _ = t.coordinatorBusy(now: Self.t(5.1))
        #expect(t.originOnly)
    }

    @Test func aCoordinatorThatAskedForFewerAnnouncementsIsWaitedForThatMuchLonger() throws {
        var s = PieceScheduler(layout: Self.layout)
        var slow = Self.answer(peers: [(1, Array(0..<10))])
        slow.announceEvery = .seconds(3)
        _ = s.coordinatorAnswered(slow, hashes: Array(0..<10), now: Self.t(0))
        #expect(s.announceEvery == .seconds(3))
        _ = s.coordinatorsUnreachable(now: Self.t(4.9))
        #expect(!s.originOnly, "within the 3 s it asked for and the 2 s of coordinatorLoss")
        _ = s.coordinatorsUnreachable(now: Self.t(5.1))
        #expect(s.originOnly)
        // The download announces at the slower of its own cadence and the coordinator's.
        #expect(!SwarmCadence.announceDue(since: .seconds(2.9), newPiece: true, announceEvery: s.announceEvery))
        #expect(SwarmCadence.announceDue(since: .seconds(3.1), newPiece: false, announceEvery: s.announceEvery))
        #expect(SwarmCadence.announceDue(since: .milliseconds(160), newPiece: true, announceEvery: .zero))
        #expect(!SwarmCadence.announceDue(since: .milliseconds(160), newPiece: false, announceEvery: .zero))
    }

    @Test func whatAPeerSaysItHoldsWithAnAnswerBeatsTheCoordinatorsOlderList() throws {
        var s = PieceScheduler(layout: Self.layout)
        let asked = Self.fetches(s.coordinatorAnswered(Self.answer(peers: [(1, [0])]), hashes: Array(0..<10), now: Self.t(0)))
        #expect(asked == [0: .peer(Self.peer(1))])
        // Its answer says it holds 0-3 by now: asked for the next at once, not 400 ms later.
        let next = Self.fetches(s.pieceArrived(0, from: .peer(Self.peer(1)), holds: Self.pieces([0, 1, 2, 3]), now: Self.t(0.1)))
        #expect(next == [1: .peer(Self.peer(1))])
        // "Busy, and I hold 0-5": rested briefly, then asked for those.
        _ = s.pieceFailed(1, from: .peer(Self.peer(1)), .busy, holds: Self.pieces(Array(0...5)), now: Self.t(0.2))
        let later = Self.fetches(s.tick(now: Self.t(0.6)))
        #expect(later.values.allSatisfy { $0 == .peer(Self.peer(1)) } && later.count == 1 && (1...5).contains(later.keys.first!))
    }

    @Test func aBusyPeerIsLeftAloneBrieflyAndAnotherHolderAsked() throws {
        var s = PieceScheduler(layout: Self.layout)
        _ = s.coordinatorAnswered(Self.answer(peers: [(1, [0]), (2, [0])], dealt: Array(1..<10)), hashes: [0], now: Self.t(0))
        let first = try #require(Self.fetches(s.fetching.members.isEmpty ? [] : [.fetch(piece: 0, from: s.sources(of: 0).first!)])[0])
        let other: PieceScheduler.Source = first == .peer(Self.peer(1)) ? .peer(Self.peer(2)) : .peer(Self.peer(1))
        // The first holder is busy: the other is asked at once, and nothing goes to the origin.
        #expect(Self.fetches(s.pieceFailed(0, from: first, .busy, now: Self.t(0.1))) == [0: other])
        _ = s.pieceFailed(0, from: other, .busy, now: Self.t(0.2))
        #expect(Self.fetches(s.tick(now: Self.t(0.3))).isEmpty, "both rest")
        #expect(Self.fetches(s.tick(now: Self.t(0.45)))[0] == first, "the first is asked again after 300 ms")
        #expect(Self.fetches(s.tick(now: Self.t(3.5))).values.allSatisfy { $0 != .origin })
    }

    @Test func piecesNotDealtYetAreWaitedForAndAHeldPieceWithoutAHashIsAnOrphan() throws {
        var s = PieceScheduler(layout: Self.layout)
        // Nothing dealt beyond piece 4 yet: those are coming. Piece 0 is held by a peer,
        // but its hash was lost (the coordinator restarted): it may never be checkable.
        let answer = Self.answer(peers: [(1, [0])], dealt: [1, 2, 3], cursor: 4)
        #expect(Self.fetches(s.coordinatorAnswered(answer, hashes: [], now: Self.t(0))).isEmpty)
        #expect(Self.fetches(s.tick(now: Self.t(3.1))) == [0: .origin])
    }

    @Test func aFailingOriginIsRestedNotHammered() throws {
        var s = PieceScheduler(layout: Self.layout)
        _ = s.coordinatorsUnreachable(now: Self.t(0))
        #expect(Self.fetches(s.pieceFailed(0, from: .origin, .failed, now: Self.t(0))).isEmpty, "rested for 250 ms")
        #expect(Self.fetches(s.tick(now: Self.t(0.3)))[0] == .origin)
        _ = s.pieceArrived(1, from: .origin, now: Self.t(0.4))
    }

    @Test("an origin slower than the timeout is given longer each time, not asked over and over at 6 s")
    func aSlowOriginIsGivenLonger() throws {
        var s = PieceScheduler(layout: Self.layout)
        let fast = Array(1..<10)
        #expect(Self.fetches(s.coordinatorAnswered(Self.answer(peers: [(1, fast)], origin: [0]), hashes: fast, now: Self.t(0)))[0] == .origin)
        // The peers' pieces arrive at once: the download's rate is high, its timeout 6 s.
        for (k, i) in fast.enumerated() { _ = s.pieceArrived(i, from: .peer(Self.peer(1)), now: Self.t(0.01 * Double(k + 1))) }
        #expect(s.tick(now: Self.t(7)) == [.cancel(piece: 0, from: .origin)], "6 s without a byte from the origin")
        #expect(Self.fetches(s.tick(now: Self.t(7.3)))[0] == .origin, "asked again after its rest")
        #expect(s.tick(now: Self.t(14.3)).isEmpty, "no origin piece arrived in 6 s: now it gets 12")
        #expect(s.tick(now: Self.t(19.4)) == [.cancel(piece: 0, from: .origin)])
        #expect(Self.fetches(s.tick(now: Self.t(20)))[0] == .origin, "after a rest twice as long")
        #expect(s.tick(now: Self.t(43.9)).isEmpty, "24 s")
        _ = s.pieceArrived(0, from: .origin, now: Self.t(43.9))
        #expect(s.isComplete)
    }

    @Test func theEndgameAsksASecondSourceAndTheFirstAnswerWins() throws {
        var s = PieceScheduler(layout: Self.layout, have: Self.pieces(Array(0..<8)))
        let a = s.coordinatorAnswered(Self.answer(peers: [(1, [8, 9]), (2, [8, 9])], dealt: []), hashes: [8, 9], now: Self.t(0))
        // Two pieces missing: each asked of both holders at once (a holder already busy
        // with one of ours takes one more in the endgame).
        #expect(a.count == 4)
        #expect(s.sources(of: 8) == [.peer(Self.peer(1)), .peer(Self.peer(2))])
        let done = s.pieceArrived(8, from: .peer(Self.peer(2)), now: Self.t(1))
        #expect(done == [.cancel(piece: 8, from: .peer(Self.peer(1)))])
        _ = s.pieceArrived(9, from: .peer(Self.peer(1)), now: Self.t(1))
        #expect(s.isComplete && s.fetching.isEmpty)
    }

    @Test func aLateJoinerTakesEverythingFromPeers() throws {
        var s = PieceScheduler(layout: Self.layout)
        var peersAsked = 0
        var actions = s.coordinatorAnswered(Self.answer(peers: (1...6).map { ($0, Array(0..<10)) }), hashes: Array(0..<10), now: Self.t(0))
        var clock = 0.0
        while !s.isComplete {
            clock += 0.1
            var next: [PieceScheduler.Action] = []
            for case .fetch(let piece, let source) in actions {
                #expect(source != .origin)
                peersAsked += 1
                next += s.pieceArrived(piece, from: source, now: Self.t(clock))
            }
            actions = next + s.tick(now: Self.t(clock))
            if clock > 10 { break }
        }
        // Every piece from a peer; at most the endgame's last pieces were asked twice.
        #expect(s.isComplete && peersAsked >= 10 && peersAsked <= 10 + s.configuration.endgamePieces)
    }

    @Test("agents that know the same free peers spread their requests over them, not all to the names that sort first")
    func agentsSpreadTheirRequestsOverThePeersTheyKnow() throws {
        let layout = PieceLayout(size: 64 << 20, pieceSize: 1 << 20)
        let answer = CoordinatorAnswer(layout: layout, peers: (1...40).map { PeerView(member: Self.peer($0), have: .full(count: 64)) })
        var asked: [PieceScheduler.Source: Int] = [:]
        for agent in 100..<120 {
            var s = PieceScheduler(layout: layout, node: "node-\(agent)")
            let f = Self.fetches(s.coordinatorAnswered(answer, hashes: Array(0..<64), now: Self.t(0)))
            #expect(f.count == s.configuration.maxPeerRequests)
            for source in f.values { asked[source, default: 0] += 1 }
        }
        // 20 agents × 12 requests over 40 peers: 6 each if even. By name, 12 peers got 20
        // and 28 none.
        #expect(asked.count >= 35, "peers asked: \(asked.count) of 40")
        #expect((asked.values.max() ?? 0) <= 14, "the most asked peer got \(asked.values.max() ?? 0) of 240")
    }

    @Test("a probe asks a peer known to hold nothing missing for the most common missing piece; what it says it holds is learned")
    func aProbeFindsWhatAPeerListedLongAgoHoldsNow() throws {
        var config = PieceScheduler.Configuration()
        config.probes = 1
        config.streamWindow = 0
        var s = PieceScheduler(layout: Self.layout, configuration: config)
        // node-2 was listed holding nothing; node-1 and node-3 hold pieces 0-2 and 0-1.
        let f = Self.fetches(s.coordinatorAnswered(Self.answer(peers: [(1, [0, 1, 2]), (2, []), (3, [0, 1])]),
                                                   hashes: Array(0..<10), now: Self.t(0)))
        #expect(f.count == 3 && f.values.filter { $0 == .peer(Self.peer(2)) }.count == 1, "\(f)")
        let probe = try #require(f.first { $0.value == .peer(Self.peer(2)) }?.key)
        // It refuses, saying what it holds now: asked again at once, for a piece it holds.
        let again = Self.fetches(s.pieceFailed(probe, from: .peer(Self.peer(2)), .refused, holds: Self.pieces([5, 6, 7]), now: Self.t(0.01)))
        #expect(again.contains { [5, 6, 7].contains($0.key) && $0.value == .peer(Self.peer(2)) }, "\(again)")
        // Without probes, node-2 is never asked.
        var plain = PieceScheduler(layout: Self.layout)
        let g = Self.fetches(plain.coordinatorAnswered(Self.answer(peers: [(1, [0, 1, 2]), (2, []), (3, [0, 1])]),
                                                       hashes: Array(0..<10), now: Self.t(0)))
        #expect(!g.values.contains(.peer(Self.peer(2))))
    }

    @Test("past the bound on peers remembered, one with nothing the agent lacks makes room; one asked does not")
    func thePeersRememberedAreBounded() throws {
        var config = PieceScheduler.Configuration()
        config.maxPeers = 4
        var s = PieceScheduler(layout: Self.layout, have: Self.pieces([0, 1, 2, 3, 4]), configuration: config)
        _ = s.coordinatorAnswered(Self.answer(peers: [(1, [0]), (2, [1]), (3, [2]), (4, [3])]), hashes: Array(0..<10), now: Self.t(0))
        #expect(s.knownPeers == 4)
        let f = Self.fetches(s.coordinatorAnswered(Self.answer(peers: [(5, [5]), (6, [6]), (7, [7]), (8, [8])]), hashes: [], now: Self.t(1)))
        #expect(s.knownPeers == 4 && f == [5: .peer(Self.peer(5)), 6: .peer(Self.peer(6)), 7: .peer(Self.peer(7)), 8: .peer(Self.peer(8))])
        // All four are asked for a piece: a fifth is not kept, and its piece not asked of it.
        let g = Self.fetches(s.coordinatorAnswered(Self.answer(peers: [(9, [9])]), hashes: [], now: Self.t(2)))
        #expect(s.knownPeers == 4 && g.isEmpty)
        // One delivers and has nothing more: node-9, listed again, takes its place.
        _ = s.pieceArrived(5, from: .peer(Self.peer(5)), now: Self.t(3))
        let h = Self.fetches(s.coordinatorAnswered(Self.answer(peers: [(9, [9])]), hashes: [], now: Self.t(4)))
        #expect(s.knownPeers == 4 && h[9] == .peer(Self.peer(9)), "\(h)")
    }

    @Test func requestLimitsPerPeerAndInAllHold() throws {
        var config = PieceScheduler.Configuration()
        config.requestsPerPeer = 2
        config.maxPeerRequests = 5
        config.streamWindow = 0
        let layout = PieceLayout(size: 40 << 20, pieceSize: 1 << 20)
        var s = PieceScheduler(layout: layout, configuration: config)
        let all = PieceSet.full(count: 40)
        let answer = CoordinatorAnswer(layout: layout, peers: (1...4).map { PeerView(member: Self.peer($0), have: all) })
        let f = Self.fetches(s.coordinatorAnswered(answer, hashes: Array(0..<40), now: Self.t(0)))
        #expect(f.count == 5)
        var perPeer: [PieceScheduler.Source: Int] = [:]
        for source in f.values { perPeer[source, default: 0] += 1 }
        #expect(perPeer.values.allSatisfy { $0 <= 2 })
    }
}

@Suite("Upload slots shared among askers")
struct UploadSlotsTests {
    @Test("each asker's share is the slots over the askers heard from within the window, at least one")
    func share() {
        var u = UploadSlots(slots: 6)
        let t = SwarmInstant.seconds(10)
        #expect(u.share(for: "a", now: t) == 6, "alone, an asker may take every slot")
        #expect(u.share(for: "b", now: t) == 3)
        #expect(u.share(for: "c", now: t) == 2)
        for n in 0..<10 { _ = u.share(for: "x\(n)", now: t) }
        #expect(u.share(for: "a", now: t) == 1, "never less than one")
        // Askers silent for longer than the window no longer count.
        #expect(u.share(for: "a", now: t + .seconds(2)) == 6)
    }

    @Test("an asker at its share is refused while another still gets a slot; a release frees one")
    func takeAndRelease() {
        var u = UploadSlots(slots: 4)
        let t = SwarmInstant.seconds(1)
        let a3 = (0..<3).map { _ in u.take(for: "a", now: t) }
        #expect(a3 == [true, true, true], "alone, a may take three of four")
        let b1 = u.take(for: "b", now: t)
        #expect(b1, "b asks: the share is now 2 each, but a's slots stay until released")
        let a4 = u.take(for: "a", now: t)
        #expect(!a4, "a holds 3, over its share")
        let b2 = u.take(for: "b", now: t)
        #expect(!b2, "all 4 slots in use")
        u.release(for: "a")
        u.release(for: "a")
        let b3 = u.take(for: "b", now: t)
        #expect(b3, "b has 1 of its 2")
        #expect(u.inUse == 3)
        u.release(for: "nobody")
        #expect(u.inUse == 3, "releasing what was never taken changes nothing")
    }
}
