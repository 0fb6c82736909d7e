import Logging
import NIOConcurrencyHelpers
import NIOCore
import OCI
import OCIClient
import Swarm

/// One blob being fetched into the cache. Every request for the blob while it downloads
/// shares this one upstream transfer: the writer appends to a temporary file and the
/// readers stream from that file as it grows (see `DownloadProgress` for what they may read).
///
/// The last batches written are also kept in memory, and a reader keeping up with the
/// download is served from them: reading the bytes back from the file cost a fifth of
/// the agent's CPU on a cold pull (a `pread` into fresh pages per batch).
final class BlobDownload: Sendable {
    let digest: Digest
    let size: Int64
    let file: CacheFile
    static let batchSize = 1 << 19
    /// Batches kept for readers; one reader lags the writer by at most a batch.
    static let recentBatches = 2

    struct State {
        var progress: DownloadProgress
        var waiters: [CheckedContinuation<Void, Never>] = []
        /// The last batches on disk, oldest first, with the blob offset each starts at.
        var recent: [(start: Int64, bytes: ByteBuffer)] = []
        /// In piece mode (the swarm): the cut, and the pieces on disk and verified, which
        /// other agents may fetch while the rest is still arriving.
        var layout: PieceLayout?
        var verified: PieceSet?
        /// In piece mode: where the verified pieces came from (metrics, the log, `status`).
        var tally = SourceTally()
    }

    struct SourceTally {
        var fromPeers: PieceSet?
        var peerBytes: Int64 = 0
        var originBytes: Int64 = 0
        var peers: Set<String> = []
        var started: SwarmInstant?
    }
    private let state: NIOLockedValueBox<State>

    /// The same file, open for reading once: what readers, the in-order hashing and peers
    /// read back (a `pread` needs no descriptor of its own).
    let reader: CacheFile
    /// The download's time: its timeouts, stall limit, announcement cadence and batching.
    let clock: SwarmClock

    init(digest: Digest, size: Int64, file: CacheFile, reader: CacheFile, clock: SwarmClock = .continuous) {
        self.digest = digest
        self.size = size
        self.file = file
        self.reader = reader
        self.clock = clock
        self.state = NIOLockedValueBox(State(progress: DownloadProgress(expectedSize: size)))
    }

