import Foundation

/// An OCI image layout directory (`oci-layout`, `index.json`, `blobs/<alg>/<hex>`).
///
/// Blobs are written to an ingest folder and renamed into `blobs/` only after their
/// digest and size match, so the layout never holds a partial or wrong blob; the
/// index is updated last, so it never names an image whose blobs are missing.
public struct OCILayout: Sendable {
    public let root: String
    package static let ingestFolder = ".peerpull-ingest"
    public static let refNameAnnotation = "org.opencontainers.image.ref.name"
    public static let containerdNameAnnotation = "io.containerd.image.name"

    /// Opens `root`, creating the layout if the directory is new or empty.
    public init(root: String) throws(LayoutError) {
        self.root = root.hasSuffix("/") && root.count > 1 ? String(root.dropLast()) : root
        try FileSystem.makeDirectories(self.root + "/blobs/sha256")
        let marker = self.root + "/oci-layout"
        if let existing = try FileSystem.readFile(marker) {
            struct Marker: Decodable { var imageLayoutVersion: String }
            guard (try? BoundedJSON.decode(Marker.self, from: existing)) != nil else {
                throw .invalid(path: marker, reason: "oci-layout does not name an imageLayoutVersion")
            }
        } else {
            try FileSystem.writeAtomically(Array(#"{"imageLayoutVersion":"1.0.0"}"#.utf8), to: marker)
        }
    }

    public func blobPath(_ digest: Digest) -> String { root + "/" + digest.layoutPath }

    /// True when a complete blob of this digest and size is present.
    public func hasBlob(_ descriptor: Descriptor) -> Bool {
        FileSystem.fileSize(blobPath(descriptor.digest)) == descriptor.size
    }

    /// Writes a small blob held in memory after checking its digest.
    public func writeBlob(_ bytes: [UInt8], digest: Digest) throws(LayoutError) {
        let actual = Digest.compute(digest.algorithm, of: bytes)
        guard actual == digest else {
            throw .invalid(path: blobPath(digest), reason: "refusing bytes that hash to \(actual)")
        }
        try FileSystem.makeDirectories(root + "/blobs/" + digest.algorithm.rawValue)
        try FileSystem.writeAtomically(bytes, to: blobPath(digest))
    }

    /// Starts writing a blob; commit the result once verified, or discard it.
    public func beginIngest(_ digest: Digest) throws(LayoutError) -> BlobIngest {
        let folder = root + "/" + Self.ingestFolder
        try FileSystem.makeDirectories(folder)
        try FileSystem.makeDirectories(root + "/blobs/" + digest.algorithm.rawValue)
        let temp = folder + "/\(digest.hex)-\(UInt64.random(in: 0...UInt64.max))"
        return BlobIngest(layout: self, digest: digest, file: try BlobFile(creating: temp))
    }

    /// The descriptors listed in `index.json`.
    public func index() throws(LayoutError) -> ImageIndex {
        let path = root + "/index.json"
        guard let bytes = try FileSystem.readFile(path) else { return ImageIndex(manifests: []) }
        do { return try BoundedJSON.decode(ImageIndex.self, from: bytes) } catch {
            throw .invalid(path: path, reason: "index.json does not decode: \(error)")
        }
    }

    /// Adds `descriptor` to `index.json`, replacing an entry with the same ref name.
    public func addToIndex(_ descriptor: Descriptor) throws(LayoutError) {
        var index = try index()
        let name = descriptor.annotations?[Self.refNameAnnotation]
        index.manifests.removeAll { name != nil && $0.annotations?[Self.refNameAnnotation] == name }
        index.manifests.append(descriptor)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data: Data
        do { data = try encoder.encode(index) } catch {
            throw .invalid(path: root + "/index.json", reason: "cannot encode: \(error)")
        }
        try FileSystem.writeAtomically(Array(data), to: root + "/index.json")
    }

    package func removeIngestFolderIfEmpty() {
        FileSystem.removeDirectoryIfEmpty(root + "/" + Self.ingestFolder)
    }
}
