import OCI
import Testing

private let digestA = "sha256:" + String(repeating: "a", count: 64)
private let digestB = "sha256:" + String(repeating: "b", count: 64)
private let digestC = "sha256:" + String(repeating: "c", count: 64)

@Suite("Manifests")
struct ManifestTests {
    @Test func dockerSchema2() throws {
        let json = """
        {"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",
         "config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":7023,"digest":"\(digestA)"},
         "layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":32654,"digest":"\(digestB)"}]}
        """
        guard case .image(let m) = try ManifestDocument(data: Array(json.utf8), contentType: nil) else {
            Issue.record("not an image manifest"); return
        }
        #expect(m.blobs.map(\.digest.description) == [digestA, digestB])
        #expect(m.layers[0].size == 32654)
    }

    @Test func ociIndexPicksPlatform() throws {
        let json = """
        {"schemaVersion":2,"manifests":[
          {"mediaType":"application/vnd.oci.image.manifest.v1+json","size":1,"digest":"\(digestA)","platform":{"architecture":"arm64","os":"linux","variant":"v8"}},
          {"mediaType":"application/vnd.oci.image.manifest.v1+json","size":2,"digest":"\(digestB)","platform":{"architecture":"amd64","os":"linux"}},
          {"mediaType":"application/vnd.oci.image.manifest.v1+json","size":3,"digest":"\(digestC)","platform":{"architecture":"unknown","os":"unknown"}}]}
        """
        // Content-Type decides even though the document has no mediaType field.
        guard case .index(let index) = try ManifestDocument(data: Array(json.utf8), contentType: "application/vnd.oci.image.index.v1+json") else {
            Issue.record("not an index"); return
        }
        #expect(index.manifest(for: Platform(os: "linux", architecture: "amd64"))?.digest.description == digestB)
        #expect(index.manifest(for: Platform(os: "linux", architecture: "arm64"))?.digest.description == digestA)
        #expect(index.manifest(for: Platform(os: "linux", architecture: "arm64", variant: "v8"))?.digest.description == digestA)
        #expect(index.manifest(for: Platform(os: "linux", architecture: "arm", variant: "v7")) == nil)
        #expect(index.manifest(for: Platform(os: "windows", architecture: "amd64")) == nil)
    }

    @Test func dockerManifestListWithoutContentType() throws {
        let json = """
        {"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json","manifests":[
          {"mediaType":"application/vnd.docker.distribution.manifest.v2+json","size":1,"digest":"\(digestA)","platform":{"architecture":"amd64","os":"linux"}}]}
        """
        guard case .index = try ManifestDocument(data: Array(json.utf8), contentType: "application/octet-stream") else {
            Issue.record("not an index"); return
        }
    }

    @Test("bad documents give clear errors", arguments: [
        "", "{", "[]", #"{"schemaVersion":1,"fsLayers":[]}"#,
        #"{"schemaVersion":2}"#,
        #"{"schemaVersion":2,"config":{"mediaType":"x","size":1,"digest":"sha256:../../etc"},"layers":[]}"#,
        #"{"schemaVersion":2,"config":{"mediaType":"x","size":"big","digest":"\#(digestA)"},"layers":[]}"#,
        // Found by the `manifest` fuzz target: a negative size was accepted.
        #"{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","size":-1,"digest":"\#(digestA)"}]}"#,
        #"{"schemaVersion":2,"config":{"mediaType":"x","size":-7023,"digest":"\#(digestA)"},"layers":[]}"#,
        // Sizes the pull's progress would add up past Int64.max.
        #"{"schemaVersion":2,"config":{"mediaType":"x","size":1,"digest":"\#(digestA)"},"layers":[{"mediaType":"x","size":4611686018427387904,"digest":"\#(digestB)"},{"mediaType":"x","size":4611686018427387904,"digest":"\#(digestC)"}]}"#,
    ])
    func bad(_ json: String) {
        #expect(throws: ManifestError.self) { try ManifestDocument(data: Array(json.utf8), contentType: nil) }
    }

    @Test func platformParsing() {
        #expect(Platform(parsing: "linux/arm64/v8") == Platform(os: "linux", architecture: "arm64", variant: "v8"))
        #expect(Platform(parsing: "linux/amd64") == Platform(os: "linux", architecture: "amd64"))
        #expect(Platform(parsing: "linux") == nil)
        #expect(Platform(parsing: "linux//v7") == nil)
        #expect(Platform(parsing: "a/b/c/d") == nil)
    }
}
