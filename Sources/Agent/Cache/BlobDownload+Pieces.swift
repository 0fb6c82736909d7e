import Crypto
import Logging
import NIOCore
import OCI
import Swarm

/// The download in piece mode: pieces arrive out of order from the origin and from peers,
/// each checked against its hash before it is written, into one file at its offset. The
/// readers see the verified prefix grow exactly as in a sequential download (the whole
/// blob is hashed in order as the prefix advances, and its last byte is still withheld
/// until it matches the digest), and other agents may fetch every verified piece at once.
///
/// The decisions are the `PieceScheduler`'s; this loop only performs them: it announces
/// to the blob's coordinator, runs each fetch as a task, and feeds the outcomes back.
extension BlobDownload {
    enum PieceEvent: Sendable {
        case answer(SwarmAgent.Reply)
        case piece(Int, PieceScheduler.Source, id: Int, Result<(ByteBuffer, PieceHash), any Error>)
        case tick
    }

    struct RequestKey: Hashable {
        var piece: Int
        var source: PieceScheduler.Source
    }

    /// Pieces past the verified prefix kept in memory for hashing in order; beyond this
    /// they are read back from the file when the prefix reaches them.
    static var aheadInMemory: Int { 8 }
    /// Origin failures in a row, with no piece from anywhere for `stallLimit`, after which
    /// the download gives up (its readers then continue from the origin on their own, as
    /// after any failed download). While peers still deliver, origin failures only rest it.
    static var originFailureLimit: Int { 5 }
    static var stallLimit: Duration { .seconds(10) }

    /// The hash of `piece` with its first byte flipped, as `PeerServer`'s fault injection serves it.
    static func flippedHash(_ piece: ByteBuffer) -> PieceHash {
        var bytes = Array(piece.readableBytesView)
        if !bytes.isEmpty { bytes[0] ^= 0xff }
        return PieceHash(hashing: bytes)
    }

    static func percent(_ part: Int64, of whole: Int64) -> String {
        whole > 0 ? "\(Int((Double(part) * 100 / Double(whole)).rounded()))%" : "0%"
    }

    func runPieces(
        origin: any PieceSource,
        swarm: SwarmAgent,
        bucket: TokenBucket?,
        metrics: AgentMetrics?,
        logger: Logger
    ) async -> Bool {
        let start = clock.now
        let ok = await piecesLoop(origin: origin, swarm: swarm, bucket: bucket, metrics: metrics, logger: logger, start: start)
        let peers = update { $0.tally.peers.count }
        metrics?.blobFinished(complete: ok, after: clock.now - start, peers: peers)
        return ok
    }

