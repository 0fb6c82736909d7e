import Foundation
import OCI

/// A request path of the distribution pull API, validated before anything touches the
/// origin or the disk: names against the repository grammar, digests in canonical form.
public enum RegistryRoute: Equatable, Sendable {
    case base
    case manifest(repository: String, reference: ManifestReference)
    case blob(repository: String, digest: Digest)

    public enum ManifestReference: Equatable, Sendable, CustomStringConvertible {
        case tag(String)
        case digest(Digest)

        public var description: String {
            switch self {
            case .tag(let t): t
            case .digest(let d): d.description
            }
        }
    }

    /// Parses `/v2/…`; errors carry the OCI error code and the status to answer with.
    public static func parse(path: String) -> Result<RegistryRoute, OCIErrorResponse> {
        guard path.utf8.count <= 2048 else { return .failure(.init(status: 414, code: "NAME_INVALID", message: "request path too long")) }
        if path == "/v2" || path == "/v2/" { return .success(.base) }
        guard path.hasPrefix("/v2/") else { return .failure(.init(status: 404, code: "NOT_FOUND", message: "not a distribution API path")) }
        let rest = path.dropFirst(4)
        for (marker, isManifest) in [("/manifests/", true), ("/blobs/", false)] {
            guard let range = rest.range(of: marker, options: .backwards) else { continue }
            let name = rest[..<range.lowerBound]
            let reference = rest[range.upperBound...]
            guard ImageReference.isValidRepository(name) else {
                return .failure(.init(status: 400, code: "NAME_INVALID", message: "invalid repository name"))
            }
            if isManifest {
                if reference.contains(":") {
                    guard let d = try? Digest(parsing: reference) else {
                        return .failure(.init(status: 400, code: "DIGEST_INVALID", message: "invalid manifest digest"))
                    }
                    return .success(.manifest(repository: String(name), reference: .digest(d)))
                }
                guard ImageReference.isValidTag(reference) else {
                    return .failure(.init(status: 400, code: "TAG_INVALID", message: "invalid tag"))
                }
                return .success(.manifest(repository: String(name), reference: .tag(String(reference))))
            }
            guard let d = try? Digest(parsing: reference) else {
                return .failure(.init(status: 400, code: "DIGEST_INVALID", message: "invalid blob digest (sha256:<64 hex> or sha512:<128 hex>)"))
            }
            return .success(.blob(repository: String(name), digest: d))
        }
        return .failure(.init(status: 404, code: "UNSUPPORTED", message: "only manifest and blob pulls are served"))
    }
}
