import Foundation

/// containerd's configuration as containerd itself reads it (`containerd --config FILE`):
/// the file, its `imports` (globs, paths relative to the importing file, each file read
/// once, later files over earlier ones), and the CRI registry settings that decide whether
/// containerd reads the `hosts.toml` files the agent writes.
///
/// containerd releases read the same files differently, so the settings come per release
/// (`readings`) [read in each release's `server/config/config.go` and CRI config]:
/// - 1.6 and 1.7 replace a plugin's whole section with the last file's that names it;
///   2.x merges plugin sections key by key, a later value over an earlier one.
/// - 1.6 expands a relative glob from containerd's working directory (`/`); 1.7 and 2.x
///   from the importing file's directory.
/// - Version 1 files name the CRI plugin `cri`, version 2 `io.containerd.grpc.v1.cri`.
///   From version 3 (containerd 2.0) the registry is under `io.containerd.cri.v1.images`,
///   and 2.x moves a version 2 file's `registry` there; 2.x reads a file without
///   `version` as version 3. A file of version 3 or later is read as containerd 2.x only.
public struct ContainerdConfig: Sendable, Equatable {
    public enum Release: String, Sendable, CaseIterable, Codable, Comparable {
        case v1_6 = "1.6", v1_7 = "1.7", v2 = "2.x"

        public static func < (a: Release, b: Release) -> Bool { allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)! }
    }

    /// The CRI image settings one release takes from the files.
    public struct Registry: Sendable, Equatable {
        /// `config_path`: directories separated by `:`; "" when unset.
        public var configPath = ""
        /// Hosts under the deprecated `registry.mirrors`.
        public var mirrors: [String] = []
        /// Hosts under `registry.configs` with a `tls` table (1.6 and 1.7 refuse them with `config_path`).
        public var tlsConfigs: [String] = []
        /// The CRI plugin (on 2.x also its images plugin) is in `disabled_plugins`.
        public var criDisabled = false
        /// Why this release refuses the configuration and does not start, if it does.
        public var refusal: String?
        /// 2.x: what makes CRI pulls local rather than through the transfer service, nil when nothing does.
        public var localPullReason: String?
        /// Where an operator writes these settings, as a TOML table name.
        public var section: String
        /// The file to edit: the last one that configures the section's plugin, or the main file.
        public var file: String

        /// `config_path`'s directories, cleaned, in containerd's order.
        public var directories: [String] {
            configPath.split(separator: ":").map { ContainerdConfig.clean(String($0)) }
        }
    }

    /// The main file, as containerd names it.
    public var path: String
    /// Whether the main file exists; without it containerd runs with its defaults.
    public var exists: Bool
    /// Every file read, main file first, as containerd names them.
    public var files: [String]
    /// The version the files declare (the last one that names one); 0 when none does.
    public var version: Int
    /// The settings of each release that reads files of `version`.
    public var readings: [Release: Registry]

    public static let criPlugin = "io.containerd.grpc.v1.cri"
    public static let imagesPlugin = "io.containerd.cri.v1.images"

    /// `path` without `//`, `.`, `..` or a trailing `/`.
    public static func clean(_ path: String) -> String {
        var parts: [Substring] = []
        for part in path.split(separator: "/") where part != "." {
            if part == ".." { _ = parts.popLast() } else { parts.append(part) }
        }
        return (path.hasPrefix("/") ? "/" : "") + parts.joined(separator: "/")
    }
}

/// A file containerd cannot read, or would refuse: the agent cannot tell what it does.
public struct ContainerdConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var problem: String
    public var description: String { "\(file) \(problem)" }
}

/// One config file's parts that matter here.
struct ContainerdConfigFile: Sendable, Equatable {
    var version = 0
    var imports: [String] = []
    var disabledPlugins: [String] = []
    var plugins: [String: TOMLNode] = [:]
}

/// A TOML value, as far as containerd's registry settings need one.
enum TOMLNode: Sendable, Equatable {
    case table([String: TOMLNode])
    case string(String)
    case integer(Int)
    case bool(Bool)
    case array([TOMLNode])
    case other

    subscript(key: String) -> TOMLNode? {
        if case .table(let t) = self { t[key] } else { nil }
    }
    var table: [String: TOMLNode]? { if case .table(let t) = self { t } else { nil } }
    var string: String? { if case .string(let s) = self { s } else { nil } }

