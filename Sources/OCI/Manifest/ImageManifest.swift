/// An image manifest: OCI image manifest or Docker schema 2 manifest (same shape).
public struct ImageManifest: Codable, Hashable, Sendable {
    public var schemaVersion: Int
    public var mediaType: String?
    public var config: Descriptor
    public var layers: [Descriptor]
    public var annotations: [String: String]?

    public init(mediaType: String = MediaType.ociManifest, config: Descriptor, layers: [Descriptor], annotations: [String: String]? = nil) {
        self.schemaVersion = 2
        self.mediaType = mediaType
        self.config = config
        self.layers = layers
        self.annotations = annotations
    }

    /// Every blob the manifest references, config first.
    public var blobs: [Descriptor] { [config] + layers }
}
