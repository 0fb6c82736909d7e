import NIOCore
import OCI

/// Passes buffers through once the shared bucket lets their bytes go.
struct RateLimitedStream: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let base: ByteStream
    let bucket: TokenBucket

    struct AsyncIterator: AsyncIteratorProtocol {
        var base: ByteStream.AsyncIterator
        let bucket: TokenBucket

        mutating func next() async throws -> ByteBuffer? {
            guard let buffer = try await base.next() else { return nil }
            try await bucket.acquire(buffer.readableBytes)
            return buffer
        }
    }

    func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: base.makeAsyncIterator(), bucket: bucket)
    }
}