    /// containerd 2.x's merge (mergo with override): tables merge key by key, any other
    /// later value replaces the earlier one.
    func merged(with later: TOMLNode) -> TOMLNode {
        guard case .table(var mine) = self, case .table(let theirs) = later else { return later }
        for (key, value) in theirs { mine[key] = mine[key].map { $0.merged(with: value) } ?? value }
        return .table(mine)
    }
}

extension ContainerdConfig {
    /// Reads `path` and its imports as each containerd release would. `hostRoot` is where
    /// the node's files are seen from here (the chart's `/host`): every path containerd
    /// names is read under it. `read` parses one file (at the path where it is seen from
    /// here), nil when it does not exist.
    static func load(path: String, hostRoot: String,
                     read: (String) throws(ContainerdConfigError) -> ContainerdConfigFile?) throws(ContainerdConfigError) -> ContainerdConfig {
        guard let main = try read(hostRoot + path) else {
            // containerd's defaults: no registry settings at all.
            var readings: [Release: Registry] = [:]
            for release in Release.allCases { readings[release] = Registry(section: "plugins.\"\(criPlugin)\".registry", file: path) }
            return ContainerdConfig(path: path, exists: false, files: [], version: 0, readings: readings)
        }
        var readings: [Release: Registry] = [:]
        var files: [String] = [path]
        var version = 0
        for release in Release.allCases {
            let loaded = try Self.files(from: path, main: main, release: release, hostRoot: hostRoot, read: read)
            let merged = Self.merge(loaded, release: release)
            if release == .v2 { files = loaded.map(\.path) }
            if release == .v1_6 { version = merged.version }
            // A version 3 file is containerd 2's; 1.x would not find the registry in it.
            if release != .v2 && merged.version >= 3 { continue }
            readings[release] = Self.registry(merged, release: release, main: path)
        }
        return ContainerdConfig(path: path, exists: true, files: files, version: version, readings: readings)
    }

    /// containerd's `LoadConfig` order: breadth first, each file once.
    private static func files(from path: String, main: ContainerdConfigFile, release: Release, hostRoot: String,
                              read: (String) throws(ContainerdConfigError) -> ContainerdConfigFile?) throws(ContainerdConfigError)
        -> [(path: String, file: ContainerdConfigFile)] {
        var loaded: [(path: String, file: ContainerdConfigFile)] = []
        var seen: Set<String> = []
        var pending = [(path, Optional(main))]
        while !pending.isEmpty {
            let (next, known) = pending.removeFirst()
            guard seen.insert(next).inserted else { continue }
            var found = known
            if found == nil { found = try read(hostRoot + next) }
            guard let file = found else {
                throw ContainerdConfigError(file: next, problem: "is imported but does not exist: containerd does not start with a missing import, "
                                            + "or the file is not mounted into the agent's pod under \(hostRoot.isEmpty ? "/" : hostRoot)")
            }
            loaded.append((next, file))
            for entry in file.imports {
                for resolved in try resolve(entry, importedBy: next, release: release, hostRoot: hostRoot) { pending.append((resolved, nil)) }
            }
        }
        return loaded
    }

    /// An `imports` entry as containerd resolves it: cleaned, relative to the importing
    /// file's directory (1.6: a relative glob from `/`), globs expanded in sorted order.
    static func resolve(_ entry: String, importedBy parent: String, release: Release, hostRoot: String) throws(ContainerdConfigError) -> [String] {
        let isGlob = entry.contains("*")
        var path = entry
        if !path.hasPrefix("/") {
            let base = release == .v1_6 && isGlob ? "/" : (parent as NSString).deletingLastPathComponent
            path = base + "/" + path
        }
        path = clean(path)
        guard isGlob else { return [path] }
        return try Glob.expand(path, under: hostRoot, importedBy: parent)
    }

    /// The files' settings merged as `release` merges them.
    private static func merge(_ files: [(path: String, file: ContainerdConfigFile)], release: Release) -> Merged {
        var m = Merged()
        // containerd 2 merges the files into its default configuration, which is version 3,
        // and turns a file of version 0 or 1 into the version read so far: its plugin names
        // become URIs, but a versionless file's registry is then read where version 3 has it
        // (checked against 2.1.9's `config dump`).
        if release == .v2 { m.version = 3 }
        for (path, file) in files {
            var plugins = file.plugins
            var disabled = file.disabledPlugins
            var version = file.version
            if release == .v2, file.version <= 1 {
                plugins = Dictionary(plugins.map { (v1PluginName($0.key), $0.value) }, uniquingKeysWith: { _, b in b })
                disabled = disabled.map(v1PluginName)
                version = m.version
            }
            if version != 0 { m.version = version }
            m.disabledPlugins += disabled
            for (name, section) in plugins {
                m.plugins[name] = release == .v2 ? (m.plugins[name]?.merged(with: section) ?? section) : section
                m.lastFile[name] = path
            }
        }
        return m
    }

