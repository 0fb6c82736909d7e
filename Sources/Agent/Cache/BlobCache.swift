#if canImport(Glibc)
import Glibc
#endif
import Logging
import NIOCore
import OCI
import OCIClient
import Swarm

/// The node's content-addressed, verified blob cache.
///
/// Layout under `root`: `blobs/<alg>/<hex>` holds complete blobs, each renamed there
/// only after its bytes hashed to its name; `ingest/` holds downloads in progress and is
/// emptied at start, so a crash leaves nothing half-written that could be served.
/// Space is kept within `quota` by evicting the least recently used blobs that no
/// request is reading; a blob that cannot get room (or a disk short of free space) is
/// passed through from the origin uncached, with a warning, rather than failing the pull.
public actor BlobCache {
    public struct Configuration: Sendable {
        public var root: String
        /// Bytes of complete and in-flight blobs the cache may hold.
        public var quota: Int64
        /// Free bytes to leave on the filesystem beyond a new blob's size.
        public var minimumFreeBytes: Int64 = 64 << 20
        /// Free bytes of the filesystem holding a path (injected so tests can pretend a full disk is empty).
        public var freeBytes: @Sendable (String) -> Int64? = BlobCache.filesystemFreeBytes
        /// The downloads' time (injected so tests move it themselves).
        public var clock: SwarmClock = .continuous

        public init(root: String, quota: Int64) {
            self.root = root
            self.quota = quota
        }
    }

    /// How a request for a blob can be served.
    enum Lookup: Sendable {
        case complete(BlobLease)
        case downloading(BlobLease, BlobDownload)
    }

    private struct Entry {
        var size: Int64
        var lastUse: UInt64
    }

    public nonisolated let configuration: Configuration
    private let blobsRoot: String
    private let ingestRoot: String
    private var entries: [Digest: Entry]
    private var downloads: [Digest: BlobDownload] = [:]
    private var readers: [Digest: Int] = [:]
    private var usedBytes: Int64
    private var reservedBytes: Int64 = 0
    private var clock: UInt64
    private let metrics: AgentMetrics?
    private let bucket: TokenBucket?
    private let logger: Logger
    /// The swarm this agent belongs to; nil fetches every blob whole from the origin.
    private var swarm: SwarmAgent?
    /// Callers waiting for a download to end, or for a blob's last lease to be released
    /// (`downloadEnded`, `released`).
    private var endWaiters: [Digest: [CheckedContinuation<Void, Never>]] = [:]
    private var releaseWaiters: [Digest: [CheckedContinuation<Void, Never>]] = [:]

    /// Joins the swarm: downloads from now on go piece by piece through it.
    public func join(_ swarm: SwarmAgent) { self.swarm = swarm }

    /// Opens the cache, discarding partial downloads and indexing complete blobs
    /// (oldest modification first in the eviction order).
    public init(configuration: Configuration, bucket: TokenBucket? = nil, metrics: AgentMetrics? = nil, logger: Logger) throws(CacheError) {
        self.configuration = configuration
        let blobsRoot = configuration.root + "/blobs"
        let ingestRoot = configuration.root + "/ingest"
        self.blobsRoot = blobsRoot
        self.ingestRoot = ingestRoot
        do {
            for dir in [blobsRoot, ingestRoot] + Digest.Algorithm.allCases.map({ blobsRoot + "/" + $0.rawValue }) {
                try FileSystem.makeDirectories(dir)
            }
        } catch {
            throw .io(path: configuration.root, operation: "create", errno: { if case .io(_, _, let e) = error { return e } else { return EINVAL } }())
        }
        var discarded = 0
        for name in Self.list(ingestRoot) {
            unlink(ingestRoot + "/" + name)
            discarded += 1
        }
        var found: [(Digest, Int64, Int)] = []
        for algorithm in Digest.Algorithm.allCases {
            let dir = blobsRoot + "/" + algorithm.rawValue
            for name in Self.list(dir) {
                let path = dir + "/" + name
                var st = stat()
                guard let digest = try? Digest(parsing: "\(algorithm.rawValue):\(name)"),
                      stat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
                    // Not ours (or not a blob): never serve it, never count it.
                    continue
                }
                found.append((digest, Int64(st.st_size), st.st_mtim.tv_sec))
            }
        }
        var index: [Digest: Entry] = [:]
        var used: Int64 = 0
        var tick: UInt64 = 0
        var evicted = 0
        let oldestFirst = found.sorted(by: { $0.2 < $1.2 })
        var total = oldestFirst.reduce(Int64(0)) { $0 + $1.1 }
        for (digest, size, _) in oldestFirst {
            // A smaller quota than last time: drop the oldest blobs until the rest fit.
            if total > configuration.quota {
                unlink("\(blobsRoot)/\(digest.algorithm.rawValue)/\(digest.hex)")
                total -= size
                evicted += 1
                continue
            }
            tick += 1
            index[digest] = Entry(size: size, lastUse: tick)
            used += size
        }
        entries = index
        usedBytes = used
        clock = tick
        self.metrics = metrics
        self.bucket = bucket
        self.logger = logger
        if discarded > 0 || !found.isEmpty {
            logger.info("opened blob cache", metadata: [
                "root": "\(configuration.root)", "blobs": "\(index.count)", "bytes": "\(used)",
                "discardedPartial": "\(discarded)", "evictedOverQuota": "\(evicted)"])
        }
        metrics?.cacheQuota.set(Double(configuration.quota))
        metrics?.cacheSize.set(Double(used))
        metrics?.cacheBlobs.set(Double(index.count))
    }

    func path(of digest: Digest) -> String { "\(blobsRoot)/\(digest.algorithm.rawValue)/\(digest.hex)" }

    /// Complete blobs and their sizes.
    public var contents: [Digest: Int64] { entries.mapValues(\.size) }

    /// Whether a download of `digest` is under way (it ends committed or failed).
    func isDownloading(_ digest: Digest) -> Bool { downloads[digest] != nil }

    /// Returns once no download of `digest` is in progress: committed to the cache or
    /// discarded (at once when there is none). What waits for background work waits here,
    /// not by polling.
    func downloadEnded(_ digest: Digest) async {
        guard downloads[digest] != nil else { return }
        await withCheckedContinuation { endWaiters[digest, default: []].append($0) }
    }

    /// Returns once every lease of `digest` has been released.
    func released(_ digest: Digest) async {
        guard readers[digest] != nil else { return }
        await withCheckedContinuation { releaseWaiters[digest, default: []].append($0) }
    }

    /// The complete blob, or nil when it is not cached.
    func open(_ digest: Digest) -> BlobLease? {
        guard var entry = entries[digest] else { return nil }
        let file: CacheFile
        do { file = try CacheFile.openForReading(path(of: digest)) } catch {
            // Removed behind our back: forget it and fetch again.
            logger.warning("a cached blob vanished from disk", metadata: ["digest": "\(digest)", "error": "\(error)"])
            forget(digest)
            return nil
        }
        clock += 1
        entry.lastUse = clock
        entries[digest] = entry
        return lease(digest, size: entry.size, file: file)
    }

    /// The blob from the cache if it is complete; otherwise joins its download, or starts
    /// one with `fetch`. Nil when the blob cannot be cached: the caller passes it through.
    func lookup(
        _ digest: Digest,
        size: Int64,
        fetch: @escaping @Sendable (ByteRange?) async throws -> BlobResponse
    ) -> (Lookup?, AgentMetrics.CacheResult) {
        if let lease = open(digest) { return (.complete(lease), .hit) }
        if let download = downloads[digest] {
            return (.downloading(lease(digest, size: download.size, file: download.reader), download), .joined)
        }
        guard size > 0 else { return (nil, .bypass) }
        guard reserve(size, for: digest) else { return (nil, .bypass) }
        let temp = "\(ingestRoot)/\(digest.algorithm.rawValue)-\(digest.hex)-\(UInt64.random(in: 0...UInt64.max))"
        let writer: CacheFile, reader: CacheFile
        do {
            writer = try CacheFile.create(temp)
            reader = try CacheFile.openForReading(temp)
        } catch {
            unlink(temp)
            reservedBytes -= size
            logger.warning("cannot create a cache file; passing the blob through", metadata: ["digest": "\(digest)", "error": "\(error)"])
            return (nil, .bypass)
        }
        let download = BlobDownload(digest: digest, size: size, file: writer, reader: reader, clock: configuration.clock)
        downloads[digest] = download
        let metrics = self.metrics, bucket = self.bucket, logger = self.logger, swarm = self.swarm
        // Detached from the request that started it: if that client goes away, the others
        // (and the next pull) still get the blob.
        Task.detached {
            var ok: Bool
            if let swarm, swarm.trusts(digest), PieceLayout(validatingSize: size, pieceSize: swarm.pieceSize) != nil {
                ok = await download.runPieces(origin: OriginPieceSource(fetch: fetch), swarm: swarm, bucket: bucket, metrics: metrics, logger: logger)
            } else {
                ok = await download.run(fetch: { try await fetch(nil) }, bucket: bucket, metrics: metrics, logger: logger)
            }
            if ok {
                do { try await writer.sync() } catch {
                    ok = false
                    logger.warning("cannot flush a downloaded blob; it will not be kept", metadata: ["digest": "\(digest)", "error": "\(error)"])
                }
            }
            await self.finish(download, temp: temp, keep: ok)
        }
        return (.downloading(lease(digest, size: size, file: reader), download), .miss)
    }

    /// Exactly the bytes of `range` of `digest` when this agent holds them verified: from
    /// the complete blob, or a verified piece of its download in progress. For peers.
    func piece(_ digest: Digest, range: Range<Int64>) async -> ByteBuffer? {
        var spare: ByteBuffer?
        if let lease = open(digest) {
            guard range.upperBound <= lease.size else { return nil }
            return try? await lease.file.read(at: range.lowerBound, count: Int(range.count), reusing: &spare)
        }
        guard let download = downloads[digest], download.holdsPiece(range) else { return nil }
        return try? await download.reader.read(at: range.lowerBound, count: Int(range.count), reusing: &spare)
    }

    /// What the agent's `/status` shows.
    public func status() async -> AgentStatus {
        let members = await swarm?.membership.current.count
        return AgentStatus(node: swarm?.me.node, members: members, cacheBytes: usedBytes, cacheQuota: configuration.quota,
                           cachedBlobs: entries.count, downloads: downloads.values.map { $0.status() }.sorted { $0.digest < $1.digest })
    }

    /// The open file that holds `range` of `digest`, verified, for sending it to a peer
    /// without reading it into memory (the caller closes it); nil when not held here.
    func pieceFile(_ digest: Digest, range: Range<Int64>) -> NIOFileHandle? {
        if var entry = entries[digest] {
            guard range.upperBound <= entry.size else { return nil }
            let fd = Glibc.open(path(of: digest), O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else {
                logger.warning("a cached blob vanished from disk", metadata: ["digest": "\(digest)"])
                forget(digest)
                return nil
            }
            clock += 1
            entry.lastUse = clock
            entries[digest] = entry
            return NIOFileHandle(_deprecatedTakingOwnershipOfDescriptor: fd)
        }
        guard let download = downloads[digest], download.holdsPiece(range),
              let fd = download.reader.duplicateDescriptor() else { return nil }
        return NIOFileHandle(_deprecatedTakingOwnershipOfDescriptor: fd)
    }

    private func finish(_ download: BlobDownload, temp: String, keep: Bool) {
        let digest = download.digest
        downloads[digest] = nil
        defer { for waiter in endWaiters.removeValue(forKey: digest) ?? [] { waiter.resume() } }
        reservedBytes -= download.size
        guard keep else {
            unlink(temp)
            return
        }
        guard rename(temp, path(of: digest)) == 0 else {
            logger.warning("cannot move a verified blob into the cache", metadata: [
                "digest": "\(digest)", "error": "\(String(cString: strerror(errno)))"])
            unlink(temp)
            return
        }
        clock += 1
        entries[digest] = Entry(size: download.size, lastUse: clock)
        usedBytes += download.size
        publishSize()
        logger.debug("cached blob", metadata: ["digest": "\(digest)", "bytes": "\(download.size)"])
    }

    /// Makes room for `size` more bytes within the quota and the disk's free space.
    private func reserve(_ size: Int64, for digest: Digest) -> Bool {
        guard size <= configuration.quota else {
            logger.warning("blob is larger than the whole cache; passing it through", metadata: [
                "digest": "\(digest)", "bytes": "\(size)", "quota": "\(configuration.quota)"])
            return false
        }
        guard evict(toFit: size) else {
            logger.warning("cache is full of blobs being read; passing this one through", metadata: [
                "digest": "\(digest)", "bytes": "\(size)"])
            return false
        }
        if let free = configuration.freeBytes(configuration.root), free - size < configuration.minimumFreeBytes {
            logger.warning("the cache disk is nearly full; passing the blob through uncached (lower --cache-size or free space)", metadata: [
                "digest": "\(digest)", "bytes": "\(size)", "freeBytes": "\(free)"])
            return false
        }
        reservedBytes += size
        return true
    }

    /// Evicts least recently used blobs nobody is reading until `size` more bytes fit.
    private func evict(toFit size: Int64) -> Bool {
        var victims: [(Digest, Entry)]?
        while usedBytes + reservedBytes + size > configuration.quota {
            if victims == nil {
                victims = entries.filter { readers[$0.key, default: 0] == 0 }.sorted { $0.value.lastUse > $1.value.lastUse }
            }
            guard let (digest, entry) = victims!.popLast() else { return false }
            unlink(path(of: digest))
            entries[digest] = nil
            usedBytes -= entry.size
            metrics?.evictions.increment()
            logger.debug("evicted blob", metadata: ["digest": "\(digest)", "bytes": "\(entry.size)"])
        }
        publishSize()
        return true
    }

    private func forget(_ digest: Digest) {
        if let entry = entries.removeValue(forKey: digest) { usedBytes -= entry.size }
        publishSize()
    }

    private func lease(_ digest: Digest, size: Int64, file: CacheFile) -> BlobLease {
        readers[digest, default: 0] += 1
        return BlobLease(digest: digest, size: size, file: file, cache: self, metrics: metrics)
    }

    /// Leases of `digest` not yet released.
    func readerCount(_ digest: Digest) -> Int { readers[digest, default: 0] }

    func release(_ digest: Digest) {
        let n = readers[digest, default: 1] - 1
        readers[digest] = n > 0 ? n : nil
        if n <= 0 { for waiter in releaseWaiters.removeValue(forKey: digest) ?? [] { waiter.resume() } }
    }

    private func publishSize() {
        metrics?.cacheSize.set(Double(usedBytes))
        metrics?.cacheBlobs.set(Double(entries.count))
    }

    public static func filesystemFreeBytes(_ path: String) -> Int64? {
        var s = statvfs()
        guard statvfs(path, &s) == 0 else { return nil }
        return Int64(s.f_bavail) * Int64(s.f_frsize)
    }

    private static func list(_ dir: String) -> [String] {
        guard let d = opendir(dir) else { return [] }
        defer { closedir(d) }
        var names: [String] = []
        while let e = readdir(d) {
            let name = withUnsafePointer(to: e.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: Int(NAME_MAX) + 1) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }
}

/// A reader's hold on a cached blob: its open file, and a count that keeps the blob
/// from being evicted until the reader is done.
final class BlobLease: Sendable {
    let digest: Digest
    let size: Int64
    let file: CacheFile
    let cache: BlobCache
    let metrics: AgentMetrics?

    init(digest: Digest, size: Int64, file: CacheFile, cache: BlobCache, metrics: AgentMetrics?) {
        self.digest = digest
        self.size = size
        self.file = file
        self.cache = cache
        self.metrics = metrics
    }

    deinit {
        let cache = self.cache, digest = self.digest
        Task { await cache.release(digest) }
    }
}
