import AsyncHTTPClient
import NIOCore

/// A stream of byte buffers that arrives over the network: iterate it once.
public struct ByteStream: AsyncSequence, Sendable {
    public typealias Element = ByteBuffer
    public typealias Failure = any Error

    private let makeUnderlying: @Sendable () -> AsyncThrowingStream<ByteBuffer, any Error>.AsyncIterator?
    private let responseBody: HTTPClientResponse.Body?

    init(_ body: HTTPClientResponse.Body) {
        self.responseBody = body
        self.makeUnderlying = { nil }
    }

    /// A stream backed by any async sequence of buffers (tests, in-memory sources).
    public init<S: AsyncSequence & Sendable>(_ sequence: S) where S.Element == ByteBuffer {
        self.responseBody = nil
        self.makeUnderlying = {
            let stream = AsyncThrowingStream<ByteBuffer, any Error> { continuation in
                let task = Task {
                    do {
                        for try await b in sequence { continuation.yield(b) }
                        continuation.finish()
                    } catch { continuation.finish(throwing: error) }
                }
                continuation.onTermination = { _ in task.cancel() }
            }
            return stream.makeAsyncIterator()
        }
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        var http: HTTPClientResponse.Body.AsyncIterator?
        var other: AsyncThrowingStream<ByteBuffer, any Error>.AsyncIterator?

        public mutating func next() async throws -> ByteBuffer? {
            if http != nil { return try await http!.next() }
            return try await other?.next()
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        if let responseBody { return AsyncIterator(http: responseBody.makeAsyncIterator(), other: nil) }
        return AsyncIterator(http: nil, other: makeUnderlying())
    }
}
