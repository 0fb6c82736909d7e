public enum ManifestError: Error, Equatable, Sendable, CustomStringConvertible {
    case malformed(String)
    case unsupported(String)
    case noMatchingPlatform(Platform, available: [String])

    public var description: String {
        switch self {
        case .malformed(let why): "malformed manifest: \(why)"
        case .unsupported(let why): "unsupported manifest: \(why)"
        case .noMatchingPlatform(let p, let available):
            "the image index has no manifest for platform \(p) (available: \(available.isEmpty ? "none" : available.joined(separator: ", "))); choose one with --platform"
        }
    }
}
