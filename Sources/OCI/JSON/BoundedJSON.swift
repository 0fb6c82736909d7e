import Foundation

/// JSON decoding for bytes that came from the network: the nesting depth and the size
/// are checked before Foundation's decoder sees the input.
///
/// Why: Foundation's JSON scanner (swift-foundation, Swift 6.x) traps with SIGILL when an
/// array reaches its 512-level limit at the very last byte of the input (its error
/// reporting indexes one past the end), so a 513-byte body of `[` kills the process. A
/// linear pre-scan that refuses anything nested deeper than any document PeerPull reads
/// (Kubernetes objects, manifests, token responses, peer messages: a few dozen levels)
/// keeps every such input away from that limit, and costs well under 1 ns per byte.
public enum BoundedJSON {
    /// Deeper than any Kubernetes object or OCI document, far below Foundation's 512.
    public static let defaultMaximumDepth = 128

    /// Why an input was refused before decoding.
    public enum Refusal: Error, Equatable, CustomStringConvertible {
        case tooDeep(limit: Int)
        case tooLarge(bytes: Int, limit: Int)
        /// UTF-16 or UTF-32 (a NUL byte or a byte-order mark): RFC 8259 requires UTF-8.
        case notUTF8

        public var description: String {
            switch self {
            case .tooDeep(let limit): "JSON nested deeper than \(limit) levels"
            case .tooLarge(let bytes, let limit): "JSON of \(bytes) bytes is larger than the \(limit)-byte limit"
            case .notUTF8: "JSON that is not UTF-8 (RFC 8259 §8.1)"
            }
        }
    }

    /// Decodes `bytes` as `T` after `check`; throws a `Refusal` or the decoder's error.
    public static func decode<T: Decodable>(
        _ type: T.Type, from bytes: some Sequence<UInt8>,
        maximumDepth: Int = defaultMaximumDepth, maximumBytes: Int = .max
    ) throws -> T {
        let data = bytes as? Data ?? Data(bytes)
        try check(data, maximumDepth: maximumDepth, maximumBytes: maximumBytes)
        return try JSONDecoder().decode(type, from: data)
    }

    /// Refuses `data` when it is larger than `maximumBytes`, is not UTF-8, or any array or
    /// object in it (outside strings) opens more than `maximumDepth` levels deep. It does
    /// not check that `data` is JSON: the decoder does that.
    ///
    /// Foundation's decoder also reads UTF-16 and UTF-32 (told by a byte-order mark or by
    /// the zero bytes of the first characters) and converts them before parsing; a byte
    /// scan of such input would see the wrong quotes and brackets. RFC 8259 §8.1 requires
    /// UTF-8 between systems, so any NUL byte or UTF-16/32 byte-order mark is refused.
    public static func check(_ data: Data, maximumDepth: Int = defaultMaximumDepth, maximumBytes: Int = .max) throws(Refusal) {
        guard data.count <= maximumBytes else { throw .tooLarge(bytes: data.count, limit: maximumBytes) }
        if data.count >= 2, (data[data.startIndex] == 0xFE && data[data.startIndex + 1] == 0xFF)
            || (data[data.startIndex] == 0xFF && data[data.startIndex + 1] == 0xFE) {
            throw .notUTF8
        }
        let deepest = data.withUnsafeBytes { raw -> Int? in
            var depth = 0
            var inString = false
            var escaped = false
            for byte in raw {
                if byte == 0 { return -1 }
                if inString {
                    if escaped { escaped = false }
                    else if byte == UInt8(ascii: "\\") { escaped = true }
                    else if byte == UInt8(ascii: "\"") { inString = false }
                    continue
                }
                switch byte {
                case UInt8(ascii: "\""): inString = true
                case UInt8(ascii: "["), UInt8(ascii: "{"):
                    depth += 1
                    if depth > maximumDepth { return nil }
                case UInt8(ascii: "]"), UInt8(ascii: "}"): depth -= 1
                default: break
                }
            }
            return depth
        }
        switch deepest {
        case nil: throw .tooDeep(limit: maximumDepth)
        case -1: throw .notUTF8
        default: break
        }
    }
}
