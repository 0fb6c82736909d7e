import NIOPosix
import OCI

/// Manifests fetched by digest, kept after their bytes matched the digest. Tags are
/// never cached: they move, so the front end asks the origin every time.
///
/// Stored as `<root>/manifests/<alg>/<hex>` with the media type in `<hex>.type`; both
/// written atomically, the type first, so a manifest file always has its type.
public struct ManifestCache: Sendable {
    public let root: String

    public init(root: String) throws(LayoutError) {
        self.root = root + "/manifests"
        for algorithm in Digest.Algorithm.allCases {
            try FileSystem.makeDirectories(self.root + "/" + algorithm.rawValue)
        }
    }

    private func path(_ digest: Digest) -> String { "\(root)/\(digest.algorithm.rawValue)/\(digest.hex)" }

    /// The manifest's bytes and media type, if cached and still matching the digest.
    public func get(_ digest: Digest) async -> (bytes: [UInt8], contentType: String)? {
        let path = path(digest)
        return try? await NIOThreadPool.singleton.runIfActive { () -> (bytes: [UInt8], contentType: String)? in
            guard let type = try? FileSystem.readFile(path + ".type", limit: 1024),
                  let bytes = try? FileSystem.readFile(path, limit: 4 << 20),
                  Digest.compute(digest.algorithm, of: bytes) == digest else { return nil }
            return (bytes, String(decoding: type, as: UTF8.self))
        }
    }

    /// Stores a manifest whose bytes were checked against `digest`.
    public func put(_ digest: Digest, bytes: [UInt8], contentType: String) async {
        guard Digest.compute(digest.algorithm, of: bytes) == digest else { return }
        let path = path(digest)
        _ = try? await NIOThreadPool.singleton.runIfActive {
            try FileSystem.writeAtomically(Array(contentType.utf8), to: path + ".type")
            try FileSystem.writeAtomically(bytes, to: path)
        }
    }
}
