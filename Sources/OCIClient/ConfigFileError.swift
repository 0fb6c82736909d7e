public struct ConfigFileError: Error, Sendable, CustomStringConvertible {
    public let path: String
    public let reason: String
    public var description: String { "credentials file \(path): \(reason)" }
}
