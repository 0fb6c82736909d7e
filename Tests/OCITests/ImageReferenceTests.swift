import OCI
import Testing

private let h64 = String(repeating: "a", count: 64)
private let d = "sha256:" + String(repeating: "1", count: 64)

/// Valid inputs and their normalised form (distribution/reference `ParseNormalizedNamed`
/// followed by `TagNameOnly`).
private let validVectors: [(String, String)] = [
    ("nginx", "docker.io/library/nginx:latest"),
    ("nginx:1.25", "docker.io/library/nginx:1.25"),
    ("nginx:latest", "docker.io/library/nginx:latest"),
    ("library/nginx", "docker.io/library/nginx:latest"),
    ("docker.io/nginx", "docker.io/library/nginx:latest"),
    ("docker.io/library/nginx", "docker.io/library/nginx:latest"),
    ("index.docker.io/nginx", "docker.io/library/nginx:latest"),
    ("index.docker.io/library/nginx:1", "docker.io/library/nginx:1"),
    ("foo/bar", "docker.io/foo/bar:latest"),
    ("foo/bar/baz", "docker.io/foo/bar/baz:latest"),
    ("localhost/foo", "localhost/foo:latest"),
    ("localhost:5000/foo", "localhost:5000/foo:latest"),
    ("localhost:5000/foo:bar", "localhost:5000/foo:bar"),
    ("localhost", "docker.io/library/localhost:latest"),
    ("localhost:5000", "docker.io/library/localhost:5000"),
    ("example.com", "docker.io/library/example.com:latest"),
    ("example.com/foo", "example.com/foo:latest"),
    ("myhost:5000/foo", "myhost:5000/foo:latest"),
    ("myhost:5000/foo/bar:v1", "myhost:5000/foo/bar:v1"),
    ("127.0.0.1/foo", "127.0.0.1/foo:latest"),
    ("127.0.0.1:5000/foo", "127.0.0.1:5000/foo:latest"),
    ("[::1]/foo", "[::1]/foo:latest"),
    ("[::1]:5000/foo", "[::1]:5000/foo:latest"),
    ("[2001:db8::1]:5000/team/app:v2", "[2001:db8::1]:5000/team/app:v2"),
    ("Foo/bar", "Foo/bar:latest"),
    ("FOO.example.com/bar", "FOO.example.com/bar:latest"),
    ("registry-1.docker.io/library/nginx", "registry-1.docker.io/library/nginx:latest"),
    ("test-registry-vpc.cn-hangzhou.cr.aliyuncs.com/docker-builder/nginx:latest", "test-registry-vpc.cn-hangzhou.cr.aliyuncs.com/docker-builder/nginx:latest"),
    ("test-registry-vpc.distributed.cn-hangzhou.cr.aliyuncs.com:65001/docker-builder/nginx:latest", "test-registry-vpc.distributed.cn-hangzhou.cr.aliyuncs.com:65001/docker-builder/nginx:latest"),
    ("ghcr.io/owner/repo:sha-abc123", "ghcr.io/owner/repo:sha-abc123"),
    ("harbor.example.com/project/sub/app:1.0.0-rc.1", "harbor.example.com/project/sub/app:1.0.0-rc.1"),
    ("nginx@\(d)", "docker.io/library/nginx@\(d)"),
    ("nginx:1.25@\(d)", "docker.io/library/nginx:1.25@\(d)"),
    ("example.com:8443/a/b:c@\(d)", "example.com:8443/a/b:c@\(d)"),
    ("example.com/a@sha512:\(String(repeating: "b", count: 128))", "example.com/a@sha512:\(String(repeating: "b", count: 128))"),
    ("a", "docker.io/library/a:latest"),
    ("a/b", "docker.io/a/b:latest"),
    ("a.b/c", "a.b/c:latest"),
    ("a-b.c-d/e", "a-b.c-d/e:latest"),
    ("foo_bar", "docker.io/library/foo_bar:latest"),
    ("foo__bar", "docker.io/library/foo__bar:latest"),
    ("foo.bar", "docker.io/library/foo.bar:latest"),
    ("foo-bar", "docker.io/library/foo-bar:latest"),
    ("foo---bar", "docker.io/library/foo---bar:latest"),
    ("foo/bar.baz_qux-1", "docker.io/foo/bar.baz_qux-1:latest"),
    ("nginx:_underscore", "docker.io/library/nginx:_underscore"),
    ("nginx:UPPER", "docker.io/library/nginx:UPPER"),
    ("nginx:a.b-c_d", "docker.io/library/nginx:a.b-c_d"),
    ("nginx:" + String(repeating: "t", count: 128), "docker.io/library/nginx:" + String(repeating: "t", count: 128)),
    ("x/" + String(repeating: "a", count: 253), "docker.io/x/" + String(repeating: "a", count: 253) + ":latest"),
    ("0123456789", "docker.io/library/0123456789:latest"),
    (String(repeating: "a", count: 63), "docker.io/library/" + String(repeating: "a", count: 63) + ":latest"),
    (h64 + "/foo", "docker.io/" + h64 + "/foo:latest"),
    ("1.2.3.4:1/x", "1.2.3.4:1/x:latest"),
    ("xn--bcher-kva.example/app", "xn--bcher-kva.example/app:latest"),
]

