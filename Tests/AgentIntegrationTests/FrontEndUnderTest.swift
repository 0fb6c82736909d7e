import Agent
import Hummingbird
import Logging
import OCI
import OCIClient
import TestSupport

/// The agent's front end over one registry, in process: a cache in `dir`, the real gate,
/// serving on loopback.
struct FrontEndUnderTest {
    let metrics: AgentMetrics
    let cache: BlobCache
    let router: Router<AgentRequestContext>

    init(origin domain: String, client: RegistryClient, dir: TemporaryDirectory) throws {
        metrics = AgentMetrics()
        cache = try BlobCache(configuration: .init(root: dir.file("cache"), quota: 1 << 30), metrics: metrics, logger: Logger(label: "test"))
        let frontEnd = RegistryFrontEnd(
            resolver: OriginResolver(origins: [domain], rule: P2PHostRule()),
            client: client, cache: cache, manifests: try ManifestCache(root: dir.file("cache")),
            gate: AuthorizationGate(client: client, metrics: metrics), metrics: metrics)
        router = Router(context: AgentRequestContext.self)
        frontEnd.register(on: router)
    }
}
