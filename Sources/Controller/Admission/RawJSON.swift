/// A JSON value kept as its raw bytes for a later, typed decode.
public struct RawJSON: Codable, Sendable {
    public var value: JSONValue

    public init(from decoder: any Decoder) throws {
        value = try JSONValue(from: decoder)
    }

    public func encode(to encoder: any Encoder) throws {
        try value.encode(to: encoder)
    }
}
