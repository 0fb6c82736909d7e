/// Secrets through the API server.
public struct KubernetesSecretStore: SecretStore {
    let client: KubernetesClient
    let timeout: Duration

    public init(client: KubernetesClient, timeout: Duration = .seconds(5)) {
        self.client = client
        self.timeout = timeout
    }

    public func secret(namespace: String, name: String) async throws(KubernetesError) -> Secret? {
        do { return try await client.get("/api/v1/namespaces/\(namespace)/secrets/\(name)", timeout: timeout) } catch {
            if error.code == 404 { return nil }
            throw error
        }
    }

    public func create(_ secret: Secret) async throws(KubernetesError) -> Secret {
        try await client.create("/api/v1/namespaces/\(secret.metadata.namespace ?? "default")/secrets", secret, timeout: timeout)
    }

    public func update(_ secret: Secret) async throws(KubernetesError) -> Secret {
        try await client.update("/api/v1/namespaces/\(secret.metadata.namespace ?? "default")/secrets/\(secret.metadata.name ?? "")", secret, timeout: timeout)
    }
}
