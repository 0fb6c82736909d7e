import Foundation

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

/// A decoded manifest document of either kind.
public enum ManifestDocument: Sendable, Hashable {
    case image(ImageManifest)
    case index(ImageIndex)

    /// Decodes `data`, using the `Content-Type` the registry sent and falling back to
    /// the document's own `mediaType` field (both are optional in the wild).
    public init(data: some Sequence<UInt8>, contentType: String?) throws(ManifestError) {
        let bytes = Data(data)
        let probe: Probe
        do {
            probe = try BoundedJSON.decode(Probe.self, from: bytes)
        } catch {
            throw ManifestError.malformed("not a JSON manifest: \(error)")
        }
        guard probe.schemaVersion == 2 else {
            throw ManifestError.unsupported("schemaVersion \(probe.schemaVersion.map(String.init) ?? "missing") (only schema 2 manifests are supported)")
        }
        let declared = [contentType, probe.mediaType].compactMap { $0 }.map(MediaType.essence)
        let isIndex: Bool
        if let t = declared.first(where: { MediaType.isIndex($0) || MediaType.isManifest($0) }) {
            isIndex = MediaType.isIndex(t)
        } else {
            isIndex = probe.manifests != nil && probe.layers == nil
        }
        do {
            if isIndex {
                self = .index(try BoundedJSON.decode(ImageIndex.self, from: bytes))
            } else {
                self = .image(try BoundedJSON.decode(ImageManifest.self, from: bytes))
            }
        } catch {
            throw ManifestError.malformed("\(isIndex ? "index" : "manifest") does not decode: \(error)")
        }
        try Self.checkSizes(of: self)
    }

    /// A descriptor's size is a byte count (OCI image-spec `descriptor.md`): a negative one
    /// is refused (the `manifest` fuzz target found them accepted). The pull adds an
    /// image's sizes up for its progress, so sizes whose sum overflows `Int64` are refused
    /// too, rather than trapping there.
    private static func checkSizes(of document: ManifestDocument) throws(ManifestError) {
        let descriptors = switch document {
        case .image(let m): m.blobs
        case .index(let i): i.manifests
        }
        var total: Int64 = 0
        for d in descriptors {
            guard d.size >= 0 else { throw ManifestError.malformed("descriptor \(d.digest) has a negative size (\(d.size))") }
            let (sum, overflow) = total.addingReportingOverflow(d.size)
            guard !overflow else { throw ManifestError.malformed("the descriptors' sizes add up to more than \(Int64.max) bytes") }
            total = sum
        }
    }
}

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

private struct Probe: Decodable {
    var schemaVersion: Int?
    var mediaType: String?
    var manifests: [Descriptor]?
    var layers: [Descriptor]?
}
