import OCI

public struct PullResult: Sendable {
    public var reference: ImageReference
    public var manifestDigest: Digest
    public var manifestMediaType: String
    public var platform: Platform?
    public var blobCount: Int
    public var bytesDownloaded: Int64
    public var bytesAlreadyPresent: Int64
}
