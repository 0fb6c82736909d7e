import Foundation
import OCI

/// Manifests and indexes as a registry serves them: the `Content-Type` on the first line
/// (empty for none), the body after it.
///
/// Properties: a decoded document encodes to JSON that decodes, under the same
/// `Content-Type`, to an equal document; every descriptor names a size that is a byte
/// count (not negative), and the sizes of an image's blobs add up without overflow, as
/// the pull's progress display and the agent add them; the platform an index picks is
/// one of its manifests.
enum ManifestTarget {
    static func run(_ bytes: UnsafeRawBufferPointer) {
        let (firstLine, body) = bytes.firstLineAndRest
        let contentType = firstLine.isEmpty ? nil : firstLine.text
        guard let document = try? ManifestDocument(data: body, contentType: contentType) else { return }
        let encoded: Data
        switch document {
        case .image(let manifest):
            encoded = (try? JSONEncoder().encode(manifest)) ?? Data()
            check(manifest.blobs)
            _ = manifest.blobs.reduce(Int64(0)) { total, blob in
                let (sum, overflow) = total.addingReportingOverflow(blob.size)
                require(!overflow, "the blobs' sizes overflow: \(manifest.blobs.map(\.size))")
                return sum
            }
        case .index(let index):
            encoded = (try? JSONEncoder().encode(index)) ?? Data()
            check(index.manifests)
            for platform in [Platform.host, Platform(os: "linux", architecture: "arm64"), Platform(os: "linux", architecture: "arm", variant: "v7")] {
                if let picked = index.manifest(for: platform) {
                    require(index.manifests.contains(picked) && MediaType.isManifest(picked.mediaType), "picked \(picked) for \(platform)")
                }
            }
        }
        let again = try? ManifestDocument(data: encoded, contentType: contentType)
        require(again == document, "\(document) encodes as \(String(decoding: encoded.prefix(500), as: UTF8.self)), which decodes as \(String(describing: again))")
    }

    static func check(_ descriptors: [Descriptor]) {
        for d in descriptors {
            require(d.size >= 0, "descriptor \(d.digest) of \(d.size) bytes")
        }
    }
}
