public struct Namespace: Codable, Sendable, Equatable {
    public var metadata: ObjectMeta
}
