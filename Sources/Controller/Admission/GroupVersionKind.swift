public struct GroupVersionKind: Codable, Sendable, Equatable {
    public var group: String
    public var version: String
    public var kind: String
}
