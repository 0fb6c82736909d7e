/// A container image reference, parsed and normalised the way containerd and Kubernetes
/// do (`github.com/distribution/reference`, `ParseNormalizedNamed` + `TagNameOnly`).
///
/// `nginx` becomes `docker.io/library/nginx:latest`; `index.docker.io` becomes
/// `docker.io`; a reference with a digest keeps it, and keeps its tag if it had one.
/// `description` prints the normalised form, which parses back to an equal value.
public struct ImageReference: Hashable, Sendable, CustomStringConvertible {
    /// Registry host with optional port, e.g. `docker.io`, `localhost:5000`, `[::1]:5000`.
    public let domain: String
    /// Repository path inside the registry, e.g. `library/nginx`.
    public let repository: String
    /// The tag; `latest` when the input had neither tag nor digest.
    public let tag: String?
    public let digest: Digest?

    /// The registry every name without a domain belongs to.
    public static let defaultDomain = "docker.io"
    static let legacyDefaultDomain = "index.docker.io"
    static let officialRepositoryPrefix = "library/"
    /// distribution/reference `RepositoryNameTotalLengthMax`: the path, without the domain.
    public static let maxRepositoryLength = 255
    public static let maxTagLength = 128

    public init(domain: String, repository: String, tag: String?, digest: Digest?) {
        self.domain = domain
        self.repository = repository
        self.tag = tag
        self.digest = digest
    }

    /// Parses and normalises `text`.
    public init(parsing text: String) throws(ImageReferenceError) {
        self = try ImageReferenceParser(text).parse()
    }

    /// Whether `path` is a valid repository path (`[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*` components
    /// joined by `/`, at most 255 characters), as a registry route must check it.
    public static func isValidRepository(_ path: some StringProtocol) -> Bool {
        guard !path.isEmpty, path.count <= maxRepositoryLength else { return false }
        return path.split(separator: "/", omittingEmptySubsequences: false).allSatisfy { ImageReferenceParser.isPathComponent(Substring($0)) }
    }

    /// Whether `tag` is a valid tag (`[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`).
    public static func isValidTag(_ tag: some StringProtocol) -> Bool {
        guard let first = tag.first, tag.count <= maxTagLength else { return false }
        func word(_ c: Character) -> Bool { c.isASCII && (c.isLetter || c.isNumber || c == "_") }
        return word(first) && tag.allSatisfy { word($0) || $0 == "." || $0 == "-" }
    }

    /// `domain/repository`.
    public var name: String { "\(domain)/\(repository)" }

    /// What to ask the registry's manifest endpoint for: the digest if present, else the tag.
    public var manifestReference: String {
        if let digest { return digest.description }
        return tag ?? "latest"
    }

    public var description: String {
        var s = name
        if let tag { s += ":\(tag)" }
        if let digest { s += "@\(digest)" }
        return s
    }

    /// The same image under another registry domain, path, tag and digest unchanged.
    public func withDomain(_ newDomain: String) -> ImageReference {
        ImageReference(domain: newDomain, repository: repository, tag: tag, digest: digest)
    }
}
