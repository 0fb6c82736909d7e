import Foundation

/// A containerd of the test's own: its own root, state directory and socket, no CRI.
public final class PrivateContainerd: Sendable {
    public let directory: TemporaryDirectory
    public var socket: String { directory.file("containerd.sock") }
    private let process: BackgroundProcess
    /// Where its `containerd` and `ctr` are.
    public let binaries: String

    /// A version of containerd this machine can run: the installed one (bookworm's), and
    /// the ones `scripts/containerd-versions.sh` unpacked (trixie's, sid's).
    public struct Version: Sendable, CustomStringConvertible {
        public let name: String
        /// The directory holding `containerd` and `ctr`.
        public let binaries: String
        public var description: String { name }
        public var major: Int { Int(name.prefix { $0 != "." }) ?? 0 }
    }

    /// The installed containerd first, then the unpacked ones, oldest first.
    public static let versions: [Version] = {
        var out = [Version(name: installedVersion() ?? "installed", binaries: "/usr/bin")]
        let cache = ProcessInfo.processInfo.environment["PEERPULL_CONTAINERD_CACHE"] ?? "/var/cache/peerpull/containerd"
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: cache)) ?? []
        for entry in entries.sorted() where entry.hasPrefix("containerd-") {
            let bin = "\(cache)/\(entry)/usr/bin"
            guard FileManager.default.isExecutableFile(atPath: bin + "/containerd") else { continue }
            out.append(Version(name: String(entry.dropFirst("containerd-".count).prefix { $0 != "~" && $0 != "+" }), binaries: bin))
        }
        return out
    }()

    private static func installedVersion() -> String? {
        guard let text = try? String(contentsOfFile: "/var/lib/dpkg/status", encoding: .utf8),
              let block = text.components(separatedBy: "\n\n").first(where: { $0.hasPrefix("Package: containerd\n") }),
              let line = block.split(separator: "\n").first(where: { $0.hasPrefix("Version: ") }) else { return nil }
        return String(line.dropFirst("Version: ".count).prefix { $0 != "~" && $0 != "+" && $0 != "-" })
    }

    /// - Parameter wrap: runs the daemon inside it (`HostsOverride.wrap`: containerd 2's
    ///   `ctr` pulls through the daemon's transfer service, so names resolve there).
    public static func start(_ version: Version? = nil, wrap: (([String]) -> [String])? = nil) async throws -> PrivateContainerd {
        let binaries = version?.binaries ?? "/usr/bin"
        guard FileManager.default.isExecutableFile(atPath: binaries + "/containerd") else {
            throw TestSupportError("\(binaries)/containerd is missing: run scripts/install-deps.sh")
        }
        let dir = try TemporaryDirectory(prefix: "peerpull-ctrd")
        let config = """
        version = 2
        root = "\(dir.file("root"))"
        state = "\(dir.file("state"))"
        disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.internal.v1.opt", "io.containerd.tracing.processor.v1.otlp"]
        [grpc]
          address = "\(dir.file("containerd.sock"))"
        [ttrpc]
          address = "\(dir.file("containerd.sock.ttrpc"))"
        [debug]
          address = ""
        [metrics]
          address = ""
        # containerd 2's ctr pulls through the transfer service, which unpacks only for
        # the platforms named here (1.6 ignores the section).
        [[plugins."io.containerd.transfer.v1.local".unpack_config]]
          platform = "linux/amd64"
          snapshotter = "native"

        """
        try config.write(toFile: dir.file("config.toml"), atomically: true, encoding: .utf8)
        do {
            // Its shims are found on PATH, next to it.
            let command = [binaries + "/containerd", "--config", dir.file("config.toml")]
            let process = try BackgroundProcess(wrap?(command) ?? command, logPath: dir.file("containerd.log"),
                                                environment: ["PATH": "\(binaries):/usr/sbin:/usr/bin:/sbin:/bin"])
            let c = PrivateContainerd(directory: dir, process: process, binaries: binaries)
            try await process.waitUntil {
                (try? await Command.run([binaries + "/ctr", "-a", c.socket, "version"], check: false).status) == 0
            }
            return c
        } catch {
            dir.remove()
            throw error
        }
    }

    private init(directory: TemporaryDirectory, process: BackgroundProcess, binaries: String) {
        self.directory = directory
        self.process = process
        self.binaries = binaries
    }

    /// `ctr -a <socket> -n peerpull <arguments>`, with the daemon's own `ctr`.
    public func ctr(_ arguments: [String]) -> [String] {
        [binaries + "/ctr", "-a", socket, "-n", "peerpull"] + arguments
    }

    public func stop() async {
        await process.stop()
        // Snapshots may leave mounts behind; unmount before removing.
        _ = try? await Command.run(["sh", "-c", "grep -o '\(directory.path)[^ ]*' /proc/mounts | sort -r | xargs -r -n1 umount -l"], check: false)
        directory.remove()
    }
}
