@testable import Controller
import Foundation
import Testing

/// The webhook leaves labelled pods alone while no agent could serve them: the
/// DaemonSet's state as its watch reports it, and the review that follows.
@Suite("Agent presence")
struct AgentPresenceTests {
    /// A DaemonSet whose `ready` pods are all it should run, unless `scheduled` says more.
    static func daemonSet(_ name: String, ready: Int?, scheduled: Int? = nil) -> DaemonSet {
        DaemonSet(metadata: ObjectMeta(name: name, namespace: "peerpull-system"),
                  status: ready.map { .init(desiredNumberScheduled: scheduled ?? $0, numberReady: $0) })
    }

    @Test func rewritingFollowsTheDaemonSetsReadyPods() async {
        let agents = AgentPresence(client: nil, namespace: "peerpull-system", daemonSet: "p2p-agent")
        // Before the first list: as without the check.
        #expect(await agents.allowsRewrite)
        #expect(await agents.reasonToSkip == nil)
        await agents.apply(.replaced([Self.daemonSet("other", ready: 3)]))
        #expect(await agents.state == .absent)
        #expect(await !agents.allowsRewrite)
        await agents.apply(.upserted(Self.daemonSet("p2p-agent", ready: nil)))
        #expect(await agents.state == .running(ready: 0, scheduled: 0))
        #expect(await !agents.allowsRewrite)
        #expect(await agents.reasonToSkip?.contains("0 of 0 agents of DaemonSet peerpull-system/p2p-agent are ready") == true)
        await agents.apply(.upserted(Self.daemonSet("p2p-agent", ready: 2)))
        #expect(await agents.allowsRewrite)
        #expect(await agents.reasonToSkip == nil)
        // Another DaemonSet's events change nothing.
        await agents.apply(.deleted(Self.daemonSet("other", ready: 3)))
        #expect(await agents.allowsRewrite)
        await agents.apply(.deleted(Self.daemonSet("p2p-agent", ready: 2)))
        #expect(await agents.state == .absent)
        #expect(await agents.reasonToSkip?.contains("does not exist") == true)
    }

    /// The webhook cannot know a pod's node, and a node whose containerd ignores the agent
    /// keeps that agent unready: one such node stops rewriting everywhere, and so does a
    /// node that joins (its agent not ready yet), until every agent is ready again.
    @Test func oneUnreadyAgentStopsRewritingUntilEveryAgentIsReady() async throws {
        let agents = AgentPresence(client: nil, namespace: "peerpull-system", daemonSet: "p2p-agent")
        await agents.apply(.replaced([Self.daemonSet("p2p-agent", ready: 3)]))
        #expect(await agents.allowsRewrite)
        await agents.apply(.upserted(Self.daemonSet("p2p-agent", ready: 2, scheduled: 3)))
        #expect(await agents.state == .running(ready: 2, scheduled: 3))
        #expect(await !agents.allowsRewrite)
        #expect(await agents.reasonToSkip?.contains("2 of 3 agents of DaemonSet peerpull-system/p2p-agent are ready") == true)
        await agents.apply(.upserted(Self.daemonSet("p2p-agent", ready: 3, scheduled: 4)))
        #expect(await !agents.allowsRewrite)
        await agents.apply(.upserted(Self.daemonSet("p2p-agent", ready: 4, scheduled: 4)))
        #expect(await agents.allowsRewrite)

        let webhook = Self.webhook(store: InMemorySecretStore([AdmissionWebhookTests.regcred("team-a")]), agents: agents)
        #expect(await webhook.review(AdmissionWebhookTests.review()).1 == "mutated")
        await agents.apply(.upserted(Self.daemonSet("p2p-agent", ready: 3, scheduled: 4)))
        try await Self.expectAdmittedUnchanged(by: webhook, warning: "3 of 4 agents")
    }

    static func webhook(store: InMemorySecretStore, agents: AgentPresence) -> AdmissionWebhook {
        let policy = ControllerPolicy(registries: [AdmissionWebhookTests.origin])
        return AdmissionWebhook(mutator: PodMutator(policy: policy, version: "0.1.0"), mirror: PullSecretMirror(store: store, policy: policy),
                                namespaces: NamespaceLabelCache(client: nil), agents: agents, deadline: .seconds(20))
    }

    /// A labelled pod's review: allowed, no patch, a warning containing `warning`.
    static func expectAdmittedUnchanged(by webhook: AdmissionWebhook, warning: String) async throws {
        let (response, result) = await webhook.review(AdmissionWebhookTests.review())
        #expect(result == "unchanged")
        let (_, json) = try await AdmissionWebhookTests().decode(response)
        let r = try #require(json["response"] as? [String: Any])
        #expect(r["patch"] == nil && r["allowed"] as? Bool == true)
        #expect((r["warnings"] as? [String])?.first?.contains(warning) == true, "\(r)")
    }

    @Test func withoutAReadyAgentALabelledPodIsAdmittedUnchangedWithAWarning() async throws {
        let store = InMemorySecretStore([AdmissionWebhookTests.regcred("team-a")])
        let agents = AgentPresence(client: nil, namespace: "peerpull-system", daemonSet: "p2p-agent")
        await agents.apply(.replaced([]))
        let webhook = Self.webhook(store: store, agents: agents)
        try await Self.expectAdmittedUnchanged(by: webhook, warning: "does not exist")
        // No copy was made for a pod that is not rewritten.
        #expect(try await store.secret(namespace: "team-a", name: "acr-credential-regcred-p2p") == nil)
        // Agents ready again: the same review is rewritten.
        await agents.apply(.upserted(Self.daemonSet("p2p-agent", ready: 1)))
        #expect(await webhook.review(AdmissionWebhookTests.review()).1 == "mutated")
    }
}