/// Inputs that must be refused, with the problem they must be refused for.
private let invalidVectors: [(String, @Sendable (ImageReferenceError.Problem) -> Bool)] = [
    ("", { $0 == .empty }),
    (h64, { $0 == .hexIdentifier }),
    ("Nginx", { if case .uppercaseRepository = $0 { true } else { false } }),
    ("docker.io/Library/nginx", { if case .uppercaseRepository = $0 { true } else { false } }),
    ("example.com/Foo", { if case .uppercaseRepository = $0 { true } else { false } }),
    ("foo/Bar", { if case .uppercaseRepository = $0 { true } else { false } }),
    ("nginx:", { if case .invalidTag = $0 { true } else { false } }),
    ("nginx:-tag", { if case .invalidTag = $0 { true } else { false } }),
    ("nginx:.tag", { if case .invalidTag = $0 { true } else { false } }),
    ("nginx:ta+g", { if case .invalidTag = $0 { true } else { false } }),
    ("nginx:" + String(repeating: "t", count: 129), { if case .tagTooLong = $0 { true } else { false } }),
    ("nginx@", { if case .invalidDigest = $0 { true } else { false } }),
    ("nginx@sha256:abc", { if case .invalidDigest = $0 { true } else { false } }),
    ("nginx@sha256:" + String(repeating: "A", count: 64), { if case .invalidDigest = $0 { true } else { false } }),
    ("nginx@md5:" + String(repeating: "a", count: 32), { if case .invalidDigest = $0 { true } else { false } }),
    ("nginx@sha384:" + String(repeating: "a", count: 96), { if case .invalidDigest = $0 { true } else { false } }),
    ("nginx@sha256:../../etc/passwd", { if case .invalidDigest = $0 { true } else { false } }),
    ("nginx@\(d)@\(d)", { if case .invalidDigest = $0 { true } else { false } }),
    ("-foo", { if case .invalidPathComponent = $0 { true } else { false } }),
    ("foo-", { if case .invalidPathComponent = $0 { true } else { false } }),
    ("foo_", { if case .invalidPathComponent = $0 { true } else { false } }),
    ("foo___bar", { if case .invalidPathComponent = $0 { true } else { false } }),
    ("foo..bar", { if case .invalidPathComponent = $0 { true } else { false } }),
    ("foo._bar", { if case .invalidPathComponent = $0 { true } else { false } }),
    ("foo//bar", { if case .invalidPathComponent = $0 { true } else { false } }),
    ("foo/", { if case .invalidPathComponent = $0 { true } else { false } }),
    ("/foo", { if case .invalidPathComponent = $0 { true } else { false } }),
    ("example.com/", { if case .invalidPathComponent = $0 { true } else { false } }),
    ("example.com/foo/", { if case .invalidPathComponent = $0 { true } else { false } }),
    ("example.com/.foo", { if case .invalidPathComponent = $0 { true } else { false } }),
    ("-example.com/foo", { if case .invalidDomain = $0 { true } else { false } }),
    ("example-.com/foo", { if case .invalidDomain = $0 { true } else { false } }),
    ("exa_mple.com/foo", { if case .invalidDomain = $0 { true } else { false } }),
    ("example..com/foo", { if case .invalidDomain = $0 { true } else { false } }),
    (".example.com/foo", { if case .invalidDomain = $0 { true } else { false } }),
    ("example.com:/foo", { if case .invalidPort = $0 { true } else { false } }),
    ("example.com:abc/foo", { if case .invalidPort = $0 { true } else { false } }),
    ("example.com:50:00/foo", { if case .invalidPort = $0 { true } else { false } }),
    ("[::1/foo", { if case .invalidDomain = $0 { true } else { false } }),
    ("[]/foo", { if case .invalidPathComponent = $0 { true } else { false } }),
    ("[zz::1]/foo", { if case .invalidDomain = $0 { true } else { false } }),
    ("[::1]x/foo", { if case .invalidDomain = $0 { true } else { false } }),
    ("[fe80::1%eth0]/foo", { if case .invalidDomain = $0 { true } else { false } }),
    ("[::1]", { if case .invalidTag = $0 { true } else { false } }),
    ("nginx latest", { if case .invalidCharacter = $0 { true } else { false } }),
    ("nginx\t", { if case .invalidCharacter = $0 { true } else { false } }),
    ("ngïnx", { if case .invalidCharacter = $0 { true } else { false } }),
    ("nginx\u{0}", { if case .invalidCharacter = $0 { true } else { false } }),
    ("x/" + String(repeating: "a", count: 254), { if case .repositoryTooLong = $0 { true } else { false } }),
    ("example.com/" + String(repeating: "a/", count: 128) + "b", { if case .repositoryTooLong = $0 { true } else { false } }),
    ("foo/bar:tag:tag", { if case .invalidPathComponent = $0 { true } else { false } }),
    ("foo!/bar", { if case .invalidPathComponent = $0 { true } else { false } }),
]

