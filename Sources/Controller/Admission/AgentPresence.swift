import Logging

/// Whether the agents run, from the agent DaemonSet's status, kept current by a watch.
/// A pod rewritten to `R.distributed.Y:65001` can only be pulled on a node whose
/// containerd maps that name (the agent's `hosts.toml`); once the DaemonSet is gone (its
/// `preStop` hooks restored the nodes' files) or none of its pods is ready, the webhook
/// leaves images alone so that pods pull from their registry, instead of failing to
/// resolve a name nothing serves. Until the first list answers, rewriting is allowed
/// (the webhook's behaviour without this check).
public actor AgentPresence {
    public enum State: Sendable, Equatable {
        case unknown
        /// The DaemonSet exists with this many ready pods.
        case running(ready: Int)
        case absent
    }

    public private(set) var state: State = .unknown
    public nonisolated let namespace: String
    public nonisolated let daemonSet: String
    private let client: KubernetesClient?

    public init(client: KubernetesClient?, namespace: String, daemonSet: String) {
        self.client = client
        self.namespace = namespace
        self.daemonSet = daemonSet
    }

    /// Whether pods may be rewritten now.
    public var allowsRewrite: Bool { reasonToSkip == nil }

    /// Why images are left alone, for the pod's admission warning; nil when they are not.
    public var reasonToSkip: String? {
        switch state {
        case .unknown: nil
        case .running(let ready) where ready > 0: nil
        case .running: "peerpull: no agent of DaemonSet \(namespace)/\(daemonSet) is ready yet: images not accelerated, pulled from their registry"
        case .absent: "peerpull: DaemonSet \(namespace)/\(daemonSet) (the node agents) does not exist: images not accelerated, pulled from their registry"
        }
    }

    public func apply(_ event: Reflector<DaemonSet>.Event) {
        switch event {
        case .replaced(let all):
            state = all.first { $0.metadata.name == daemonSet }.map { .running(ready: $0.status?.numberReady ?? 0) } ?? .absent
        case .upserted(let ds) where ds.metadata.name == daemonSet:
            state = .running(ready: ds.status?.numberReady ?? 0)
        case .deleted(let ds) where ds.metadata.name == daemonSet:
            state = .absent
        default:
            break
        }
    }

    /// Follows the DaemonSet until cancelled.
    public func follow(logger: Logger) async {
        guard let client else { return }
        let path = "/apis/apps/v1/namespaces/\(namespace)/daemonsets?fieldSelector=metadata.name%3D\(daemonSet)"
        await Reflector<DaemonSet>(client: client, path: path, logger: logger).run { event in
            let before = await self.allowsRewrite
            await self.apply(event)
            let after = await self.allowsRewrite
            let state = await self.state
            if before != after {
                logger.notice(after ? "agents ready: labelled pods are accelerated again" : "no agent ready: labelled pods pull from their registries",
                              metadata: ["daemonSet": "\(self.namespace)/\(self.daemonSet)", "state": "\(state)"])
            }
        }
    }
}
