/// The bytes received do not hash to the digest they were requested by.
public struct DigestMismatch: Error, Equatable, Sendable, CustomStringConvertible {
    public let expected: Digest
    public let actual: Digest
    public let size: Int64

    public var description: String {
        "digest mismatch: expected \(expected), got \(actual) over \(size) bytes; the content was corrupted or tampered with in transit or at the source"
    }
}
