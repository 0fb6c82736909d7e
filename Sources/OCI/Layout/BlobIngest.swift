import NIOCore

/// A blob being written into a layout: bytes are hashed as they are written, and the
/// file becomes visible under `blobs/` only through `commit()`.
public final class BlobIngest {
    let layout: OCILayout
    public let digest: Digest
    private var file: BlobFile?
    private let tempPath: String
    private var verifier: DigestVerifier
    public var written: Int64 { verifier.count }

    init(layout: OCILayout, digest: Digest, file: BlobFile) {
        self.layout = layout
        self.digest = digest
        self.tempPath = file.path
        self.file = file
        self.verifier = DigestVerifier(for: digest)
    }

    public func write(_ buffer: ByteBuffer) throws(LayoutError) {
        guard let file else { return }
        try file.write(buffer)
        buffer.withUnsafeReadableBytes { verifier.update($0) }
    }

    /// Starts over (the server ignored a resume `Range`).
    public func restart() throws(LayoutError) {
        guard let file else { return }
        try file.truncate()
        verifier = DigestVerifier(for: digest)
    }

    /// Verifies the digest, flushes and renames the file into `blobs/`.
    public func commit() throws(BlobIngestError) {
        do {
            try verifier.verify(digest)
        } catch {
            discard()
            throw .digestMismatch(error)
        }
        do throws(LayoutError) {
            if let file {
                try file.sync()
                file.close()
            }
            file = nil
            try FileSystem.rename(tempPath, layout.blobPath(digest))
        } catch {
            discard()
            throw .layout(error)
        }
        layout.removeIngestFolderIfEmpty()
    }

    /// Deletes the partial file.
    public func discard() {
        file?.close()
        file = nil
        FileSystem.remove(tempPath)
        layout.removeIngestFolderIfEmpty()
    }

    deinit {
        if file != nil { FileSystem.remove(tempPath) }
    }
}
