import AsyncHTTPClient
import NIOCore
import NIOHTTP1
import OCI

/// A manifest as the registry sent it: exact bytes and the headers a proxy must pass through.
public struct ManifestResponse: Sendable {
    /// The body, exactly as received (empty for HEAD).
    public var bytes: [UInt8]
    public var contentType: String
    /// The manifest's digest: computed from the body for GET (and checked against the
    /// registry's `Docker-Content-Digest`), taken from that header for HEAD.
    public var digest: Digest?
    public var size: Int64?

    /// Decodes the body.
    public func document() throws(ManifestError) -> ManifestDocument {
        try ManifestDocument(data: bytes, contentType: contentType)
    }
}

extension RegistryClient {
    /// `GET` or `HEAD /v2/<name>/manifests/<reference>`, with the `Accept` list containerd sends.
    /// A manifest fetched by digest must hash to that digest; one fetched by tag must hash
    /// to the `Docker-Content-Digest` the registry announces.
    public func manifest(
        _ repository: Repository,
        reference: String,
        method: HTTPMethod = .GET,
        accept: [String] = MediaType.manifestAccept,
        authorization: RegistryAuthorization = .anonymous
    ) async throws(RegistryError) -> ManifestResponse {
        var headers = HTTPHeaders()
        headers.add(name: "Accept", value: accept.joined(separator: ", "))
        let response = try await send(
            method, domain: repository.domain, repository: repository, path: "\(repository.path)/manifests/\(reference)",
            headers: headers, authorization: authorization, timeout: configuration.requestTimeout)
        try await Self.check(response, repository: repository, reference: reference)

        let contentType = response.headers.first(name: "Content-Type") ?? ""
        let announced = try Self.announcedDigest(response, registry: repository.domain)
        let length = response.headers.first(name: "Content-Length").flatMap { Int64($0) }
        if method == .HEAD {
            return ManifestResponse(bytes: [], contentType: contentType, digest: announced, size: length)
        }
        if let length, length > configuration.maxManifestSize {
            throw .manifestTooLarge(registry: repository.domain, repository: repository.path, limit: configuration.maxManifestSize)
        }
        let body: ByteBuffer
        do {
            body = try await response.body.collect(upTo: configuration.maxManifestSize)
        } catch is NIOTooManyBytesError {
            throw .manifestTooLarge(registry: repository.domain, repository: repository.path, limit: configuration.maxManifestSize)
        } catch {
            throw .transport(registry: repository.domain, detail: "manifest body: \(error)")
        }
        let bytes = Array(buffer: body)
        let expected = (try? Digest(parsing: reference)) ?? announced
        var verifier = DigestVerifier(algorithm: expected?.algorithm ?? .sha256)
        verifier.update(bytes)
        if let expected {
            do { try verifier.verify(expected) } catch {
                throw .digestMismatch(registry: repository.domain, repository: repository.path, error)
            }
        }
        return ManifestResponse(bytes: bytes, contentType: contentType, digest: verifier.finalize(), size: Int64(bytes.count))
    }

    /// Maps a non-success status to a typed error (consuming the small error body).
    static func check(_ response: HTTPClientResponse, repository: Repository, reference: String) async throws(RegistryError) {
        let status = Int(response.status.code)
        if (200...299).contains(status) { return }
        let detail = await errorDetail(of: response)
        switch status {
        case 401:
            throw .unauthorized(registry: repository.domain, repository: repository.path, challenge: response.headers.first(name: "WWW-Authenticate"), detail: detail)
        case 403:
            throw .denied(registry: repository.domain, repository: repository.path, detail: detail)
        case 404:
            throw .notFound(registry: repository.domain, repository: repository.path, reference: reference, detail: detail)
        default:
            throw .unexpectedStatus(registry: repository.domain, status: status, detail: detail)
        }
    }

    static func announcedDigest(_ response: HTTPClientResponse, registry: String) throws(RegistryError) -> Digest? {
        guard let header = response.headers.first(name: "Docker-Content-Digest") else { return nil }
        do { return try Digest(parsing: header) } catch {
            throw .invalidResponse(registry: registry, detail: "Docker-Content-Digest: \(error.description)")
        }
    }
}
