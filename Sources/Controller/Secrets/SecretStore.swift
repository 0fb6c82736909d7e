/// Where the mirror reads and writes secrets: the API server, or memory in tests.
public protocol SecretStore: Sendable {
    /// The secret, or nil when it does not exist.
    func secret(namespace: String, name: String) async throws(KubernetesError) -> Secret?
    func create(_ secret: Secret) async throws(KubernetesError) -> Secret
    /// Replaces the secret; its `resourceVersion` must be current (else 409).
    func update(_ secret: Secret) async throws(KubernetesError) -> Secret
}
