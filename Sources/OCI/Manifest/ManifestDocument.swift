import Foundation

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

private struct Probe: Decodable {
    var schemaVersion: Int?
    var mediaType: String?
    var manifests: [Descriptor]?
    var layers: [Descriptor]?
}
