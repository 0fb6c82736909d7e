/// An image index: OCI image index or Docker manifest list (same shape).
public struct ImageIndex: Codable, Hashable, Sendable {
    public var schemaVersion: Int
    public var mediaType: String?
    public var manifests: [Descriptor]
    public var annotations: [String: String]?

    public init(mediaType: String = MediaType.ociIndex, manifests: [Descriptor], annotations: [String: String]? = nil) {
        self.schemaVersion = 2
        self.mediaType = mediaType
        self.manifests = manifests
        self.annotations = annotations
    }

    /// The first image manifest for `platform`, as containerd picks it (index order).
    public func manifest(for platform: Platform) -> Descriptor? {
        manifests.first { d in
            MediaType.isManifest(d.mediaType) && (d.platform.map(platform.matches) ?? false)
        }
    }
}
