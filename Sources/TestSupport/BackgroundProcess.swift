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
        kill(process.processIdentifier, SIGCONT)  // a stopped process (SIGSTOP) takes SIGTERM only once continued
        process.terminate()
        let p = process
        let exited = await Command.blocking {
            for _ in 0..<100 where p.isRunning { usleep(50_000) }
            return !p.isRunning
        }
        if !exited { kill(p.processIdentifier, SIGKILL) }
    }
}