    private struct Merged {
        var version = 0
        var disabledPlugins: [String] = []
        var plugins: [String: TOMLNode] = [:]
        var lastFile: [String: String] = [:]
    }

    /// 2.x's `v1MigratePluginName`, for the one plugin that matters here.
    private static func v1PluginName(_ name: String) -> String { name == "cri" ? criPlugin : name }

    private static func registry(_ m: Merged, release: Release, main: String) -> Registry {
        guard release == .v2 else {
            let key = m.version <= 1 ? "cri" : criPlugin
            let table = m.plugins[key]?["registry"]
            var r = Registry(section: m.version <= 1 ? "plugins.cri.registry" : "plugins.\"\(criPlugin)\".registry", file: m.lastFile[key] ?? main)
            r.read(table)
            r.criDisabled = m.disabledPlugins.contains(key)
            // 1.x's `ValidateV2`: from version 2 on, every plugin key must be a URI (found
            // against 1.6: a versionless import naming `plugins.cri` stops containerd).
            if m.version >= 2, let bad = m.plugins.keys.sorted().first(where: { $0.split(separator: ".", omittingEmptySubsequences: false).count < 4 }) {
                r.refusal = "the plugin name \"\(bad)\" in \(m.lastFile[bad] ?? main) is not a URI like \(criPlugin): containerd refuses "
                    + "the configuration and does not start (files of version 1 name plugins by short id; use the full name)"
            }
            return r
        }
        // Before version 3, 2.x moves the CRI plugin's image settings into the images plugin
        // (`configMigration` in plugins/cri/images), each key over what was there.
        var images = m.plugins[imagesPlugin]?.table ?? [:]
        let migrated = m.version < 3
        if migrated, let cri = m.plugins[criPlugin] {
            for key in ["registry", "max_concurrent_downloads", "image_pull_with_sync_fs"] { if let v = cri[key] { images[key] = v } }
            for key in ["disable_snapshot_annotations", "discard_unpacked_layers"] { if let v = cri["containerd"]?[key] { images[key] = v } }
        }
        // Before version 3 an operator writes the CRI plugin's section (every release reads
        // it), unless the registry is only in the images plugin's.
        let onlyInImages = m.plugins[imagesPlugin]?["registry"] != nil && m.plugins[criPlugin]?["registry"] == nil
        let owner = migrated && !onlyInImages ? criPlugin : imagesPlugin
        var r = Registry(section: "plugins.\"\(owner)\".registry", file: m.lastFile[owner] ?? main)
        r.read(images["registry"])
        r.criDisabled = m.disabledPlugins.contains(criPlugin) || m.disabledPlugins.contains(imagesPlugin)
        r.localPullReason = Self.localPullReason(images)
        return r
    }

    /// containerd 2.1's `CheckLocalImagePullConfigs`: settings the transfer service does not
    /// support make CRI pulls local.
    private static func localPullReason(_ images: [String: TOMLNode]) -> String? {
        let registry = images["registry"]
        if images["use_local_image_pull"] == .bool(true) { return "use_local_image_pull = true" }
        if images["disable_snapshot_annotations"] == .bool(false) { return "disable_snapshot_annotations = false" }
        if images["discard_unpacked_layers"] == .bool(true) { return "discard_unpacked_layers = true" }
        for key in ["mirrors", "configs", "auths"] where registry?[key]?.table?.isEmpty == false { return "registry.\(key) is set" }
        if let n = images["max_concurrent_downloads"], n != .integer(3) { return "max_concurrent_downloads is not 3" }
        if images["image_pull_with_sync_fs"] == .bool(true) { return "image_pull_with_sync_fs = true" }
        return nil
    }
}

extension ContainerdConfig.Registry {
    mutating func read(_ table: TOMLNode?) {
        configPath = table?["config_path"]?.string ?? ""
        mirrors = (table?["mirrors"]?.table?.keys).map { $0.sorted() } ?? []
        tlsConfigs = (table?["configs"]?.table ?? [:]).filter { $0.value["tls"] != nil }.keys.sorted()
    }
}