@Suite("ImageReference")
struct ImageReferenceTests {
    @Test("vector count", .tags(.vectors))
    func vectorCount() {
        // The foundation issue asks for at least 80 vectors.
        #expect(validVectors.count + invalidVectors.count >= 80)
    }

    @Test("valid references normalise", arguments: validVectors)
    func valid(_ vector: (String, String)) throws {
        let (input, expected) = vector
        let reference = try ImageReference(parsing: input)
        #expect(reference.description == expected)
        // Round trip: the normalised form parses back to an equal value.
        #expect(try ImageReference(parsing: reference.description) == reference)
    }

    @Test("invalid references are refused with the right problem", arguments: invalidVectors.indices)
    func invalid(_ index: Int) {
        let (input, matches) = invalidVectors[index]
        do {
            let r = try ImageReference(parsing: input)
            Issue.record("\(String(reflecting: input)) parsed as \(r)")
        } catch {
            #expect(matches(error.problem), "\(String(reflecting: input)): \(error.problem)")
            #expect(error.description.contains("at offset"))
        }
    }

    @Test func parts() throws {
        let r = try ImageReference(parsing: "example.com:8443/team/app:v1@\(d)")
        #expect(r.domain == "example.com:8443")
        #expect(r.repository == "team/app")
        #expect(r.tag == "v1")
        #expect(r.digest?.description == d)
        #expect(r.manifestReference == d)
        #expect(try ImageReference(parsing: "nginx").manifestReference == "latest")
    }

    @Test func errorSaysWhere() {
        do {
            _ = try ImageReference(parsing: "example.com/team/App:v1")
            Issue.record("accepted")
        } catch {
            #expect(error.offset == 12)
            #expect(error.description.contains("must be lowercase"))
        }
    }

    @Test func withDomainKeepsPathTagAndDigest() throws {
        let r = try ImageReference(parsing: "test-registry-vpc.cn-hangzhou.cr.aliyuncs.com/docker-builder/nginx:latest@\(d)")
        let p = r.withDomain("test-registry-vpc.distributed.cn-hangzhou.cr.aliyuncs.com:65001")
        #expect(p.description == "test-registry-vpc.distributed.cn-hangzhou.cr.aliyuncs.com:65001/docker-builder/nginx:latest@\(d)")
    }
}

extension Tag {
    @Tag static var vectors: Self
}
