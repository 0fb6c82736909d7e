import OCI
import Testing

@Suite("Digest")
struct DigestTests {
    @Test func parsesCanonicalForms() throws {
        let hex = String(repeating: "0123456789abcdef", count: 4)
        let d = try Digest(parsing: "sha256:\(hex)")
        #expect(d.algorithm == .sha256)
        #expect(d.hex == hex)
        #expect(d.description == "sha256:\(hex)")
        #expect(d.layoutPath == "blobs/sha256/\(hex)")
        #expect(try Digest(parsing: "sha512:" + String(repeating: "f", count: 128)).algorithm == .sha512)
    }

    @Test("refuses everything else", arguments: [
        "", "sha256", "sha256:", ":abc", "sha256:abc",
        "sha256:" + String(repeating: "a", count: 63),
        "sha256:" + String(repeating: "a", count: 65),
        "sha256:" + String(repeating: "A", count: 64),
        "sha256:" + String(repeating: "g", count: 64),
        "SHA256:" + String(repeating: "a", count: 64),
        "sha384:" + String(repeating: "a", count: 96),
        "md5:" + String(repeating: "a", count: 32),
        "sha256:../../etc/passwd",
        "sha256:" + String(repeating: ".", count: 64),
        "sha256:" + String(repeating: "a", count: 62) + "/.",
        "sha512:" + String(repeating: "a", count: 64),
        " sha256:" + String(repeating: "a", count: 64),
        "sha256:" + String(repeating: "a", count: 64) + "\n",
    ])
    func refuses(_ text: String) {
        #expect(throws: DigestError.self) { try Digest(parsing: text) }
        #expect(!Digest.isValid(text))
    }

    @Test func knownHashes() {
        #expect(Digest.compute(of: [UInt8]()).description == "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(Digest.compute(of: Array("abc".utf8)).description == "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(Digest.compute(.sha512, of: Array("abc".utf8)).hex.hasPrefix("ddaf35a193617aba"))
    }

    @Test func incrementalVerificationMatchesOneShot() throws {
        let bytes = (0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        var verifier = DigestVerifier()
        for start in stride(from: 0, to: bytes.count, by: 777) {
            verifier.update(Array(bytes[start..<min(start + 777, bytes.count)]))
        }
        #expect(verifier.count == 100_000)
        try verifier.verify(Digest.compute(of: bytes))
        var wrong = DigestVerifier()
        wrong.update(Array(bytes.dropLast()))
        #expect(throws: DigestMismatch.self) { try wrong.verify(Digest.compute(of: bytes)) }
    }

    @Test func errorsSayWhat() {
        do {
            let d = try Digest(parsing: "sha256:" + String(repeating: "a", count: 10) + "Z" + String(repeating: "a", count: 53))
            Issue.record("a malformed digest parsed as \(d)")
        } catch {
            #expect(error.description.contains("offset 17"))
        }
    }
}
