import Crypto

/// A content digest such as `sha256:6c3c…`, accepted only in its exact canonical form.
///
/// Only `sha256` and `sha512` are accepted, with lower-case hex of exactly 64 or 128
/// characters, so a digest taken from a request can be used in a file path without
/// ever becoming `../` or anything else outside `[0-9a-f]`.
public struct Digest: Hashable, Sendable, CustomStringConvertible, Codable {
    public enum Algorithm: String, Sendable, CaseIterable, Codable {
        case sha256
        case sha512

        /// Number of hex characters in an encoded digest of this algorithm.
        public var hexLength: Int {
            switch self {
            case .sha256: 64
            case .sha512: 128
            }
        }
    }

    public let algorithm: Algorithm
    /// Lower-case hex, exactly `algorithm.hexLength` characters.
    public let hex: String

    /// Parses `algorithm:hex`, rejecting anything not in canonical form.
    public init(parsing text: some StringProtocol) throws(DigestError) {
        let text = String(text)
        guard let colon = text.firstIndex(of: ":") else {
            throw DigestError(input: text, problem: .missingAlgorithm)
        }
        let algorithmText = String(text[..<colon])
        guard let algorithm = Algorithm(rawValue: algorithmText) else {
            throw DigestError(input: text, problem: .unsupportedAlgorithm(algorithmText))
        }
        let hex = text[text.index(after: colon)...]
        guard hex.utf8.count == algorithm.hexLength else {
            throw DigestError(input: text, problem: .wrongLength(expected: algorithm.hexLength, actual: hex.utf8.count))
        }
        if let bad = hex.utf8.firstIndex(where: { Hex.nibble($0) == nil }) {
            let offset = algorithmText.utf8.count + 1 + hex.utf8.distance(from: hex.utf8.startIndex, to: bad)
            throw DigestError(input: text, problem: .invalidHexCharacter(offset: offset))
        }
        self.algorithm = algorithm
        self.hex = String(hex)
    }

    /// A digest from raw hash output.
    public init<D: Crypto.Digest>(algorithm: Algorithm, hash: D) {
        self.algorithm = algorithm
        self.hex = Hex.encode(hash)
    }

    /// The digest of `bytes`.
    public static func compute(_ algorithm: Algorithm = .sha256, of bytes: some Sequence<UInt8>) -> Digest {
        var verifier = DigestVerifier(algorithm: algorithm)
        verifier.update(Array(bytes))
        return verifier.finalize()
    }

    public var description: String { "\(algorithm.rawValue):\(hex)" }

    /// The relative path of this blob in an OCI image layout (`blobs/sha256/<hex>`).
    public var layoutPath: String { "blobs/\(algorithm.rawValue)/\(hex)" }

    /// True for a syntactically valid digest string.
    public static func isValid(_ text: some StringProtocol) -> Bool {
        (try? Digest(parsing: text)) != nil
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        do {
            self = try Digest(parsing: text)
        } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: error.description))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
