import Foundation
import OCI
import OCIClient
import Testing

@Suite("Docker config credentials")
struct DockerConfigTests {
    @Test func keysNormaliseLikeKubelet() throws {
        let auth = Data("alice:s3cr:et".utf8).base64EncodedString()
        let json = """
        {"auths":{"https://index.docker.io/v1/":{"auth":"\(auth)"},
                  "registry.example.com:5000":{"username":"bob","password":"pw"},
                  "http://Other.Example.com/v2/":{"auth":"\(auth)"}}}
        """
        let c = try DockerConfigCredentials(json: Data(json.utf8))
        #expect(c.credentials(for: "docker.io") == RegistryCredentials(username: "alice", password: "s3cr:et"))
        #expect(c.credentials(for: "registry.example.com:5000")?.username == "bob")
        #expect(c.credentials(for: "registry.example.com") == nil)
        #expect(c.credentials(for: "other.example.com")?.username == "alice")
    }

    @Test func malformedAuthIsAnError() {
        #expect(throws: ConfigFileError.self) {
            try DockerConfigCredentials(json: Data(#"{"auths":{"x":{"auth":"!!!"}}}"#.utf8))
        }
        #expect(throws: ConfigFileError.self) { try DockerConfigCredentials(json: Data("not json".utf8)) }
    }

    @Test func missingFileMeansNoCredentials() throws {
        let c = try DockerConfigCredentials(contentsOf: "/nonexistent/peerpull/config.json")
        #expect(c.entries.isEmpty)
    }
}
