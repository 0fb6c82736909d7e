import Crypto
import OCI

/// The SHA-256 of one piece: what the agent that fetched the piece from the origin
/// computed, published through the coordinators, and checked by every agent that
/// receives the piece from a peer before the bytes are written, served or forwarded.
/// Four words, so a blob's hashes are one flat array.
public struct PieceHash: Hashable, Sendable, CustomStringConvertible {
    public let words: (UInt64, UInt64, UInt64, UInt64)

    public init(_ digest: SHA256.Digest) {
        self = digest.withUnsafeBytes { PieceHash(bytes: $0)! }
    }

    /// From exactly 32 bytes.
    public init?(bytes: some Collection<UInt8>) {
        guard bytes.count == 32 else { return nil }
        var w: [UInt64] = [0, 0, 0, 0]
        for (i, b) in bytes.enumerated() { w[i >> 3] = w[i >> 3] << 8 | UInt64(b) }
        words = (w[0], w[1], w[2], w[3])
    }

    /// From 64 lower-case hex characters.
    public init?(hex: some StringProtocol) {
        guard let bytes = Hex.decode(hex, count: 32) else { return nil }
        self.init(bytes: bytes)
    }

    /// The hash of `bytes`.
    public init(hashing bytes: UnsafeRawBufferPointer) { self.init(SHA256.hash(data: bytes)) }
    public init(hashing bytes: [UInt8]) { self.init(SHA256.hash(data: bytes)) }

    public var bytes: [UInt8] {
        [words.0, words.1, words.2, words.3].flatMap { w in (0..<8).reversed().map { UInt8(truncatingIfNeeded: w >> (UInt64($0) * 8)) } }
    }

    public var hex: String { Hex.encode(bytes) }

    public var description: String { String(hex.prefix(12)) }

    public static func == (a: PieceHash, b: PieceHash) -> Bool { a.words == b.words }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(words.0)
        hasher.combine(words.1)
        hasher.combine(words.2)
        hasher.combine(words.3)
    }
}

