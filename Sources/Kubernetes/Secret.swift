public struct Secret: Codable, Sendable, Equatable {
    public var apiVersion: String? = "v1"
    public var kind: String? = "Secret"
    public var metadata: ObjectMeta
    public var type: String?
    /// Base64 values, as the API serves them.
    public var data: [String: String]?

    public init(metadata: ObjectMeta, type: String?, data: [String: String]?) {
        self.metadata = metadata
        self.type = type
        self.data = data
    }
}
