@testable import Agent
import Foundation
import Logging
import NIOCore
import OCI
import OCIClient
import Synchronization
import TestSupport
import Testing

/// A blob source the test drives chunk by chunk, counting fetches (the in-memory twin
/// of the origin for the cache's own logic).
final class ScriptedOrigin: Sendable {
    let bytes: [UInt8]
    let digest: Digest
    private let fetches = NIOLockedBox(0)
    private let resumes = Mutex<[Int64]>([])
    private let chunks: AsyncStream<[UInt8]>
    private let feed: AsyncStream<[UInt8]>.Continuation

    init(size: Int, seed: UInt8 = 7) {
        bytes = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ Int(seed)) }
        digest = Digest.compute(of: bytes)
        (chunks, feed) = AsyncStream<[UInt8]>.makeStream()
    }

    var fetchCount: Int { fetches.value }
    /// The offsets `resume(from:)` was asked for, in order.
    var resumedFrom: [Int64] { resumes.withLock { $0 } }

    /// Sends `range` of the blob (or other bytes) on the download's stream.
    func send(_ chunk: [UInt8]) { feed.yield(chunk) }
    func end() { feed.finish() }

    /// The download's first fetch: the scripted stream.
    func response() -> BlobResponse {
        fetches.increment()
        let body = ByteStream(chunks.map { ByteBuffer(bytes: $0) })
        return BlobResponse(status: 200, contentLength: Int64(bytes.count), body: body)
    }

    /// A correct resume from `offset`, as an origin honouring Range sends it.
    func resume(from offset: Int64) -> ByteStream {
        fetches.increment()
        resumes.withLock { $0.append(offset) }
        let tail = Array(bytes[Int(offset)...])
        return ByteStream(AsyncStream<ByteBuffer> { c in c.yield(ByteBuffer(bytes: tail)); c.finish() })
    }
}

final class NIOLockedBox: @unchecked Sendable {
    private let lock = NSLock()
    private var v: Int
    init(_ v: Int) { self.v = v }
    var value: Int { lock.lock(); defer { lock.unlock() }; return v }
    func increment() { lock.lock(); v += 1; lock.unlock() }
}

func collect<S: AsyncSequence>(_ s: S, limit: Int = .max) async throws -> [UInt8] where S.Element == ByteBuffer {
    var out: [UInt8] = []
    for try await b in s {
        out += Array(buffer: b)
        if out.count >= limit { break }
    }
    return out
}

@Suite("Download progress (state machine)")
struct DownloadProgressTests {
    @Test func readersNeverSeeTheLastByteBeforeVerification() {
        var p = DownloadProgress(expectedSize: 10)
        #expect(p.decide(offset: 0) == .wait)
        let a4 = p.appended(4)
        #expect(a4)
        #expect(p.decide(offset: 0) == .read(upTo: 4))
        #expect(p.decide(offset: 4) == .wait)
        let a6 = p.appended(6)
        #expect(a6)
        #expect(p.decide(offset: 4) == .read(upTo: 9))
        #expect(p.decide(offset: 9) == .wait)
        p.finished(digestMatches: true)
        #expect(p.decide(offset: 9) == .read(upTo: 10))
        #expect(p.decide(offset: 10) == .end)
    }

    @Test func failures() {
        var long = DownloadProgress(expectedSize: 3)
        let tooLong = long.appended(4)
        #expect(!tooLong)
        #expect(long.decide(offset: 0) == .failed("the source sent more than the blob's 3 bytes"))

        var short = DownloadProgress(expectedSize: 3)
        _ = short.appended(2)
        short.finished(digestMatches: true)
        #expect(short.phase == .failed("the source ended after 2 of 3 bytes"))

        var wrong = DownloadProgress(expectedSize: 3)
        _ = wrong.appended(3)
        wrong.finished(digestMatches: false)
        #expect(wrong.decide(offset: 3) == .failed("the bytes did not hash to the blob's digest"))
        wrong.fail("later")
        #expect(wrong.phase == .failed("the bytes did not hash to the blob's digest"))
    }
}

