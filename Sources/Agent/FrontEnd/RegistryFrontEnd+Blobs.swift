import HTTPTypes
import Hummingbird
import NIOCore
import OCI
import OCIClient

extension RegistryFrontEnd {
    /// Blobs: the gate first, then the cache (complete, or joining the one download in
    /// flight), else the origin passed through and verified on the way.
    func blob(
        _ repository: Repository,
        digest: Digest,
        request: Request,
        head: Bool,
        authorization: String?
    ) async throws(RegistryError) -> Response {
        let verdict = try await gate.check(.blob(digest), in: repository, authorization: authorization)
        let rangeHeader = request.headers[.range]
        if head {
            var headers = Self.blobHeaders(digest)
            if let size = verdict.size { headers[.contentLength] = String(size) }
            return Response(status: .ok, headers: headers, body: .init())
        }
        let fetch: @Sendable (ByteRange?) async throws -> BlobResponse = { [client] range in
            try await client.blob(repository, digest: digest, range: range, authorization: .passThrough(authorization))
        }
        if let rangeHeader, case .single(let range) = ByteRange.parse(rangeHeader) {
            return try await rangeResponse(range, digest: digest, size: verdict.size, fetch: fetch)
        }
        // No Range, or one the agent does not serve (malformed, several ranges): RFC 9110
        // §14.2 lets a server ignore it and send the whole blob, which then comes from the
        // cache like any other request, never from a fresh origin fetch per request.
        guard let cache, let size = verdict.size else {
            metrics.cacheRequest(.bypass)
            return try await passThrough(digest: digest, size: verdict.size, fetch: fetch)
        }
        let (lookup, result) = await cache.lookup(digest, size: size, fetch: fetch)
        metrics.cacheRequest(result)
        logger.info("blob", metadata: ["repository": "\(repository)", "digest": "\(digest)", "cache": "\(result.rawValue)"])
        var headers = Self.blobHeaders(digest)
        headers[.contentLength] = String(size)
        switch lookup {
        case .complete(let lease):
            return Response(status: .ok, headers: headers, body: .init(asyncSequence: CachedBlobStream(lease: lease, start: 0, end: size)))
        case .downloading(let lease, let download):
            let bucket = self.bucket
            let stream = DownloadingBlobStream(lease: lease, download: download) { offset in
                let response = try await fetch(offset > 0 ? .from(first: offset) : nil)
                guard offset == 0 || response.contentRange?.first == offset else {
                    throw RegistryError.invalidResponse(registry: repository.domain, detail: "ignored Range bytes=\(offset)- while the agent resumed a blob")
                }
                return ByteStream(RateLimitedStream(base: response.body, bucket: bucket))
            }
            return Response(status: .ok, headers: headers, body: .init(asyncSequence: stream))
        case nil:
            return try await passThrough(digest: digest, size: size, fetch: fetch)
        }
    }

    /// A whole blob straight from the origin, hashed on the way (see `VerifyingBlobStream`).
    private func passThrough(
        digest: Digest, size: Int64?, fetch: @Sendable (ByteRange?) async throws -> BlobResponse
    ) async throws(RegistryError) -> Response {
        let blob = try await call { try await fetch(nil) }
        var headers = Self.blobHeaders(digest)
        guard let length = blob.contentLength ?? size else {
            return Response(status: .ok, headers: headers, body: .init(asyncSequence: RateLimitedStream(base: blob.body, bucket: bucket)))
        }
        headers[.contentLength] = String(length)
        let stream = VerifyingBlobStream(base: blob.body, digest: digest, size: length, metrics: metrics, bucket: bucket)
        return Response(status: .ok, headers: headers, body: .init(asyncSequence: stream))
    }

    /// One `Range`: served from a complete cached blob; otherwise resolved against the
    /// size the origin reported (so an unsatisfiable range is a 416 with
    /// `Content-Range: bytes */size`, as from the cache) and only that span is asked of the
    /// origin. A part of a blob cannot be verified on its own; the client checks the whole.
    private func rangeResponse(
        _ range: ByteRange, digest: Digest, size: Int64?, fetch: @Sendable (ByteRange?) async throws -> BlobResponse
    ) async throws(RegistryError) -> Response {
        var headers = Self.blobHeaders(digest)
        if let cache, let lease = await cache.open(digest) {
            metrics.cacheRequest(.hit)
            guard let span = range.resolve(size: lease.size) else { return Self.unsatisfiable(range, size: lease.size, headers: headers) }
            headers[.contentLength] = String(span.count)
            headers[.contentRange] = ContentRange(first: span.lowerBound, last: span.upperBound, completeLength: lease.size).description
            return Response(status: .partialContent, headers: headers,
                            body: .init(asyncSequence: CachedBlobStream(lease: lease, start: span.lowerBound, end: span.upperBound + 1)))
        }
        metrics.cacheRequest(.bypass)
        var asked = range
        if let size {
            guard let span = range.resolve(size: size) else { return Self.unsatisfiable(range, size: size, headers: headers) }
            asked = .closed(first: span.lowerBound, last: span.upperBound)
        }
        let blob: BlobResponse
        do { blob = try await call { try await fetch(asked) } } catch {
            if case .rangeNotSatisfiable = error, let size { return Self.unsatisfiable(range, size: size, headers: headers) }
            throw error
        }
        if let length = blob.contentLength { headers[.contentLength] = String(length) }
        if let cr = blob.contentRange { headers[.contentRange] = cr.description }
        let stream = RateLimitedStream(base: blob.body, bucket: bucket, metrics: metrics)
        return Response(status: blob.status == 206 ? .partialContent : .ok, headers: headers, body: .init(asyncSequence: stream))
    }

    static func unsatisfiable(_ range: ByteRange, size: Int64, headers: HTTPFields) -> Response {
        var headers = headers
        headers[.contentRange] = "bytes */\(size)"
        return Self.error(.init(status: 416, code: "RANGE_INVALID", message: "range \(range) is outside the blob's \(size) bytes"), headers: headers)
    }

    private func call(_ body: () async throws -> BlobResponse) async throws(RegistryError) -> BlobResponse {
        do { return try await body() } catch let e as RegistryError { throw e } catch {
            throw .transport(registry: "origin", detail: "\(error)")
        }
    }

    static func blobHeaders(_ digest: Digest) -> HTTPFields {
        var headers = apiHeaders([.contentType: "application/octet-stream", .acceptRanges: "bytes"])
        headers[.dockerContentDigest] = digest.description
        return headers
    }
}
