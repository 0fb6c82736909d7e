public struct RateLimitError: Error, CustomStringConvertible, Sendable, Equatable {
    public let input: String
    public var description: String {
        "invalid rate limit \"\(input.prefix(64))\": use a positive number with an optional unit, e.g. 512M (MB/s), 100K, 1G or 64Mi"
    }
}
