import Foundation
import Logging

/// Deletes every secret the controller made (label `app.kubernetes.io/managed-by:
/// peerpull`) in all namespaces: the pull-secret copies, each owned by its source secret
/// (which stays), the generated webhook certificate and the swarm's key (`SwarmSecret`),
/// none of which Helm knows. A Secret the user named in `p2p.swarm.existingSecret` lacks the
/// label and stays.
/// The chart's pre-delete hook runs it on `helm uninstall`.
public enum GeneratedSecretCleanup {
    /// Returns how many secrets were deleted.
    public static func run(client: KubernetesClient, logger: Logger) async throws(KubernetesError) -> Int {
        let selector = "\(PullSecretMirror.managedByLabel)=\(PullSecretMirror.managedBy)"
            .addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
        let copies: ObjectList<Secret> = try await client.list("/api/v1/secrets?labelSelector=\(selector)")
        var deleted = 0
        for copy in copies.items {
            guard let name = copy.metadata.name, let namespace = copy.metadata.namespace else { continue }
            try await client.delete("/api/v1/namespaces/\(namespace)/secrets/\(name)")
            logger.info("deleted a generated secret", metadata: ["secret": "\(namespace)/\(name)"])
            deleted += 1
        }
        return deleted
    }
}
