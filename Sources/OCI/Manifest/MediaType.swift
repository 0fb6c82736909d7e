/// Media types of the OCI image spec and Docker image manifest v2.
public enum MediaType {
    public static let ociManifest = "application/vnd.oci.image.manifest.v1+json"
    public static let ociIndex = "application/vnd.oci.image.index.v1+json"
    public static let ociConfig = "application/vnd.oci.image.config.v1+json"
    public static let ociLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip"
    public static let ociLayerTar = "application/vnd.oci.image.layer.v1.tar"
    public static let ociLayerZstd = "application/vnd.oci.image.layer.v1.tar+zstd"
    public static let dockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
    public static let dockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
    public static let dockerConfig = "application/vnd.docker.container.image.v1+json"
    public static let dockerLayerGzip = "application/vnd.docker.image.rootfs.diff.tar.gzip"

    /// The `Accept` list containerd sends when resolving a manifest
    /// (`core/remotes/docker/resolver.go`), in its order.
    public static let manifestAccept = [dockerManifest, dockerManifestList, ociManifest, ociIndex, "*/*"]

    public static func isIndex(_ mediaType: String) -> Bool {
        let t = essence(mediaType)
        return t == ociIndex || t == dockerManifestList
    }

    public static func isManifest(_ mediaType: String) -> Bool {
        let t = essence(mediaType)
        return t == ociManifest || t == dockerManifest
    }

    /// The media type without parameters (`; charset=…`), lower-cased.
    public static func essence(_ mediaType: String) -> String {
        let base = mediaType.split(separator: ";", maxSplits: 1).first ?? ""
        return base.trimmingCharacters(in: " \t").lowercased()
    }
}

extension StringProtocol {
    func trimmingCharacters(in set: String) -> String {
        var s = Substring(self)
        while let f = s.first, set.contains(f) { s = s.dropFirst() }
        while let l = s.last, set.contains(l) { s = s.dropLast() }
        return String(s)
    }
}
