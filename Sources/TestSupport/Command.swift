import Foundation

/// Runs external programs (skopeo, htpasswd, the peerpull binary) for tests.
public enum Command {
    public struct Output: Sendable {
        public var status: Int32
        public var stdout: String
        public var stderr: String
    }

    public struct Failure: Error, CustomStringConvertible {
        public var command: [String]
        public var output: Output
        public var description: String {
            "\(command.joined(separator: " ")) exited \(output.status): \(output.stderr.suffix(2000))"
        }
    }

    /// Runs blocking work on a Dispatch thread and awaits its result.
    public static func blocking<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { c in
            DispatchQueue.global().async { c.resume(returning: work()) }
        }
    }

    /// Runs `arguments` (the first is looked up on PATH) and waits for it.
    @discardableResult
    public static func run(_ arguments: [String], stdin: String? = nil, environment: [String: String]? = nil, check: Bool = true) async throws -> Output {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        if let environment { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        let inPipe = Pipe()
        process.standardInput = stdin == nil ? FileHandle.nullDevice : inPipe
        try process.run()
        if let stdin {
            inPipe.fileHandleForWriting.write(Data(stdin.utf8))
            try? inPipe.fileHandleForWriting.close()
        }
        // Blocking reads and the wait run on Dispatch threads, never on the (two-thread)
        // cooperative pool, which in-process servers such as the token server need.
        async let o = blocking { out.fileHandleForReading.readDataToEndOfFile() }
        async let e = blocking { err.fileHandleForReading.readDataToEndOfFile() }
        let (stdoutData, stderrData) = await (o, e)
        await blocking { process.waitUntilExit() }
        let output = Output(status: process.terminationStatus,
                            stdout: String(decoding: stdoutData, as: UTF8.self),
                            stderr: String(decoding: stderrData, as: UTF8.self))
        if check && output.status != 0 { throw Failure(command: arguments, output: output) }
        return output
    }
}
