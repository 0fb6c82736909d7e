import Agent
import OCI
import Testing

@Suite("Agent settings")
struct AgentSettingsTests {
    static var swarm: AgentSettings {
        var s = AgentSettings()
        s.nodeName = "node-a"
        s.peerSecretFile = "/etc/peerpull-swarm/secret"
        s.membershipService = "p2p-agent"
        return s
    }

    @Test func withAMembershipServiceTheAdvertisedAddressIsRequiredUpFront() throws {
        // Looking itself up in a list not yet listed made the agent exit 64 at start.
        do {
            try Self.swarm.validate()
            Issue.record("a swarm from a Service without --advertise-address was accepted")
        } catch {
            #expect(error.field == "advertiseAddress", "\(error)")
        }
        var s = Self.swarm
        s.advertiseAddress = "198.18.0.17"
        try s.validate()
    }
}