    /// What a reader at `offset` may do next, waiting while there is nothing new.
    func decision(at offset: Int64) async -> DownloadProgress.ReadDecision {
        while true {
            let now = state.withLockedValue { $0.progress.decide(offset: offset) }
            if now != .wait { return now }
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                // Re-checked under the lock: the writer may have moved on since.
                let ready = state.withLockedValue { s -> Bool in
                    if s.progress.decide(offset: offset) != .wait { return true }
                    s.waiters.append(continuation)
                    return false
                }
                if ready { continuation.resume() }
            }
        }
    }

    /// Bytes from `offset` (up to `limit` and at most `count`) if they are still among the
    /// recent batches; nil means the reader fell behind and reads the file instead.
    func recentBytes(at offset: Int64, upTo limit: Int64, count: Int) -> ByteBuffer? {
        state.withLockedValue { s in
            guard let batch = s.recent.last(where: { $0.start <= offset }),
                  offset < batch.start + Int64(batch.bytes.readableBytes) else { return nil }
            let skip = Int(offset - batch.start)
            let length = Swift.min(count, batch.bytes.readableBytes - skip, Int(limit - offset))
            guard length > 0 else { return nil }
            return batch.bytes.getSlice(at: batch.bytes.readerIndex + skip, length: length)
        }
    }

    /// Changes the state and wakes the readers. Once the download has ended, readers
    /// read the file (or the origin), so the batches kept for them are let go.
    func update<T>(_ body: (inout State) -> T) -> T {
        let (result, waiters) = state.withLockedValue { s in
            let result = body(&s)
            if s.progress.phase != .downloading { s.recent = [] }
            defer { s.waiters = [] }
            return (result, s.waiters)
        }
        for w in waiters { w.resume() }
        return result
    }

    /// Records a batch written to the file; returns false when the download cannot go on,
    /// and the batch that left the in-memory window.
    func appended(_ batch: ByteBuffer) -> (ok: Bool, evicted: ByteBuffer?) {
        update { s in
            let start = s.progress.written
            guard s.progress.appended(Int64(batch.readableBytes)) else { return (false, nil) }
            s.recent.append((start, batch))
            return (true, s.recent.count > Self.recentBatches ? s.recent.removeFirst().bytes : nil)
        }
    }

    func fail(_ reason: String) { update { $0.progress.fail(reason) } }

    /// Where the byte at `offset` came from, for the served-bytes metric: a peer if its
    /// piece did, else the origin.
    func source(at offset: Int64) -> AgentMetrics.Source {
        state.withLockedValue { s in
            guard let layout = s.layout, let peers = s.tally.fromPeers, offset < layout.size else { return .origin }
            return peers.contains(layout.piece(containing: offset)) ? .peer : .origin
        }
    }

    /// What `status` shows of this download.
    func status() -> DownloadStatus {
        state.withLockedValue { s in
            DownloadStatus(
                digest: digest.description, size: size, pieceSize: s.layout?.pieceSize, pieces: s.layout?.count,
                verifiedPieces: s.verified?.memberCount, pieceMap: s.verified.map { DownloadStatus.map(of: $0) },
                verifiedPrefix: s.progress.written, peerBytes: s.tally.peerBytes, originBytes: s.tally.originBytes,
                peers: s.tally.peers.sorted(),
                seconds: s.tally.started.map { (clock.now - $0).inSeconds })
        }
    }

    /// Whether `range` is exactly a verified piece of this download (for peers).
    func holdsPiece(_ range: Range<Int64>) -> Bool {
        state.withLockedValue { s in
            if case .failed = s.progress.phase { return false }
            guard let layout = s.layout, let verified = s.verified else { return false }
            let index = layout.piece(containing: range.lowerBound)
            return index < layout.count && layout.range(of: index) == range && verified.contains(index)
        }
    }

    /// Fetches the blob and writes it, hashing as it goes; returns true when the file
    /// holds exactly the blob. Never throws: failures are recorded in the progress, where
    /// readers find them and continue from the origin.
    func run(
        fetch: @Sendable () async throws -> BlobResponse,
        bucket: TokenBucket?,
        metrics: AgentMetrics?,
        logger: Logger
    ) async -> Bool {
        var verifier = DigestVerifier(for: digest)
        do {
            let response = try await fetch()
            guard response.status == 200 else {
                fail("the origin answered \(response.status) to a whole-blob GET")
                return false
            }
            // Network reads arrive in small buffers; writing (and waking readers) once per
            // batch keeps thread-pool hops and reader wake-ups from dominating the transfer.
            var pending = ByteBufferAllocator().buffer(capacity: Self.batchSize)
            var lastFlush = clock.now
            func flush() async throws -> Bool {
                guard pending.readableBytes > 0 else { return true }
                // The bucket is charged per batch too: one actor hop per batch, not per packet.
                try await bucket?.acquire(pending.readableBytes)
                try await file.append(pending)
                let batch = pending
                pending = ByteBuffer()
                var (ok, oldest) = appended(batch)
                // The batch that left the window becomes the next one: its memory is reused
                // when no reader still holds it (`clear` allocates anew otherwise), so the
                // transfer does not fault in fresh pages for every batch. `take()` moves it,
                // leaving no second reference that would defeat the reuse.
                pending = oldest.take() ?? ByteBufferAllocator().buffer(capacity: Self.batchSize)
                pending.clear()
                return ok
            }
            for try await buffer in response.body {
                metrics?.received(buffer.readableBytes, from: .origin)
                buffer.withUnsafeReadableBytes { verifier.update($0) }
                var b = buffer
                pending.writeBuffer(&b)
                // Readers lag the network by at most a batch or 10 ms of traffic.
                if pending.readableBytes >= Self.batchSize || clock.now - lastFlush > .milliseconds(10) {
                    guard try await flush() else { return false }
                    lastFlush = clock.now
                }
            }
            guard try await flush() else { return false }
            let matches = verifier.count == size && verifier.finalize() == digest
            update { $0.progress.finished(digestMatches: matches) }
            if !matches {
                logger.warning("discarded a blob from the origin that did not match its digest", metadata: [
                    "digest": "\(digest)", "bytes": "\(verifier.count)", "expectedBytes": "\(size)"])
            }
            return matches
        } catch {
            fail("\(error)")
            logger.warning("blob download failed; its readers continue from the origin", metadata: [
                "digest": "\(digest)", "error": "\(error)"])
            return false
        }
    }
}
