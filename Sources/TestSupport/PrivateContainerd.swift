import Foundation

/// A containerd of the test's own: its own root, state directory and socket, no CRI.
public final class PrivateContainerd: Sendable {
    public let directory: TemporaryDirectory
    public var socket: String { directory.file("containerd.sock") }
    private let process: BackgroundProcess

    public static func start() async throws -> PrivateContainerd {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/containerd") else {
            throw TestSupportError("containerd is missing: run scripts/install-deps.sh (apt-get install containerd)")
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

        """
        try config.write(toFile: dir.file("config.toml"), atomically: true, encoding: .utf8)
        do {
            let process = try BackgroundProcess(["containerd", "--config", dir.file("config.toml")], logPath: dir.file("containerd.log"))
            let c = PrivateContainerd(directory: dir, process: process)
            try await process.waitUntil {
                (try? await Command.run(["ctr", "-a", c.socket, "version"], check: false).status) == 0
            }
            return c
        } catch {
            dir.remove()
            throw error
        }
    }

    private init(directory: TemporaryDirectory, process: BackgroundProcess) {
        self.directory = directory
        self.process = process
    }

    /// `ctr -a <socket> -n peerpull <arguments>`.
    public func ctr(_ arguments: [String]) -> [String] {
        ["ctr", "-a", socket, "-n", "peerpull"] + arguments
    }

    public func stop() async {
        await process.stop()
        // Snapshots may leave mounts behind; unmount before removing.
        _ = try? await Command.run(["sh", "-c", "grep -o '\(directory.path)[^ ]*' /proc/mounts | sort -r | xargs -r -n1 umount -l"], check: false)
        directory.remove()
    }
}
