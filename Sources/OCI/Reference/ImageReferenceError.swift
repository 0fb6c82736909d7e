/// Why an image reference was refused, and where in the input.
public struct ImageReferenceError: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Problem: Equatable, Sendable {
        case empty
        case hexIdentifier
        case uppercaseRepository(String)
        case invalidDomain(String)
        case invalidPort(String)
        case invalidPathComponent(String)
        case repositoryTooLong(Int)
        case invalidTag(String)
        case tagTooLong(Int)
        case invalidDigest(DigestError)
        case invalidCharacter(Character)
    }

    public let input: String
    public let problem: Problem
    /// Character offset in `input` where the problem starts.
    public let offset: Int

    public var description: String {
        let shown = input.count > 100 ? String(input.prefix(100)) + "…" : input
        let what: String
        switch problem {
        case .empty: what = "reference is empty"
        case .hexIdentifier: what = "a 64-character hex string is an image ID, not a repository name"
        case .uppercaseRepository(let r): what = "repository name \"\(r)\" must be lowercase"
        case .invalidDomain(let d): what = "registry domain \"\(d)\" is not a valid host name, IPv4 address or bracketed IPv6 address"
        case .invalidPort(let p): what = "port \"\(p)\" must be decimal digits"
        case .invalidPathComponent(let c): what = "path component \"\(c)\" must be lower-case letters and digits separated by '.', '_', '__' or '-'"
        case .repositoryTooLong(let n): what = "repository name is \(n) characters; at most \(ImageReference.maxRepositoryLength) are allowed"
        case .invalidTag(let t): what = "tag \"\(t)\" must start with a letter, digit or '_' and contain only letters, digits, '_', '.' and '-'"
        case .tagTooLong(let n): what = "tag is \(n) characters; at most \(ImageReference.maxTagLength) are allowed"
        case .invalidDigest(let e): what = e.description
        case .invalidCharacter(let c): what = "unexpected character \(String(reflecting: String(c)))"
        }
        return "invalid image reference \"\(shown)\" at offset \(offset): \(what)"
    }
}