    private func piecesLoop(
        origin: any PieceSource,
        swarm: SwarmAgent,
        bucket: TokenBucket?,
        metrics: AgentMetrics?,
        logger: Logger,
        start: SwarmInstant
    ) async -> Bool {
        let layout = PieceLayout(size: size, pieceSize: swarm.pieceSize)
        let clock = self.clock
        update { s in
            s.layout = layout
            s.verified = PieceSet(count: layout.count)
            s.tally = SourceTally(fromPeers: PieceSet(count: layout.count), started: start)
        }
        var scheduler = PieceScheduler(layout: layout, node: swarm.me.node, configuration: swarm.schedulerConfiguration)
        var known: [PieceHash?] = Array(repeating: nil, count: layout.count)
        var ahead: [Int: ByteBuffer] = [:]
        var nextToHash = 0
        var verifier = DigestVerifier(for: digest)
        var tasks: [RequestKey: (id: Int, task: Task<Void, Never>)] = [:]
        var nextRequest = 0
        var originFailures = 0
        var lastProgress = clock.now
        /// What the coordinator that answered last knows of the hashes: the agent sends it
        /// the hashes it has of the others (pieces it took from the origin, and any a
        /// coordinator that restarted or took the blob over lacks), so none is lost for good.
        var coordinatorHashes = PieceSet(count: layout.count)
        var announcing = false
        var lastAnnounce = clock.now - .seconds(1)
        /// Peers whose requests failed other than by "not held" since the last announcement.
        var unreachable = Set<String>()
        let (events, sink) = AsyncStream<PieceEvent>.makeStream()
        let ticker = Task {
            while !Task.isCancelled {
                try? await clock.sleep(for: SwarmCadence.tick)
                sink.yield(.tick)
            }
        }
        defer {
            ticker.cancel()
            for t in tasks.values { t.task.cancel() }
            sink.finish()
        }
        let blob = digest
        func now() -> SwarmInstant { clock.now - start }

        func hashesTheCoordinatorLacks() -> [Int: PieceHash] {
            Announcement.hashesToPublish(have: scheduler.have, coordinatorKnows: coordinatorHashes) { known[$0] }
        }

        func announce() {
            guard !announcing else { return }
            announcing = true
            lastAnnounce = clock.now
            let a = Announcement(blob: blob, layout: layout, member: swarm.me, have: scheduler.have, fetching: scheduler.fetching,
                                 hashes: hashesTheCoordinatorLacks(), wantHashes: scheduler.wantHashes, wantsOriginWork: true,
                                 unreachable: Array(unreachable))
            unreachable = []
            Task { sink.yield(.answer(await swarm.reply(to: a))) }
        }

        func perform(_ actions: [PieceScheduler.Action]) {
            for action in actions {
                switch action {
                case .cancel(let piece, let source):
                    tasks.removeValue(forKey: RequestKey(piece: piece, source: source))?.task.cancel()
                case .fetch(let piece, let source):
                    // The scheduler gives a request more time when the link is shared by more than it can
                    // bring in its base timeout, and the origin more when its pieces took longer.
                    let timeout = scheduler.timeout(for: source)
                    nextRequest += 1
                    let id = nextRequest
                    tasks[RequestKey(piece: piece, source: source)] = (id, Task {
                        let result: Result<(ByteBuffer, PieceHash), any Error>
                        do {
                            let from: any PieceSource = switch source {
                            case .origin: origin
                            case .peer(let member): swarm.peerSource(member)
                            }
                            let (buffer, hash) = try await from.piece(piece, of: blob, layout: layout, into: swarm.buffers, timeout: timeout)
                            try await bucket?.acquire(buffer.readableBytes)
                            result = .success((buffer, hash))
                        } catch {
                            result = .failure(error)
                        }
                        if !Task.isCancelled { sink.yield(.piece(piece, source, id: id, result)) }
                    })
                }
            }
        }

        perform([])
        announce()
        for await event in events {
            switch event {
            case .tick:
                perform(scheduler.tick(now: now()))
                if SwarmCadence.announceDue(since: clock.now - lastAnnounce, newPiece: false, announceEvery: scheduler.announceEvery) { announce() }
                if now() > .seconds(3600) {
                    fail("the swarm download made no end within an hour")
                    return false
                }
            case .answer(let reply):
                announcing = false
                if case .busy(let every) = reply {
                    perform(scheduler.coordinatorBusy(announceEvery: every, now: now()))
                    lastAnnounce = clock.now + SwarmCadence.delayAfterRefusal(announceEvery: scheduler.announceEvery, random: .random(in: 0..<1))
                    continue
                }
                let answer: CoordinatorAnswer? = if case .answered(let a) = reply { a } else { nil }
                guard let answer, answer.layout == layout else {
                    if let answer, answer.layout != layout {
                        logger.warning("the swarm cuts this blob differently; taking it from the origin", metadata: [
                            "digest": "\(blob)", "swarm": "\(answer.layout)", "local": "\(layout)"])
                    }
                    perform(scheduler.coordinatorsUnreachable(now: now()))
                    continue
                }
                for (i, h) in answer.hashes where known[i] == nil { known[i] = h }
                coordinatorHashes = answer.hashesKnown
                perform(scheduler.coordinatorAnswered(answer, hashes: Array(answer.hashes.keys), now: now()))
            case .piece(let piece, let source, let id, let result):
                // A request cancelled or given up (endgame, timeout) may still answer: only
                // the request the scheduler is waiting for counts, and never twice.
                guard tasks[RequestKey(piece: piece, source: source)]?.id == id else { continue }
                tasks[RequestKey(piece: piece, source: source)] = nil
                if scheduler.have.contains(piece) { continue }
                switch result {
                case .failure(let error):
                    if case .origin = source {
                        originFailures += 1
                        if originFailures >= Self.originFailureLimit, clock.now - lastProgress > Self.stallLimit {
                            fail("the origin failed \(originFailures) piece requests in a row: \(error)")
                            logger.warning("swarm download failed; its readers continue from the origin", metadata: ["digest": "\(blob)", "error": "\(error)"])
                            return false
                        }
                    }
                    var failure = PieceScheduler.Failure.failed
                    if case .peer(let member) = source {
                        let (kind, gone) = PeerClient.classify(error)
                        failure = kind
                        if gone { unreachable.insert(member.node) }
                        metrics?.pieceRequestFailed(PeerClient.reason(error))
                    }
                    perform(scheduler.pieceFailed(piece, from: source, failure, now: now()))
                case .success(let (buffer, hash)):
                    lastProgress = clock.now
                    switch source {
                    case .origin:
                        originFailures = 0
                        metrics?.received(buffer.readableBytes, from: .origin)
                        metrics?.piece(from: "origin", verified: true)
                        // The origin's bytes are the truth: a published hash that differs was a
                        // lie, and the pieces checked against the swarm's hashes may be too.
                        if let published = known[piece], published != hash {
                            fail("the swarm's hash of piece \(piece) differs from the origin's bytes")
                            swarm.distrust(blob)
                            logger.warning("the swarm published a wrong hash for a piece of this blob; it comes from the origin alone from now on", metadata: [
                                "digest": "\(blob)", "piece": "\(piece)"])
                            return false
                        }
                        known[piece] = swarm.faults.contains(.lyingHashes) ? Self.flippedHash(buffer) : hash
                    case .peer(let member):
                        guard known[piece] == hash else {
                            metrics?.piece(from: "peer", verified: false)
                            logger.warning("a peer sent a piece that does not match its hash; dropping the peer for this blob", metadata: [
                                "peer": "\(member)", "digest": "\(blob)", "piece": "\(piece)"])
                            perform(scheduler.pieceFailed(piece, from: source, .corrupt, now: now()))
                            continue
                        }
                        metrics?.received(buffer.readableBytes, from: .peer)
                        metrics?.piece(from: "peer", verified: true)
                    }
                    do { try await file.write(buffer, at: layout.range(of: piece).lowerBound) } catch {
                        fail("\(error)")
                        logger.warning("cannot write a piece to the cache; the blob's readers continue from the origin", metadata: [
                            "digest": "\(blob)", "error": "\(error)"])
                        return false
                    }
                    let n = Int64(buffer.readableBytes)
                    update { s in
                        s.verified?.insert(piece)
                        switch source {
                        case .origin: s.tally.originBytes += n
                        case .peer(let member):
                            s.tally.peerBytes += n
                            s.tally.fromPeers?.insert(piece)
                            s.tally.peers.insert(member.node)
                        }
                    }
                    perform(scheduler.pieceArrived(piece, from: source, now: now()))
                    if piece != nextToHash {
                        if ahead.count < Self.aheadInMemory { ahead[piece] = buffer } else { swarm.buffers.give(buffer) }
                    }
                    // The prefix advances: hash it in order and hand it to the readers.
                    while nextToHash < layout.count, scheduler.have.contains(nextToHash) {
                        var bytes: ByteBuffer
                        if nextToHash == piece { bytes = buffer }
                        else if let kept = ahead.removeValue(forKey: nextToHash) { bytes = kept }
                        else {
                            var spare: ByteBuffer? = swarm.buffers.take(capacity: swarm.pieceSize)
                            let r = layout.range(of: nextToHash)
                            do {
                                bytes = try await reader.read(at: r.lowerBound, count: Int(r.count), reusing: &spare)
                            } catch {
                                fail("\(error)")
                                return false
                            }
                        }
                        bytes.withUnsafeReadableBytes { verifier.update($0) }
                        let (ok, evicted) = appended(bytes)
                        guard ok else { return false }
                        if let evicted { swarm.buffers.give(evicted) }
                        if nextToHash == 0 { metrics?.blobFirstByte(after: now()) }
                        nextToHash += 1
                    }
                    if SwarmCadence.announceDue(since: clock.now - lastAnnounce, newPiece: true, announceEvery: scheduler.announceEvery,
                                                wantsDeals: source == .origin && scheduler.wantsDeals) { announce() }
                    if nextToHash == layout.count {
                        let matches = verifier.count == size && verifier.finalize() == blob
                        update { $0.progress.finished(digestMatches: matches) }
                        guard matches else {
                            swarm.distrust(blob)
                            logger.warning("discarded a blob assembled from pieces that did not match its digest; it comes from the origin alone from now on",
                                           metadata: ["digest": "\(blob)", "peers": "\(update { $0.tally.peers }.sorted().joined(separator: ","))"])
                            return false
                        }
                        var hashes: [Int: PieceHash] = [:]
                        for (i, h) in known.enumerated() { if let h { hashes[i] = h } }
                        swarm.holding(blob, layout: layout, hashes: hashes)
                        // Tell the coordinator at once that this agent holds it all.
                        _ = await swarm.announce(Announcement(blob: blob, layout: layout, member: swarm.me, have: .full(count: layout.count),
                                                              hashes: hashesTheCoordinatorLacks(), wantsOriginWork: false))
                        let tally = update { $0.tally }
                        logger.info("blob \(blob) \(HumanReadable.bytes(size)) in \(String(format: "%.1f", now().inSeconds)) s: \(Self.percent(tally.peerBytes, of: size)) from \(tally.peers.count) peers, \(Self.percent(tally.originBytes, of: size)) origin", metadata: [
                            "digest": "\(blob)", "bytes": "\(size)", "peerBytes": "\(tally.peerBytes)", "originBytes": "\(tally.originBytes)",
                            "peers": "\(tally.peers.sorted().joined(separator: ","))"])
                        return true
                    }
                }
            }
        }
        return false
    }
}
