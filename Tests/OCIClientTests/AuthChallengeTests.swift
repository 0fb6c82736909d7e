import OCI
import OCIClient
import Testing

@Suite("WWW-Authenticate parsing")
struct AuthChallengeTests {
    @Test func bearerFromDistribution() {
        let c = AuthChallenge.parse(#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull""#)
        #expect(c.count == 1)
        #expect(c[0].scheme == "bearer")
        #expect(c[0].realm == "https://auth.docker.io/token")
        #expect(c[0].service == "registry.docker.io")
        #expect(c[0].scope == "repository:library/nginx:pull")
    }

    @Test func basicRealm() {
        let c = AuthChallenge.parse(#"Basic realm="peerpull-test""#)
        #expect(c == [AuthChallenge(scheme: "Basic", parameters: ["realm": "peerpull-test"])])
    }

    @Test func severalChallengesAndOddSpacing() {
        let c = AuthChallenge.parse(#"Basic realm="a" , Bearer  realm = "https://x/token" ,service=svc, error="insufficient_scope""#)
        #expect(c.count == 2)
        #expect(c[1].scheme == "bearer")
        #expect(c[1].realm == "https://x/token")
        #expect(c[1].service == "svc")
        #expect(c[1].parameters["error"] == "insufficient_scope")
    }

    @Test func quotedEscapes() {
        let c = AuthChallenge.parse(#"Bearer realm="a\"b\\c""#)
        #expect(c.first?.realm == #"a"b\c"#)
    }

    @Test("garbage does not crash", arguments: ["", ",,,", "=", "Bearer realm=\"unterminated", "Bearer ,,= =", "\u{0}\u{1}", "Bearer realm"])
    func garbage(_ header: String) {
        _ = AuthChallenge.parse(header)
    }
}
