import OCI

/// Everything that can end a pull.
public enum PullError: Error, Sendable, CustomStringConvertible {
    case registry(RegistryError)
    case manifest(ManifestError)
    case layout(LayoutError)

    public var description: String {
        switch self {
        case .registry(let e): e.description
        case .manifest(let e): e.description
        case .layout(let e): e.description
        }
    }
}
