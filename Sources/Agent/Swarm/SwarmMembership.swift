import Foundation
import Logging
import Swarm

/// The agents of the swarm, from a static member list (`--peers FILE`) that is read again
/// when it changes, so a member list edited during a pull takes effect within seconds.
public actor SwarmMembership: SwarmMembers {
    public nonisolated let path: String
    private var members: [Member] = []
    private var modified: Date?
    private let logger: Logger

    public init(path: String, logger: Logger) throws(StaticMembership.Problem) {
        self.path = path
        self.logger = logger
        let (members, modified) = try Self.read(path)
        self.members = members
        self.modified = modified
    }

    public var current: [Member] { members }

    /// Reads the file again if it changed; a file that no longer parses keeps the last list.
    public func refresh() {
        let date = (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date
        guard date != modified else { return }
        do {
            let (next, at) = try Self.read(path)
            if next != members { logger.info("member list changed", metadata: ["members": "\(next.count)", "path": "\(path)"]) }
            members = next
            modified = at
        } catch {
            modified = date
            logger.warning("member list does not parse; keeping the last one", metadata: ["path": "\(path)", "error": "\(error)"])
        }
    }

    public func follow() async { await follow(interval: .seconds(2)) }

    /// Re-reads the file every `interval` until cancelled.
    public func follow(interval: Duration) async {
        while !Task.isCancelled {
            try? await Task.sleep(for: interval)
            refresh()
        }
    }

    static func read(_ path: String) throws(StaticMembership.Problem) -> ([Member], Date?) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw StaticMembership.Problem(line: 0, problem: "cannot read \(path)")
        }
        let date = (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date
        return (try StaticMembership.parse(String(decoding: data, as: UTF8.self)), date)
    }
}
