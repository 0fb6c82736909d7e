import Foundation

/// A long-running program (the agent binary, containerd) started by a test, its output
/// in a log file, stopped with SIGTERM and, if it lingers, SIGKILL.
public final class BackgroundProcess: @unchecked Sendable {
    public let arguments: [String]
    public let logPath: String
    private let process: Process

    public init(_ arguments: [String], logPath: String, environment: [String: String]? = nil) throws {
        self.arguments = arguments
        self.logPath = logPath
        FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = arguments
        if let environment { p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        p.standardOutput = log
        p.standardError = log
        p.standardInput = FileHandle.nullDevice
        try p.run()
        try? log.close()
        process = p
    }

    public var isRunning: Bool { process.isRunning }
    public var pid: Int32 { process.processIdentifier }
    /// Ended on its own with status 0 (not killed by a signal, not an error).
    public var exitedCleanly: Bool { !process.isRunning && process.terminationReason == .exit && process.terminationStatus == 0 }

    /// Sends SIGTERM, as the kubelet does when a pod stops, and returns at once.
    public func signalTerminate() { if process.isRunning { process.terminate() } }
    public var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Polls `ready` until it is true, failing with the log if the process exits or time runs out.
    public func waitUntil(timeout: Duration = .seconds(20), _ ready: () async -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while !(await ready()) {
            guard process.isRunning else { throw TestSupportError("\(arguments.prefix(3).joined(separator: " ")) exited: \(log.suffix(2000))") }
            guard ContinuousClock.now < deadline else { throw TestSupportError("\(arguments.prefix(3).joined(separator: " ")) not ready: \(log.suffix(2000))") }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    /// Waits for the process to end on its own, failing with the log when it does not.
    public func waitUntilExited(timeout: Duration) async throws {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning {
            guard ContinuousClock.now < deadline else { throw TestSupportError("\(arguments.prefix(3).joined(separator: " ")) still running: \(log.suffix(2000))") }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    public func stop() async {
        guard process.isRunning else { return }
        process.terminate()
        let p = process
        let exited = await Command.blocking {
            for _ in 0..<100 where p.isRunning { usleep(50_000) }
            return !p.isRunning
        }
        if !exited { kill(p.processIdentifier, SIGKILL) }
    }
}

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
