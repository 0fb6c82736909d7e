import OCI

/// What happens during a pull, for a progress display or a log.
public enum PullEvent: Sendable {
    case resolved(reference: ImageReference, manifest: Digest, platform: Platform?, blobs: [Descriptor])
    case blobStarted(Descriptor)
    case blobProgress(Digest, written: Int64)
    case blobCompleted(Descriptor, alreadyPresent: Bool)
    case blobRetrying(Digest, attempt: Int, reason: String)
    case finished(PullResult)
}
