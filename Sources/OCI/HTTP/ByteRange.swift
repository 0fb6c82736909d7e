/// One byte range of an HTTP `Range` header (RFC 9110 §14.1.2).
///
/// Hand-written because Hummingbird's file helper treats `bytes=-N` as the first N+1
/// bytes; RFC 9110 says a suffix range is the *last* N bytes.
public enum ByteRange: Hashable, Sendable, CustomStringConvertible {
    /// `bytes=first-last`, both inclusive.
    case closed(first: Int64, last: Int64)
    /// `bytes=first-`: from `first` to the end.
    case from(first: Int64)
    /// `bytes=-length`: the last `length` bytes.
    case suffix(length: Int64)

    /// The header value, e.g. `bytes=0-1023`.
    public var headerValue: String { "bytes=\(spec)" }

    private var spec: String {
        switch self {
        case .closed(let f, let l): "\(f)-\(l)"
        case .from(let f): "\(f)-"
        case .suffix(let n): "-\(n)"
        }
    }

    public var description: String { headerValue }

    /// The inclusive offsets this range selects in a representation of `size` bytes,
    /// or nil when it is unsatisfiable (RFC 9110 §14.1.2: first-pos beyond the end,
    /// or a zero-length suffix).
    public func resolve(size: Int64) -> ClosedRange<Int64>? {
        switch self {
        case .closed(let f, let l):
            guard f < size else { return nil }
            return f...min(l, size - 1)
        case .from(let f):
            guard f < size else { return nil }
            return f...(size - 1)
        case .suffix(let n):
            guard n > 0, size > 0 else { return nil }
            return max(0, size - n)...(size - 1)
        }
    }

    /// The outcome of reading a `Range` request header.
    public enum Parsed: Equatable, Sendable {
        /// Exactly one syntactically valid range.
        case single(ByteRange)
        /// Several ranges: a server may answer 200 with the whole body (RFC 9110 §14.2).
        case multiple
        /// Not a valid `bytes` range set: RFC 9110 says to ignore the header.
        case invalid
    }

    /// Parses a `Range` request header value strictly. Offsets above 2^62 are
    /// treated as invalid rather than overflowing.
    public static func parse(_ header: String) -> Parsed {
        let trimmed = header.trimmingCharacters(in: " \t")
        guard trimmed.count <= 4096, let eq = trimmed.firstIndex(of: "=") else { return .invalid }
        guard trimmed[..<eq].trimmingCharacters(in: " \t").lowercased() == "bytes" else { return .invalid }
        let specs = trimmed[trimmed.index(after: eq)...].split(separator: ",", omittingEmptySubsequences: false)
            .map { $0.trimmingCharacters(in: " \t") }
        var ranges: [ByteRange] = []
        for spec in specs {
            if spec.isEmpty { continue }  // RFC 9110 list syntax tolerates empty elements
            guard let r = parseSpec(spec) else { return .invalid }
            ranges.append(r)
        }
        switch ranges.count {
        case 0: return .invalid
        case 1: return .single(ranges[0])
        default: return .multiple
        }
    }

    private static func parseSpec(_ spec: String) -> ByteRange? {
        guard let dash = spec.firstIndex(of: "-") else { return nil }
        let firstText = spec[..<dash]
        let lastText = spec[spec.index(after: dash)...]
        if firstText.isEmpty {
            guard let n = number(lastText) else { return nil }
            return .suffix(length: n)
        }
        guard let first = number(firstText) else { return nil }
        if lastText.isEmpty { return .from(first: first) }
        guard let last = number(lastText), last >= first else { return nil }
        return .closed(first: first, last: last)
    }

    private static func number(_ s: Substring) -> Int64? {
        guard !s.isEmpty, s.count <= 18, s.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return Int64(s)
    }
}
