import NIOCore
import OCI
import OCIClient

/// Passes origin bytes through once the shared bucket lets them go (and counts them).
struct RateLimitedStream: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let base: ByteStream
    let bucket: TokenBucket?
    var metrics: AgentMetrics? = nil

    struct AsyncIterator: AsyncIteratorProtocol {
        var base: ByteStream.AsyncIterator
        let bucket: TokenBucket?
        let metrics: AgentMetrics?

        mutating func next() async throws -> ByteBuffer? {
            guard let buffer = try await base.next() else { return nil }
            try await bucket?.acquire(buffer.readableBytes)
            metrics?.received(buffer.readableBytes, from: .origin)
            metrics?.served(buffer.readableBytes, from: .origin)
            return buffer
        }
    }

    func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: base.makeAsyncIterator(), bucket: bucket, metrics: metrics)
    }
}
