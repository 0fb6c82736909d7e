import Logging
import Synchronization

/// The running agent's containerd preflight: reads containerd's configuration when asked
/// (each readiness probe, `/status`, `/metrics`), so a fixed configuration makes the agent
/// ready without a restart, logs each new verdict once, and keeps the metric current.
/// Files are parsed again only when they change (`ContainerdConfigReader`).
public final class ContainerdPreflightCheck: Sendable {
    /// containerd's config file, as the node names it.
    public let configFile: String
    /// Where the node's files are seen from the agent ("" when it runs on the node itself).
    public let hostRoot: String
    /// Where the agent writes `hosts.toml`, as containerd names it.
    public let agentDirectory: String
    let metrics: AgentMetrics?
    let logger: Logger
    private let reader = ContainerdConfigReader()
    private let last = Mutex<ContainerdPreflight?>(nil)

    /// `hostsDirectory`: the agent's `--containerd-config-path`, as the agent sees it.
    public init(configFile: String, hostRoot: String, hostsDirectory: String, metrics: AgentMetrics?, logger: Logger) {
        self.configFile = configFile
        self.hostRoot = hostRoot
        self.agentDirectory = ContainerdPreflight.containerdView(of: hostsDirectory, hostRoot: hostRoot)
        self.metrics = metrics
        self.logger = logger
    }

    /// Reads the configuration and returns the verdict.
    @discardableResult
    public func check() -> ContainerdPreflight {
        let verdict: ContainerdPreflight
        do {
            verdict = ContainerdPreflight.evaluate(try reader.load(configFile, hostRoot: hostRoot), agentDirectory: agentDirectory)
        } catch {
            verdict = ContainerdPreflight.unreadable(error, configFile: configFile, agentDirectory: agentDirectory)
        }
        let previous = last.withLock { last in
            defer { last = verdict }
            return last
        }
        metrics?.containerdPreflight(verdict)
        if previous != verdict { log(verdict, previous: previous) }
        return verdict
    }

    private func log(_ v: ContainerdPreflight, previous: ContainerdPreflight?) {
        let metadata: Logger.Metadata = ["configFile": "\(v.configFile)", "hostsDirectory": "\(v.agentDirectory)",
                                         "configPath": "\(v.configPath ?? "?")", "files": "\(v.files.joined(separator: ","))"]
        if v.ready {
            let level: Logger.Level = previous == nil || previous?.ready == true ? .info : .notice
            logger.log(level: level, "containerd reads the agent's hosts.toml (its CRI registry config_path names the agent's directory): ready", metadata: metadata)
        } else {
            logger.error("not ready: \(v.problems.joined(separator: " "))", metadata: metadata)
        }
        for warning in v.warnings where previous?.warnings.contains(warning) != true {
            logger.warning("\(warning)", metadata: metadata)
        }
    }
}
