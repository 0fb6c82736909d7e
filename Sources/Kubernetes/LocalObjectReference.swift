public struct LocalObjectReference: Codable, Sendable, Equatable, Hashable {
    public var name: String

    public init(name: String) { self.name = name }
}
