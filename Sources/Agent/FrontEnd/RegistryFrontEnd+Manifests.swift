import HTTPTypes
import Hummingbird
import NIOCore
import OCI
import OCIClient

extension RegistryFrontEnd {
    /// Tags: always the origin's current answer. Digests: the cache, after the gate.
    func manifest(
        _ repository: Repository,
        reference: RegistryRoute.ManifestReference,
        request: Request,
        head: Bool,
        authorization: String?
    ) async throws(RegistryError) -> Response {
        do {
            return try await originManifest(repository, reference: reference, request: request, head: head, authorization: authorization)
        } catch {
            // The CNCF registry answers a manifest request for a blob's digest (a layer,
            // a config) with 500 UNKNOWN: it fails to parse the blob as a manifest. That is
            // an error about the request, so answer as the distribution spec says for a
            // digest that names no manifest (404 MANIFEST_UNKNOWN), once the origin has
            // shown, with the caller's own credentials, that the digest is a blob there and
            // is not a manifest. (Manifests are blobs too in that registry, so a real
            // manifest's 500, a passing storage failure, stays a 502 that clients retry.)
            guard case .digest(let digest) = reference, case .unexpectedStatus(_, 500, _) = error,
                  await isBlobButNoManifest(repository, digest: digest, authorization: authorization)
            else { throw error }
            throw .notFound(registry: repository.domain, repository: repository.path, reference: digest.description,
                            detail: "\(digest) is a blob of the repository, not a manifest")
        }
    }

    private func isBlobButNoManifest(_ repository: Repository, digest: Digest, authorization: String?) async -> Bool {
        guard let head = try? await client.headBlob(repository, digest: digest, authorization: .passThrough(authorization)) else { return false }
        let limit = client.configuration.maxManifestSize
        if let size = head.contentLength, size > Int64(limit) { return true }
        guard let blob = try? await client.blob(repository, digest: digest, authorization: .passThrough(authorization)) else { return false }
        var bytes: [UInt8] = []
        do {
            for try await chunk in blob.body {
                bytes += chunk.readableBytesView
                if bytes.count > limit { return true }
            }
        } catch { return false }
        return (try? ManifestDocument(data: bytes, contentType: nil)) == nil
    }

    private func originManifest(
        _ repository: Repository,
        reference: RegistryRoute.ManifestReference,
        request: Request,
        head: Bool,
        authorization: String?
    ) async throws(RegistryError) -> Response {
        let accept = request.headers[values: .accept].joined(separator: ", ")
        let acceptList = accept.isEmpty ? MediaType.manifestAccept : [accept]
        if case .digest(let digest) = reference, let manifests {
            let verdict = try await gate.check(.manifest(digest), in: repository, authorization: authorization)
            if head, let size = verdict.size, let type = verdict.contentType {
                return Self.manifestResponse(bytes: nil, contentType: type, digest: digest, size: size)
            }
            if let cached = await manifests.get(digest) {
                return Self.manifestResponse(bytes: head ? nil : cached.bytes, contentType: cached.contentType,
                                             digest: digest, size: Int64(cached.bytes.count))
            }
            // The client verifies the bytes against the digest (RegistryClient did too).
            let m = try await client.manifest(repository, reference: digest.description, method: .GET,
                                              accept: acceptList, authorization: .passThrough(authorization))
            await manifests.put(digest, bytes: m.bytes, contentType: m.contentType)
            return Self.manifestResponse(bytes: head ? nil : m.bytes, contentType: m.contentType, digest: digest, size: Int64(m.bytes.count))
        }
        let m = try await client.manifest(
            repository, reference: reference.description, method: head ? .HEAD : .GET,
            accept: acceptList, authorization: .passThrough(authorization))
        if !head, let digest = m.digest, let manifests {
            // A tag's bytes are also its digest's: a later by-digest request is a hit.
            await manifests.put(digest, bytes: m.bytes, contentType: m.contentType)
        }
        return Self.manifestResponse(bytes: head ? nil : m.bytes, contentType: m.contentType, digest: m.digest, size: m.size)
    }

    static func manifestResponse(bytes: [UInt8]?, contentType: String, digest: Digest?, size: Int64?) -> Response {
        var headers = apiHeaders([.contentType: contentType])
        if let digest { headers[.dockerContentDigest] = digest.description }
        if let size { headers[.contentLength] = String(size) }
        return Response(status: .ok, headers: headers, body: bytes.map { .init(byteBuffer: ByteBuffer(bytes: $0)) } ?? .init())
    }
}
