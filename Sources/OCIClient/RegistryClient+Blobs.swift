import AsyncHTTPClient
import NIOCore
import NIOHTTP1
import OCI

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
