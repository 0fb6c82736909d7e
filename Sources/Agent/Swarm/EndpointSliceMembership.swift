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
    /// The API version listed now (`discovery.k8s.io/v1`, or `v1beta1` on servers older
    /// than Kubernetes 1.21), once the server said which it serves.
    public private(set) var version: String?
    private let client: KubernetesClient
    private let namespace: String
    private let service: String
    private let defaultPort: Int
    private let addressType: String?
    private let logger: Logger
    private let sleep: @Sendable (Duration) async throws -> Void

    /// - Parameters:
    ///   - addressType: the EndpointSlice `addressType` (`IPv4` or `IPv6`) whose slices
    ///     list the members: a dual-stack Service has one slice per family, and an agent
    ///     dials the family it advertises. `nil`: every slice.
    ///   - sleep: the wait between attempts to reach the API server (injected in tests).
    public init(client: KubernetesClient, namespace: String, service: String, defaultPort: Int, addressType: String? = nil,
                logger: Logger, sleep: @escaping @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) }) {
        self.client = client
        self.namespace = namespace
        self.service = service
        self.defaultPort = defaultPort
        self.addressType = addressType
        self.logger = logger
        self.sleep = sleep
    }

    /// The EndpointSlice `addressType` of an address: `IPv6` when it has a colon.
    public static func addressType(of address: String) -> String { address.contains(":") ? "IPv6" : "IPv4" }

    /// Ready endpoints, one member per node (the first address), in a stable order; with
    /// `addressType`, only the slices of that family.
    public static func members(of slices: [EndpointSlice], defaultPort: Int, addressType: String? = nil) -> [Member] {
        var byNode: [String: Member] = [:]
        for slice in slices where addressType == nil || slice.addressType == nil || slice.addressType == addressType {
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
        current = Self.members(of: Array(slices.values), defaultPort: defaultPort, addressType: addressType)
        if current != before { logger.info("swarm members changed", metadata: ["members": "\(current.count)"]) }
    }

    /// Watches the Service's EndpointSlices until cancelled. The API version is asked of
    /// the server first, and again whenever a list answers 404 (the server was upgraded
    /// past v1beta1, or answered for another server during an outage).
    public func follow() async {
        let selector = "labelSelector=kubernetes.io%2Fservice-name%3D\(service)"
        while !Task.isCancelled {
            guard let found = await servedVersion() else { return }
            if found != version {
                logger.info("listing the swarm's members", metadata: ["api": "discovery.k8s.io/\(found)", "service": "\(namespace)/\(service)"])
            }
            version = found
            await Reflector<EndpointSlice>(client: client, path: "/apis/discovery.k8s.io/\(found)/namespaces/\(namespace)/endpointslices?\(selector)",
                                           logger: logger, sleep: sleep).runUntilNotFound { event in
                await self.apply(event)
            }
            // Not served after all: ask again, without hammering a server that serves neither.
            do { try await sleep(.seconds(2)) } catch { return }
        }
    }

    /// `v1` unless the server says it does not serve it (404 for the group version: a
    /// server older than Kubernetes 1.21), then `v1beta1`. Any other failure (the server
    /// unreachable, restarting, answering 5xx) is no answer: asked again, with a doubling
    /// wait up to 30 s. Taking v1beta1 on any failure left an agent started during an API
    /// outage listing a version Kubernetes ≥ 1.25 no longer serves, for good. `nil` when
    /// cancelled.
    func servedVersion() async -> String? {
        var backoff = Duration.milliseconds(500)
        while !Task.isCancelled {
            do {
                _ = try await client.send(.GET, "/apis/discovery.k8s.io/v1", body: nil, timeout: .seconds(10))
                return "v1"
            } catch {
                if error.code == 404 { return "v1beta1" }
                logger.warning("cannot ask the API server which EndpointSlice version it serves; the swarm has no members until it answers",
                               metadata: ["error": "\(error)", "retryIn": "\(backoff)"])
            }
            do { try await sleep(backoff) } catch { return nil }
            backoff = min(backoff * 2, .seconds(30))
        }
        return nil
    }
}
