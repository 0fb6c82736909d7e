public struct AdmissionResponse: Codable, Sendable, Equatable {
    public struct Status: Codable, Sendable, Equatable {
        public var code: Int
        public var message: String
    }
    public var uid: String
    public var allowed: Bool
    public var patchType: String?
    /// Base64 of the JSON Patch document.
    public var patch: String?
    public var warnings: [String]?
    public var status: Status?
}
