/// Whether containerd reads the `hosts.toml` files the agent writes, judged from its
/// configuration. When it would not, pods rewritten to `R.distributed.Y:65001` fail with
/// "no such host" and mirror mode does nothing, so the agent reports not ready: the
/// DaemonSet is then not ready, and the controller admits pods unchanged.
public struct ContainerdPreflight: Sendable, Equatable, Codable {
    public enum Result: String, Sendable, Codable {
        /// containerd reads the agent's directory.
        case honoured
        /// containerd would ignore the agent's files.
        case ignored
        /// The configuration cannot be read, or containerd would refuse it: unknown.
        case unreadable
    }

    public var result: Result
    /// containerd's config file, as the node names it.
    public var configFile: String
    /// containerd's `config_path` when every release that reads the files agrees on it.
    public var configPath: String?
    /// Where the agent writes `hosts.toml`, as containerd names it.
    public var agentDirectory: String
    /// Why containerd would ignore the agent (each an operator's fix); empty when ready.
    public var problems: [String]
    /// What may make containerd ignore the agent on some releases, without making the agent unready.
    public var warnings: [String]
    /// The files read: the config file and its imports.
    public var files: [String]

    public var ready: Bool { result == .honoured }

    static let consequence = "so pods rewritten to R.distributed.Y:65001 fail with \"no such host\" and mirror mode does nothing"

    /// The verdict for `config` when the agent writes to `agentDirectory` (as containerd names it).
    public static func evaluate(_ config: ContainerdConfig, agentDirectory: String) -> ContainerdPreflight {
        let dir = ContainerdConfig.clean(agentDirectory)
        var out = ContainerdPreflight(result: .honoured, configFile: config.path, configPath: nil, agentDirectory: dir,
                                      problems: [], warnings: [], files: config.files)
        guard config.exists else {
            out.result = .ignored
            out.configPath = ""
            out.problems = ["\(config.path) does not exist, so containerd runs with its defaults, where the CRI registry config_path is empty: "
                            + "it ignores every hosts.toml, \(consequence). Create it with `version = 2` and config_path = \"\(dir)\" in "
                            + "[plugins.\"\(ContainerdConfig.criPlugin)\".registry], then restart containerd."]
            return out
        }
        let releases = config.readings.keys.sorted()
        var problems: [(String, [ContainerdConfig.Release])] = []
        var warnings: [(String, [ContainerdConfig.Release])] = []
        func add(_ message: String, _ release: ContainerdConfig.Release, to list: inout [(String, [ContainerdConfig.Release])]) {
            if let i = list.firstIndex(where: { $0.0 == message }) { list[i].1.append(release) } else { list.append((message, [release])) }
        }
        for release in releases {
            guard let r = config.readings[release] else { continue }
            for p in Self.problems(r, release: release, dir: dir) { add(p, release, to: &problems) }
            for w in Self.warnings(r, release: release) { add(w, release, to: &warnings) }
        }
        // A message that only some releases earn says which: the node's release decides.
        func label(_ list: [(String, [ContainerdConfig.Release])]) -> [String] {
            list.map { message, which in
                which.count == releases.count ? message : "with containerd \(which.map(\.rawValue).joined(separator: " or ")): \(message)"
            }
        }
        out.problems = label(problems)
        out.warnings = label(warnings)
        out.result = out.problems.isEmpty ? .honoured : .ignored
        let paths = Set(config.readings.values.map(\.configPath))
        out.configPath = paths.count == 1 ? paths.first : nil
        return out
    }

    /// The verdict when the configuration cannot be read.
    public static func unreadable(_ error: ContainerdConfigError, configFile: String, agentDirectory: String) -> ContainerdPreflight {
        ContainerdPreflight(
            result: .unreadable, configFile: configFile, configPath: nil, agentDirectory: ContainerdConfig.clean(agentDirectory),
            problems: ["cannot tell whether containerd reads the hosts.toml files in \(agentDirectory) (its CRI registry config_path): \(error). "
                       + "The agent stays not ready until it can, so that no pod is rewritten to a name this node may not resolve."],
            warnings: [], files: [])
    }

    private static func problems(_ r: ContainerdConfig.Registry, release: ContainerdConfig.Release, dir: String) -> [String] {
        let at = "[\(r.section)] of \(r.file)"
        if let refusal = r.refusal { return [refusal + "."] }
        if r.criDisabled {
            return ["containerd's CRI plugin is in disabled_plugins: the kubelet cannot pull through this containerd, "
                    + "and hosts.toml files are read only by clients given --hosts-dir. Remove it from disabled_plugins, "
                    + "set config_path = \"\(dir)\" in \(at) and restart containerd."]
        }
        let mirrors = r.mirrors.joined(separator: ", ")
        if r.configPath.isEmpty {
            if !r.mirrors.isEmpty {
                return ["the CRI registry config_path is empty and the deprecated registry.mirrors is set (\(mirrors)): containerd uses those "
                        + "mirrors and ignores every hosts.toml, \(consequence). Move the mirrors into hosts.toml files, remove registry.mirrors "
                        + "and set config_path = \"\(dir)\" in \(at), then restart containerd."]
            }
            return ["the CRI registry config_path is empty: containerd ignores every hosts.toml, \(consequence). "
                    + "Set config_path = \"\(dir)\" in \(at) and restart containerd."]
        }
        var out: [String] = []
        if !r.mirrors.isEmpty {
            out.append("config_path and the deprecated registry.mirrors (\(mirrors)) are both set in \(at): containerd refuses them together "
                       + "and its CRI plugin does not start. Move the mirrors into hosts.toml files under \(dir) and remove registry.mirrors.")
        }
        if !r.tlsConfigs.isEmpty, release != .v2 {
            out.append("config_path and registry.configs.\"\(r.tlsConfigs[0])\".tls are both set in \(at): containerd 1.6 and 1.7 refuse them "
                       + "together and the CRI plugin does not start. Move the TLS settings into \(dir)/\(r.tlsConfigs[0])/hosts.toml (ca, client, skip_verify).")
        }
        if !r.directories.contains(dir) {
            out.append("the CRI registry config_path is \"\(r.configPath)\" in \(at), which does not name \(dir), where the agent writes "
                       + "hosts.toml: containerd ignores them, \(consequence). Set the chart's p2p.containerdConfig.configPath (the agent's "
                       + "--containerd-config-path) to \(r.directories.first ?? dir), or add \(dir) to config_path and restart containerd.")
        }
        return out
    }

    private static func warnings(_ r: ContainerdConfig.Registry, release: ContainerdConfig.Release) -> [String] {
        guard release == .v2, r.directories.count > 1, r.localPullReason == nil, !r.criDisabled else { return [] }
        return ["the CRI registry config_path \"\(r.configPath)\" names several directories: containerd 2.1 and later pull for the kubelet "
                + "through the transfer service, which takes config_path as one directory and then ignores every hosts.toml (containerd#12415). "
                + "On such a node set use_local_image_pull = true in [plugins.\"\(ContainerdConfig.imagesPlugin)\"], or config_path to one directory."]
    }

    /// Where the agent writes `hosts.toml` as containerd names it: `directory` without the
    /// `hostRoot` the node's files are mounted under.
    public static func containerdView(of directory: String, hostRoot: String) -> String {
        let dir = ContainerdConfig.clean(directory)
        let root = ContainerdConfig.clean(hostRoot)
        guard !hostRoot.isEmpty, root != "/", dir.hasPrefix(root + "/") else { return dir }
        return String(dir.dropFirst(root.count))
    }
}
