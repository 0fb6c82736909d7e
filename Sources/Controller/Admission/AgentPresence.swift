import Logging

/// Whether the agents run, from the agent DaemonSet's status, kept current by a watch.
/// A pod rewritten to `R.distributed.Y:65001` can only be pulled on a node whose
/// containerd maps that name (the agent's `hosts.toml`), and the webhook cannot know the
/// node a pod will land on. So images are rewritten only while **every** node that should
/// run an agent has a ready one: an agent is not ready while it starts, and stays not
/// ready while its node's containerd would ignore its `hosts.toml` (its containerd
/// preflight). Otherwise the webhook leaves images alone, so that pods pull from their
/// registry instead of failing to resolve a name nothing serves; mirror mode still
/// accelerates them on nodes whose agent runs. Once the DaemonSet is gone (its `preStop`
/// hooks restored the nodes' files), the same. Until the first list answers, rewriting is
/// allowed (the webhook's behaviour without this check). docs/decisions/containerd-preflight.md
/// says what this costs during rollouts and what it leaves open.
public actor AgentPresence {
    public enum State: Sendable, Equatable {
        case unknown
        /// The DaemonSet exists: `ready` of the `scheduled` nodes that should run an agent have a ready one.
        case running(ready: Int, scheduled: Int)
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
        case .running(let ready, let scheduled) where scheduled > 0 && ready >= scheduled: nil
        case .running(let ready, let scheduled):
            "peerpull: \(ready) of \(scheduled) agents of DaemonSet \(namespace)/\(daemonSet) are ready (a node's agent is starting, or its containerd "
                + "ignores the agent: its /readyz says why): images not accelerated, pulled from their registry"
        case .absent: "peerpull: DaemonSet \(namespace)/\(daemonSet) (the node agents) does not exist: images not accelerated, pulled from their registry"
        }
    }

    static func state(of ds: DaemonSet) -> State {
        .running(ready: ds.status?.numberReady ?? 0, scheduled: ds.status?.desiredNumberScheduled ?? 0)
    }

    public func apply(_ event: Reflector<DaemonSet>.Event) {
        switch event {
        case .replaced(let all):
            state = all.first { $0.metadata.name == daemonSet }.map(Self.state(of:)) ?? .absent
        case .upserted(let ds) where ds.metadata.name == daemonSet:
            state = Self.state(of: ds)
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
                logger.notice(after ? "every agent ready: labelled pods are accelerated again" : "not every agent ready: labelled pods pull from their registries",
                              metadata: ["daemonSet": "\(self.namespace)/\(self.daemonSet)", "state": "\(state)"])
            }
        }
    }
}
