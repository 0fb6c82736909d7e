public struct ByteSizeError: Error, Sendable, Equatable, CustomStringConvertible {
    public let input: String
    public var description: String {
        "invalid size \"\(input.prefix(64))\": use a whole number with an optional unit, e.g. 20Gi, 512Mi or 10G"
    }
}
