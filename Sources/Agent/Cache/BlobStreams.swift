import NIOCore
import OCI
import OCIClient

/// Bytes `[start, end)` of a complete, verified blob in the cache.
struct CachedBlobStream: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let lease: BlobLease
    let start: Int64
    let end: Int64
    // 512 KiB: few thread-pool hops per blob, and with one buffer at the socket and one
    // being read, five parallel layer pulls keep the agent under 64 MiB RSS.
    static let chunkSize = 1 << 19

    struct AsyncIterator: AsyncIteratorProtocol {
        let lease: BlobLease
        var offset: Int64
        let end: Int64
        /// The buffer sent last; its memory is reused once the socket has let it go.
        var spare: ByteBuffer?

        mutating func next() async throws -> ByteBuffer? {
            guard offset < end else { spare = nil; return nil }
            let count = Int(Swift.min(Int64(CachedBlobStream.chunkSize), end - offset))
            let buffer = try await lease.file.read(at: offset, count: count, reusing: &spare)
            spare = buffer
            offset += Int64(count)
            lease.metrics?.served(count, from: .cache)
            return buffer
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(lease: lease, offset: start, end: end, spare: nil) }
}

/// A whole blob streamed from a download in progress. If the shared download fails,
/// the reader re-hashes what it already sent and continues from the origin with a Range
/// request, withholding the final byte until the whole blob verifies.
struct DownloadingBlobStream: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let lease: BlobLease
    let download: BlobDownload
    /// Fetches the blob from the origin from an offset (0 for the whole blob).
    let resume: @Sendable (Int64) async throws -> ByteStream

    struct AsyncIterator: AsyncIteratorProtocol {
        let stream: DownloadingBlobStream
        var offset: Int64 = 0
        var fallback: VerifyingBlobStream.AsyncIterator?
        /// For reads from the file (see `CachedBlobStream`).
        var spare: ByteBuffer?

        mutating func next() async throws -> ByteBuffer? {
            if fallback != nil { return try await fallback!.next() }
            switch await stream.download.decision(at: offset) {
            case .read(let upTo):
                let buffer: ByteBuffer
                if let recent = stream.download.recentBytes(at: offset, upTo: upTo, count: CachedBlobStream.chunkSize) {
                    buffer = recent
                } else {
                    let count = Int(Swift.min(Int64(CachedBlobStream.chunkSize), upTo - offset))
                    buffer = try await stream.lease.file.read(at: offset, count: count, reusing: &spare)
                    spare = buffer
                }
                stream.lease.metrics?.served(buffer.readableBytes, from: stream.download.source(at: offset))
                offset += Int64(buffer.readableBytes)
                return buffer
            case .end, .wait:
                return nil
            case .failed:
                var verifier = DigestVerifier(for: stream.download.digest)
                var position: Int64 = 0
                while position < offset {
                    let count = Int(Swift.min(Int64(CachedBlobStream.chunkSize), offset - position))
                    let buffer = try await stream.lease.file.read(at: position, count: count, reusing: &spare)
                    buffer.withUnsafeReadableBytes { verifier.update($0) }
                    position += Int64(count)
                }
                let body = try await stream.resume(offset)
                fallback = VerifyingBlobStream(
                    base: body, digest: stream.download.digest, size: stream.download.size,
                    offset: offset, verifier: verifier, metrics: stream.lease.metrics
                ).makeAsyncIterator()
                return try await fallback!.next()
            }
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(stream: self) }
}

/// A blob (or its tail) from the origin, hashed as it passes: the chunk holding the
/// final byte is released only once the whole blob has matched its digest, and a short
/// or long body is an error, so a client never receives a complete wrong blob.
struct VerifyingBlobStream: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let base: ByteStream
    let digest: Digest
    let size: Int64
    /// Where `base` starts within the blob; `verifier` has hashed the bytes before it.
    var offset: Int64 = 0
    var verifier: DigestVerifier
    let metrics: AgentMetrics?
    var bucket: TokenBucket? = nil

    init(base: ByteStream, digest: Digest, size: Int64, offset: Int64 = 0, verifier: DigestVerifier? = nil,
         metrics: AgentMetrics?, bucket: TokenBucket? = nil) {
        self.base = base
        self.digest = digest
        self.size = size
        self.offset = offset
        self.verifier = verifier ?? DigestVerifier(for: digest)
        self.metrics = metrics
        self.bucket = bucket
    }

    struct AsyncIterator: AsyncIteratorProtocol {
        var base: ByteStream.AsyncIterator
        let digest: Digest
        let size: Int64
        var offset: Int64
        var verifier: DigestVerifier
        let metrics: AgentMetrics?
        let bucket: TokenBucket?

        mutating func next() async throws -> ByteBuffer? {
            guard let buffer = try await base.next() else {
                guard offset == size else { throw BlobIntegrityError.truncated(digest: digest, received: offset, size: size) }
                return nil
            }
            try await bucket?.acquire(buffer.readableBytes)
            metrics?.received(buffer.readableBytes, from: .origin)
            buffer.withUnsafeReadableBytes { verifier.update($0) }
            offset += Int64(buffer.readableBytes)
            if offset > size { throw BlobIntegrityError.tooLong(digest: digest, size: size) }
            if offset == size {
                let actual = verifier.finalize()
                guard actual == digest else { throw BlobIntegrityError.mismatch(digest: digest, actual: actual) }
            }
            metrics?.served(buffer.readableBytes, from: .origin)
            return buffer
        }
    }

    func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: base.makeAsyncIterator(), digest: digest, size: size, offset: offset,
                      verifier: verifier, metrics: metrics, bucket: bucket)
    }
}

/// Why a blob stream was cut off before its end.
public enum BlobIntegrityError: Error, Sendable, CustomStringConvertible {
    case truncated(digest: Digest, received: Int64, size: Int64)
    case tooLong(digest: Digest, size: Int64)
    case mismatch(digest: Digest, actual: Digest)

    public var description: String {
        switch self {
        case .truncated(let d, let r, let s): "the origin sent \(r) of \(s) bytes of \(d); the transfer was cut off"
        case .tooLong(let d, let s): "the origin sent more than the \(s) bytes of \(d)"
        case .mismatch(let d, let a): "the origin's bytes for \(d) hash to \(a); refusing to complete the transfer"
        }
    }
}
