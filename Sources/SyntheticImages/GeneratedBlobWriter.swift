import NIOCore
import OCI

extension OCILayout {
    /// Writes a blob whose digest is not known in advance (generated content): the
    /// bytes are hashed while written and the file is renamed to its digest at the end.
    public func writeGeneratedBlob(mediaType: String, _ produce: (_ write: ([UInt8]) throws(LayoutError) -> Void) throws(LayoutError) -> Void) throws(LayoutError) -> Descriptor {
        let folder = root + "/" + Self.ingestFolder
        try FileSystem.makeDirectories(folder)
        let temp = folder + "/generated-\(UInt64.random(in: 0...UInt64.max))"
        let file = try BlobFile(creating: temp)
        var verifier = DigestVerifier(algorithm: .sha256)
        do throws(LayoutError) {
            try produce { (bytes: [UInt8]) throws(LayoutError) in
                try file.write(bytes)
                verifier.update(bytes)
            }
            try file.sync()
            file.close()
            let digest = verifier.finalize()
            try FileSystem.rename(temp, blobPath(digest))
            removeIngestFolderIfEmpty()
            return Descriptor(mediaType: mediaType, digest: digest, size: verifier.count)
        } catch {
            file.close()
            FileSystem.remove(temp)
            removeIngestFolderIfEmpty()
            throw error
        }
    }
}
