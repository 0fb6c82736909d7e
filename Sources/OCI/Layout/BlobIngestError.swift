public enum BlobIngestError: Error, Sendable {
    case digestMismatch(DigestMismatch)
    case layout(LayoutError)
}
