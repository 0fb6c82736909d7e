/// `discovery.k8s.io` EndpointSlice (v1, and v1beta1 before Kubernetes 1.21), the parts
/// that say which pods back a Service and where: each endpoint's addresses, readiness
/// and node.
public struct EndpointSlice: Codable, Sendable, Equatable, KubernetesObject {
    public struct Endpoint: Codable, Sendable, Equatable {
        public struct Conditions: Codable, Sendable, Equatable {
            public var ready: Bool?
        }
        public var addresses: [String]
        public var conditions: Conditions?
        /// v1.
        public var nodeName: String?
        /// v1beta1: `kubernetes.io/hostname` holds the node.
        public var topology: [String: String]?

        /// The node this endpoint runs on, as each API version says it.
        public var node: String? { nodeName ?? topology?["kubernetes.io/hostname"] }
    }

    public struct Port: Codable, Sendable, Equatable {
        public var name: String?
        public var port: Int?
    }

    public var metadata: ObjectMeta
    public var addressType: String?
    public var endpoints: [Endpoint]?
    public var ports: [Port]?
}
