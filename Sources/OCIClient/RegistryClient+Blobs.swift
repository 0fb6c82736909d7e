import AsyncHTTPClient
import NIOCore
import NIOHTTP1
import OCI

/// A blob response whose body has not been read yet.
public struct BlobResponse: Sendable {
    /// 200 for the whole blob, 206 for a range.
    public var status: Int
    /// Bytes in this response's body (the whole blob for 200, the range for 206).
    public var contentLength: Int64?
    public var contentRange: ContentRange?
    /// The registry's `Docker-Content-Digest`, when sent.
    public var announcedDigest: Digest?
    public var contentType: String?
    /// The body, streamed as it arrives.
    public var body: ByteStream

    public init(status: Int, contentLength: Int64?, contentRange: ContentRange? = nil, announcedDigest: Digest? = nil,
                contentType: String? = nil, body: ByteStream) {
        self.status = status
        self.contentLength = contentLength
        self.contentRange = contentRange
        self.announcedDigest = announcedDigest
        self.contentType = contentType
        self.body = body
    }
}

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

extension RegistryClient {
    /// `GET /v2/<name>/blobs/<digest>`, optionally for a `Range`. The body is streamed;
    /// the caller verifies it (see `DigestVerifier`), since only the caller sees all bytes.
    public func blob(
        _ repository: Repository,
        digest: Digest,
        range: ByteRange? = nil,
        authorization: RegistryAuthorization = .anonymous
    ) async throws(RegistryError) -> BlobResponse {
        var headers = HTTPHeaders()
        headers.add(name: "Accept", value: "*/*")
        if let range { headers.add(name: "Range", value: range.headerValue) }
        let response = try await send(
            .GET, domain: repository.domain, repository: repository, path: "\(repository.path)/blobs/\(digest)",
            headers: headers, authorization: authorization, timeout: configuration.blobTimeout)
        if response.status.code == 416, let range {
            _ = await Self.errorDetail(of: response)
            throw .rangeNotSatisfiable(registry: repository.domain, repository: repository.path, digest: digest, range: range)
        }
        try await Self.check(response, repository: repository, reference: digest.description)
        return try Self.blobResponse(response, registry: repository.domain)
    }

    /// `HEAD /v2/<name>/blobs/<digest>`: existence and size, no body.
    public func headBlob(
        _ repository: Repository,
        digest: Digest,
        authorization: RegistryAuthorization = .anonymous
    ) async throws(RegistryError) -> BlobResponse {
        let response = try await send(
            .HEAD, domain: repository.domain, repository: repository, path: "\(repository.path)/blobs/\(digest)",
            authorization: authorization, timeout: configuration.requestTimeout)
        try await Self.check(response, repository: repository, reference: digest.description)
        return try Self.blobResponse(response, registry: repository.domain)
    }

    static func blobResponse(_ response: HTTPClientResponse, registry: String) throws(RegistryError) -> BlobResponse {
        let contentRange = response.headers.first(name: "Content-Range").flatMap(ContentRange.init(parsing:))
        if response.status.code == 206, contentRange == nil {
            throw .invalidResponse(registry: registry, detail: "206 without a valid Content-Range")
        }
        return BlobResponse(
            status: Int(response.status.code),
            contentLength: response.headers.first(name: "Content-Length").flatMap { Int64($0) },
            contentRange: contentRange,
            announcedDigest: try announcedDigest(response, registry: registry),
            contentType: response.headers.first(name: "Content-Type"),
            body: ByteStream(response.body))
    }
}
