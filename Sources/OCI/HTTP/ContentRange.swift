/// A `Content-Range: bytes first-last/complete` response header.
public struct ContentRange: Hashable, Sendable, CustomStringConvertible {
    public var first: Int64
    public var last: Int64
    /// The complete length, when the server knows it.
    public var completeLength: Int64?

    public init(first: Int64, last: Int64, completeLength: Int64?) {
        self.first = first
        self.last = last
        self.completeLength = completeLength
    }

    public var description: String { "bytes \(first)-\(last)/\(completeLength.map(String.init) ?? "*")" }

    public init?(parsing header: String) {
        let t = header.trimmingCharacters(in: " \t")
        guard t.hasPrefix("bytes "), let slash = t.firstIndex(of: "/") else { return nil }
        let span = t[t.index(t.startIndex, offsetBy: 6)..<slash]
        let total = t[t.index(after: slash)...]
        let parts = span.split(separator: "-")
        guard parts.count == 2, let f = Int64(parts[0]), let l = Int64(parts[1]), f <= l, f >= 0 else { return nil }
        first = f
        last = l
        if total == "*" { completeLength = nil } else {
            guard let c = Int64(total), c > l else { return nil }
            completeLength = c
        }
    }
}
