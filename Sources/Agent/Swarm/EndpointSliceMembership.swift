import Kubernetes
import Logging
import Swarm

/// The swarm's members from the EndpointSlices of the chart's headless agent Service:
/// every ready agent, on its node's address (the agents run on the host network), at the
/// Service's `peer` port. Kept current by a watch, so a node that joins or leaves takes
/// part within seconds.
public actor EndpointSliceMembership: SwarmMembers {
    private var slices: [String: EndpointSlice] = [:]
    /// Worked out when the slices change, not on every announcement that asks.
    public private(set) var current: [Member] = []
    private let client: KubernetesClient
    private let namespace: String
    private let service: String
    private let defaultPort: Int
    private let logger: Logger

    public init(client: KubernetesClient, namespace: String, service: String, defaultPort: Int, logger: Logger) {
        self.client = client
        self.namespace = namespace
        self.service = service
        self.defaultPort = defaultPort
        self.logger = logger
    }

    /// Ready endpoints, one member per node (the first address), in a stable order.
    public static func members(of slices: [EndpointSlice], defaultPort: Int) -> [Member] {
        var byNode: [String: Member] = [:]
        for slice in slices {
            let port = slice.ports?.first(where: { $0.name == "peer" })?.port ?? defaultPort
            for e in slice.endpoints ?? [] where e.conditions?.ready != false {
                guard let address = e.addresses.first else { continue }
                let node = e.node ?? address
                byNode[node] = Member(node: node, address: address, peerPort: port)
            }
        }
        return byNode.values.sorted { $0.node < $1.node }
    }

    func apply(_ event: Reflector<EndpointSlice>.Event) {
        let before = current
        switch event {
        case .replaced(let all): slices = Dictionary(all.map { ($0.metadata.name ?? "", $0) }, uniquingKeysWith: { _, b in b })
        case .upserted(let s): slices[s.metadata.name ?? ""] = s
        case .deleted(let s): slices[s.metadata.name ?? ""] = nil
        }
        current = Self.members(of: Array(slices.values), defaultPort: defaultPort)
        if current != before { logger.info("swarm members changed", metadata: ["members": "\(current.count)"]) }
    }

    /// Watches the Service's EndpointSlices until cancelled (v1, or v1beta1 on clusters
    /// older than 1.21).
    public func follow() async {
        let selector = "labelSelector=kubernetes.io%2Fservice-name%3D\(service)"
        var version = "v1"
        if (try? await client.send(.GET, "/apis/discovery.k8s.io/v1", body: nil, timeout: .seconds(10))) == nil { version = "v1beta1" }
        await Reflector<EndpointSlice>(client: client, path: "/apis/discovery.k8s.io/\(version)/namespaces/\(namespace)/endpointslices?\(selector)",
                                       logger: logger).run { event in
            await self.apply(event)
        }
    }
}