@Suite("Blob cache")
struct BlobCacheTests {
    let logger = Logger(label: "test")

    func makeCache(_ dir: TemporaryDirectory, quota: Int64 = 1 << 30, metrics: AgentMetrics? = nil,
                   free: (@Sendable (String) -> Int64?)? = nil) throws -> BlobCache {
        var config = BlobCache.Configuration(root: dir.file("cache"), quota: quota)
        if let free { config.freeBytes = free }
        return try BlobCache(configuration: config, metrics: metrics, logger: logger)
    }

    /// Streams a lookup's bytes, resuming from `origin` if the download fails.
    func read(_ lookup: BlobCache.Lookup?, origin: ScriptedOrigin, limit: Int = .max) async throws -> [UInt8] {
        switch lookup {
        case .complete(let lease): return try await collect(CachedBlobStream(lease: lease, start: 0, end: lease.size), limit: limit)
        case .downloading(let lease, let d):
            return try await collect(DownloadingBlobStream(lease: lease, download: d) { origin.resume(from: $0) }, limit: limit)
        case nil: Issue.record("not cacheable"); return []
        }
    }

    @Test func concurrentRequestsShareOneFetchAndStreamWhileItDownloads() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let metrics = AgentMetrics()
        let cache = try makeCache(dir, metrics: metrics)
        let origin = ScriptedOrigin(size: 3_000_000)
        let (first, r1) = await cache.lookup(origin.digest, size: 3_000_000) { _ in origin.response() }
        let (second, r2) = await cache.lookup(origin.digest, size: 3_000_000) { _ in origin.response() }
        #expect(r1 == .miss && r2 == .joined)
        origin.send(Array(origin.bytes[..<1_500_000]))
        // Both readers get the first half while the rest has not been sent yet.
        async let a = read(first, origin: origin, limit: 1 << 20)
        async let b = read(second, origin: origin, limit: 1 << 20)
        let (headA, headB) = try await (a, b)
        #expect(headA == Array(origin.bytes[..<(1 << 20)]) && headB == headA)
        // Whole streams, fed the rest.
        let (third, r3) = await cache.lookup(origin.digest, size: 3_000_000) { _ in origin.response() }
        #expect(r3 == .joined)
        async let whole = read(third, origin: origin)
        origin.send(Array(origin.bytes[1_500_000...]))
        origin.end()
        #expect(try await whole == origin.bytes)
        #expect(origin.fetchCount == 1)
        // Committed: the next request is a hit, from disk.
        await cache.downloadEnded(origin.digest)
        let (fourth, r4) = await cache.lookup(origin.digest, size: 3_000_000) { _ in origin.response() }
        #expect(r4 == .hit)
        #expect(try await read(fourth, origin: origin) == origin.bytes)
        #expect(FileManager.default.contents(atPath: dir.file("cache/blobs/sha256/\(origin.digest.hex)")) == Data(origin.bytes))
        #expect(metrics.render().contains("peerpull_agent_cache_size_bytes 3000000"))
    }

    @Test func readersKeepingUpAreServedFromMemoryAndLateOnesFromTheFile() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let cache = try makeCache(dir)
        let batch = BlobDownload.batchSize
        let size = 5 * batch + 1000
        let origin = ScriptedOrigin(size: size)
        let (lookup, _) = await cache.lookup(origin.digest, size: Int64(size)) { _ in origin.response() }
        guard case .downloading(_, let download) = lookup else { Issue.record("expected a download"); return }
        for i in 0..<4 { origin.send(Array(origin.bytes[(i * batch)..<((i + 1) * batch)])) }
        _ = await download.decision(at: Int64(4 * batch - 1))  // returns once four batches are written
        // Only the last batches stay in memory, as slices of exactly the blob's bytes.
        #expect(download.recentBytes(at: 0, upTo: Int64(size), count: batch) == nil)
        #expect(download.recentBytes(at: Int64(batch), upTo: Int64(size), count: batch) == nil)
        let recent = try #require(download.recentBytes(at: Int64(3 * batch + 10), upTo: Int64(size), count: batch))
        #expect(Array(recent.readableBytesView) == Array(origin.bytes[(3 * batch + 10)..<(4 * batch)]))
        let capped = try #require(download.recentBytes(at: Int64(2 * batch), upTo: Int64(2 * batch + 5), count: batch))
        #expect(capped.readableBytes == 5)
        // A reader joining now starts from the file and moves on to memory; it gets every byte.
        let (late, result) = await cache.lookup(origin.digest, size: Int64(size)) { _ in origin.response() }
        #expect(result == .joined)
        async let whole = read(late, origin: origin)
        origin.send(Array(origin.bytes[(4 * batch)...]))
        origin.end()
        #expect(try await whole == origin.bytes)
        #expect(try await read(lookup, origin: origin) == origin.bytes)
        #expect(origin.fetchCount == 1)
    }

    @Test func aCorruptSourceNeverCompletesAStreamAndTheReaderRecoversFromTheOrigin() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let cache = try makeCache(dir)
        let origin = ScriptedOrigin(size: 100_000)
        let (lookup, _) = await cache.lookup(origin.digest, size: 100_000) { _ in origin.response() }
        var bad = origin.bytes
        bad[99_999] ^= 0xff  // only the final byte differs
        origin.send(bad)
        origin.end()
        // The reader must not get the wrong final byte: the download fails verification, the
        // reader re-hashes its prefix and takes the tail from the origin.
        let got = try await read(lookup, origin: origin)
        #expect(got == origin.bytes)
        #expect(origin.fetchCount == 2)
        // The download has ended (failed), not merely not committed yet.
        await cache.downloadEnded(origin.digest)
        #expect(await !cache.isDownloading(origin.digest))
        #expect(await cache.contents.isEmpty, "a blob that failed verification is never kept")
        #expect(!FileManager.default.fileExists(atPath: dir.file("cache/blobs/sha256/\(origin.digest.hex)")))
    }

    @Test func aTruncatedDownloadResumesFromTheOriginWithRange() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let cache = try makeCache(dir)
        let origin = ScriptedOrigin(size: 400_000)
        let (lookup, _) = await cache.lookup(origin.digest, size: 400_000) { _ in origin.response() }
        guard case .downloading(let lease, let download) = lookup else { Issue.record("expected a download"); return }
        // A reader takes the first 123,457 bytes while they arrive; then the origin's stream ends early.
        var reader = DownloadingBlobStream(lease: lease, download: download) { origin.resume(from: $0) }.makeAsyncIterator()
        origin.send(Array(origin.bytes[..<123_457]))
        var got: [UInt8] = []
        while got.count < 123_457, let chunk = try await reader.next() { got += Array(buffer: chunk) }
        #expect(got.count == 123_457)
        origin.end()
        while let chunk = try await reader.next() { got += Array(buffer: chunk) }
        #expect(got == origin.bytes)
        // One resume, with Range from exactly where the origin's stream stopped.
        #expect(origin.resumedFrom == [123_457])
        #expect(origin.fetchCount == 2)
    }

    @Test func leastRecentlyUsedBlobsAreEvictedButNeverOneBeingRead() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let metrics = AgentMetrics()
        let cache = try makeCache(dir, quota: 300_000, metrics: metrics)
        var origins: [ScriptedOrigin] = []
        for seed in 0..<3 {
            let o = ScriptedOrigin(size: 100_000, seed: UInt8(seed))
            let (l, _) = await cache.lookup(o.digest, size: 100_000) { _ in o.response() }
            o.send(o.bytes); o.end()
            _ = try await read(l, origin: o)
            origins.append(o)
        }
        for o in origins { await cache.downloadEnded(o.digest) }
        // Blob 0 is held open by a reader and is the least recently used of all (blobs 1 and
        // 2 are used after it was opened): only the reader keeps it; blob 1 must go instead.
        let held = await cache.open(origins[0].digest)
        #expect(held != nil)
        for i in [1, 2] {
            let lease = await cache.open(origins[i].digest)
            #expect(lease != nil)
        }
        // The released leases of blobs 1 and 2 are counted down.
        await cache.released(origins[1].digest)
        await cache.released(origins[2].digest)
        let newcomer = ScriptedOrigin(size: 100_000, seed: 9)
        let (l, result) = await cache.lookup(newcomer.digest, size: 100_000) { _ in newcomer.response() }
        #expect(result == .miss)
        newcomer.send(newcomer.bytes); newcomer.end()
        _ = try await read(l, origin: newcomer)
        await cache.downloadEnded(newcomer.digest)
        let contents = await cache.contents
        #expect(contents[origins[0].digest] != nil, "a blob being read is never evicted")
        #expect(contents[origins[1].digest] == nil)
        #expect(contents[origins[2].digest] != nil)
        #expect(contents.values.reduce(0, +) <= 300_000)
        #expect(metrics.render().contains("peerpull_agent_cache_evictions_total 1"))
        _ = held
    }

    @Test func restartKeepsCompleteBlobsAndDiscardsPartialOnes() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let origin = ScriptedOrigin(size: 50_000)
        do {
            let cache = try makeCache(dir)
            let (l, _) = await cache.lookup(origin.digest, size: 50_000) { _ in origin.response() }
            origin.send(origin.bytes); origin.end()
            _ = try await read(l, origin: origin)
            await cache.downloadEnded(origin.digest)
        }
        // A crash mid-download leaves a partial file in ingest/; a stray file in blobs/ is not a digest.
        FileManager.default.createFile(atPath: dir.file("cache/ingest/sha256-partial"), contents: Data(repeating: 1, count: 10))
        FileManager.default.createFile(atPath: dir.file("cache/blobs/sha256/not-a-digest"), contents: Data())
        let reopened = try makeCache(dir)
        #expect(await reopened.contents == [origin.digest: 50_000])
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.file("cache/ingest")).isEmpty)
        let (hit, result) = await reopened.lookup(origin.digest, size: 50_000) { _ in origin.response() }
        #expect(result == .hit)
        #expect(try await read(hit, origin: origin) == origin.bytes)
    }

    @Test func aBlobLargerThanTheQuotaOrTheFreeSpaceIsPassedThrough() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let small = try makeCache(dir, quota: 1000)
        let origin = ScriptedOrigin(size: 5000)
        #expect(await small.lookup(origin.digest, size: 5000) { _ in origin.response() }.1 == .bypass)
        let dir2 = try TemporaryDirectory()
        defer { dir2.remove() }
        let full = try makeCache(dir2, free: { _ in 10_000 })
        #expect(await full.lookup(origin.digest, size: 5000) { _ in origin.response() }.1 == .bypass)
        #expect(origin.fetchCount == 0)
    }

    /// A real full disk (a 2 MiB tmpfs) that the agent believed had room: the write fails
    /// with ENOSPC mid-blob, and the reader still gets the right bytes from the origin.
    @Test(.enabled(if: getuid() == 0, "needs root to mount a tmpfs"))
    func aDiskThatFillsUpMidDownloadDegradesToTheOrigin() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try FileManager.default.createDirectory(atPath: dir.file("cache"), withIntermediateDirectories: true)
        try await Command.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", dir.file("cache")])
        defer { _ = try? Process.run(URL(fileURLWithPath: "/bin/umount"), arguments: ["-l", dir.file("cache")]).waitUntilExit() }
        let cache = try makeCache(dir, free: { _ in 1 << 40 })
        let origin = ScriptedOrigin(size: 3 << 20)
        let (lookup, result) = await cache.lookup(origin.digest, size: Int64(3 << 20)) { _ in origin.response() }
        #expect(result == .miss)
        for start in stride(from: 0, to: origin.bytes.count, by: 256 << 10) {
            origin.send(Array(origin.bytes[start..<min(start + (256 << 10), origin.bytes.count)]))
        }
        origin.end()
        #expect(try await read(lookup, origin: origin) == origin.bytes)
        await cache.downloadEnded(origin.digest)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.file("cache/ingest")).isEmpty)
        #expect(await cache.contents.isEmpty)
    }
}
