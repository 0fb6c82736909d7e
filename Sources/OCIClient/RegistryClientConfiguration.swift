/// Settings shared by every request of a `RegistryClient`.
public struct RegistryClientConfiguration: Sendable {
    /// Registry domains spoken to over plain HTTP (test registries); all others use HTTPS.
    public var plainHTTPRegistries: Set<String> = []
    /// Deadline for manifest, token and HEAD requests.
    public var requestTimeout: Duration = .seconds(30)
    /// Deadline for a whole blob transfer; stalls are caught earlier by the HTTP
    /// client's read timeout.
    public var blobTimeout: Duration = .seconds(3600)
    public var retry: RetryPolicy = RetryPolicy()
    /// containerd's `MaxManifestSize` is 4 MiB; a larger "manifest" is refused.
    public var maxManifestSize: Int = 4 << 20
    public var userAgent: String = "peerpull"

    public init() {}
}
