@testable import Controller
import Foundation
import Testing

/// The webhook leaves labelled pods alone while no agent could serve them: the
/// DaemonSet's state as its watch reports it, and the review that follows.
@Suite("Agent presence")
struct AgentPresenceTests {
    static func daemonSet(_ name: String, ready: Int?) -> DaemonSet {
        DaemonSet(metadata: ObjectMeta(name: name, namespace: "peerpull-system"), status: ready.map { .init(numberReady: $0) })
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
        #expect(await agents.state == .running(ready: 0))
        #expect(await !agents.allowsRewrite)
        #expect(await agents.reasonToSkip?.contains("no agent of DaemonSet peerpull-system/p2p-agent is ready") == true)
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

    @Test func withoutAReadyAgentALabelledPodIsAdmittedUnchangedWithAWarning() async throws {
        let store = InMemorySecretStore([AdmissionWebhookTests.regcred("team-a")])
        let agents = AgentPresence(client: nil, namespace: "peerpull-system", daemonSet: "p2p-agent")
        await agents.apply(.replaced([]))
        let policy = ControllerPolicy(registries: [AdmissionWebhookTests.origin])
        let webhook = AdmissionWebhook(mutator: PodMutator(policy: policy, version: "0.1.0"), mirror: PullSecretMirror(store: store, policy: policy),
                                       namespaces: NamespaceLabelCache(client: nil), agents: agents, deadline: .seconds(20))
        let (response, result) = await webhook.review(AdmissionWebhookTests.review())
        #expect(result == "unchanged")
        let (_, json) = try await AdmissionWebhookTests().decode(response)
        let r = try #require(json["response"] as? [String: Any])
        #expect(r["patch"] == nil && r["allowed"] as? Bool == true)
        #expect((r["warnings"] as? [String])?.first?.contains("does not exist") == true, "\(r)")
        // No copy was made for a pod that is not rewritten.
        #expect(try await store.secret(namespace: "team-a", name: "acr-credential-regcred-p2p") == nil)
        // Agents ready again: the same review is rewritten.
        await agents.apply(.upserted(Self.daemonSet("p2p-agent", ready: 1)))
        #expect(await webhook.review(AdmissionWebhookTests.review()).1 == "mutated")
    }
}
