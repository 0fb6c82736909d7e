import OCI

/// A blob response whose body has not been read yet.
public struct BlobResponse: Sendable {
    /// 200 for the whole blob, 206 for a range.
    public var status: Int
    /// Bytes in this response's body (the whole blob for 200, the range for 206).
    public var contentLength: Int64?
    public var contentRange: ContentRange?
    /// The registry's `Docker-Content-Digest`, when sent.
    public var announcedDigest: Digest?
    public var contentType: String?
    /// The body, streamed as it arrives.
    public var body: ByteStream

    public init(status: Int, contentLength: Int64?, contentRange: ContentRange? = nil, announcedDigest: Digest? = nil,
                contentType: String? = nil, body: ByteStream) {
        self.status = status
        self.contentLength = contentLength
        self.contentRange = contentRange
        self.announcedDigest = announcedDigest
        self.contentType = contentType
        self.body = body
    }
}
