public struct Container: Codable, Sendable, Equatable {
    public var name: String
    public var image: String?

    public init(name: String, image: String?) {
        self.name = name
        self.image = image
    }
}
