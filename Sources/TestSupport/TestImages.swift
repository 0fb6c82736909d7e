import Foundation
import OCI
import SyntheticImages

/// Generated images pushed to a real registry with skopeo.
public enum TestImages {
    /// Writes `image` to a temporary OCI layout and pushes it (all platforms) to
    /// `registry` as `repository:tag`. Returns the top-level descriptor.
    @discardableResult
    public static func push(
        _ image: SyntheticImage, to registry: RegistryServer, repository: String, tag: String,
        credentials: (String, String)? = nil
    ) async throws -> Descriptor {
        let dir = try TemporaryDirectory(prefix: "peerpull-image")
        defer { dir.remove() }
        let layout = try OCILayout(root: dir.path)
        // gzip and SHA-256 of the layers are CPU work; off the two-thread cooperative pool.
        let top = try await Command.blocking { () -> Result<Descriptor, any Error> in
            Result { try image.write(to: layout, tag: tag) }
        }.get()
        var args = (registry.namespace.map { ["ip", "netns", "exec", $0] } ?? []) + ["skopeo", "--insecure-policy", "copy", "--all", "--dest-tls-verify=false", "--retry-times", "2"]
        if let (u, p) = credentials { args += ["--dest-creds", "\(u):\(p)"] }
        args += ["oci:\(dir.path):\(tag)", "docker://\(registry.domain)/\(repository):\(tag)"]
        try await Command.run(args)
        return top
    }

    /// The directory that holds the `peerpull` binary built with the tests.
    public static var peerpullBinary: String {
        if let explicit = ProcessInfo.processInfo.environment["PEERPULL_BINARY"] { return explicit }
        let exe = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var dir = exe.deletingLastPathComponent()
        // macOS bundles nest the test binary in .xctest/Contents/MacOS.
        while dir.path.contains(".xctest") { dir = dir.deletingLastPathComponent() }
        return dir.appendingPathComponent("peerpull").path
    }
}
