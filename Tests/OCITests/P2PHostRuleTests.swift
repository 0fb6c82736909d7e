import OCI
import Testing

@Suite("P2PHostRule")
struct P2PHostRuleTests {
    let rule = P2PHostRule()

    @Test func aliyunExample() throws {
        let origin = "test-registry-vpc.cn-hangzhou.cr.aliyuncs.com"
        let p2p = "test-registry-vpc.distributed.cn-hangzhou.cr.aliyuncs.com:65001"
        #expect(rule.p2pDomain(forOrigin: origin) == p2p)
        #expect(rule.origin(forP2PDomain: p2p) == origin)
        #expect(rule.p2pHostName(forOrigin: origin) == "test-registry-vpc.distributed.cn-hangzhou.cr.aliyuncs.com")
        #expect(rule.origin(forP2PDomain: "test-registry-vpc.distributed.cn-hangzhou.cr.aliyuncs.com") == origin)
        let image = try ImageReference(parsing: "\(origin)/docker-builder/nginx:latest")
        #expect(image.withDomain(p2p).description == "\(p2p)/docker-builder/nginx:latest")
    }

    @Test("not expressible", arguments: ["localhost", "127.0.0.1", "[::1]", "[::1]:5000", "127.0.0.1:5000", "a.distributed.b", "registry"])
    func notExpressible(_ origin: String) {
        #expect(rule.p2pDomain(forOrigin: origin) == nil)
    }

    @Test("not a P2P host", arguments: ["ghcr.io", "a.distributed.b:65002", "distributed.b:65001", "a.b.distributed.c:65001", "a.distributed.:65001"])
    func notP2P(_ host: String) {
        #expect(rule.origin(forP2PDomain: host) == nil)
    }

    @Test func originWithAPortKeepsTheAgentPort() {
        #expect(rule.p2pDomain(forOrigin: "harbor.example.com:8443") == "harbor.distributed.example.com:65001")
        #expect(P2PHostRule.host(of: "Harbor.Example.com:8443") == "harbor.example.com")
    }

    @Test func originSetMapsP2PHostsBackTheWayBothSidesAgree() {
        let one = OriginSet(["Harbor.Example.com:8443", "ghcr.io"])
        #expect(one.origin(named: "harbor.example.com") == "harbor.example.com:8443")
        #expect(one.origin(named: "ghcr.io") == "ghcr.io")
        #expect(one.roundTrips("harbor.example.com:8443", rule: rule))
        let two = OriginSet(["harbor.example.com:8443", "harbor.example.com:5000"])
        #expect(two.origin(named: "harbor.example.com") == nil)
        #expect(!two.roundTrips("harbor.example.com:8443", rule: rule))
        #expect(!one.roundTrips("127.0.0.1:5000", rule: rule))
    }

    @Test func otherPort() {
        let r = P2PHostRule(port: 5001)
        #expect(r.p2pDomain(forOrigin: "ghcr.io") == "ghcr.distributed.io:5001")
        #expect(r.origin(forP2PDomain: "ghcr.distributed.io:5001") == "ghcr.io")
    }
}
