@testable import Agent
import Foundation
import Logging
import TestSupport
import Testing

/// Whether containerd reads the agent's `hosts.toml`, from its config file and imports,
/// on a node whose files are seen under a host root (the chart's `/host`): each fixture is
/// written where the node has it, under a temporary directory that plays the root.
@Suite("containerd preflight")
struct ContainerdPreflightTests {
    static let certs = "/etc/containerd/certs.d"
    static let v2Section = #"[plugins."io.containerd.grpc.v1.cri".registry]"#
    static let v3Section = #"[plugins."io.containerd.cri.v1.images".registry]"#

    /// A node's files under a temporary root.
    struct Node {
        let root: TemporaryDirectory
        init() throws { root = try TemporaryDirectory(prefix: "peerpull-ctrd-config") }

        func write(_ path: String, _ text: String) throws {
            try FileManager.default.createDirectory(atPath: root.path + (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try text.write(toFile: root.path + path, atomically: true, encoding: .utf8)
        }

        /// The agent's check, writing to `certs` as the chart mounts it (under the root).
        func check(hostsDirectory: String = ContainerdPreflightTests.certs) -> ContainerdPreflightCheck {
            ContainerdPreflightCheck(configFile: "/etc/containerd/config.toml", hostRoot: root.path, hostsDirectory: root.path + hostsDirectory,
                                     metrics: nil, logger: Logger(label: "test"))
        }

        func verdict(hostsDirectory: String = ContainerdPreflightTests.certs) -> ContainerdPreflight { check(hostsDirectory: hostsDirectory).check() }
    }

    static func v2(_ registry: String, extra: String = "") -> String {
        "version = 2\n\(extra)\n\(v2Section)\n  \(registry)\n"
    }

    @Test func aMissingConfigFileIsContainerdsDefaultsWhereConfigPathIsEmpty() throws {
        let node = try Node()
        defer { node.root.remove() }
        let v = node.verdict()
        #expect(v.result == .ignored)
        #expect(v.configPath == "")
        #expect(v.problems.count == 1)
        let message = try #require(v.problems.first)
        #expect(message.contains("/etc/containerd/config.toml does not exist"), "\(message)")
        #expect(message.contains(#"config_path = "/etc/containerd/certs.d""#), "\(message)")
    }

    @Test func version2NamingTheAgentsDirectoryIsReadByEveryRelease() throws {
        let node = try Node()
        defer { node.root.remove() }
        try node.write("/etc/containerd/config.toml", Self.v2(#"config_path = "/etc/containerd/certs.d/""#))
        let v = node.verdict()
        #expect(v.result == .honoured, "\(v.problems)")
        #expect(v.agentDirectory == Self.certs)
        #expect(v.configPath == "/etc/containerd/certs.d/")
        #expect(v.problems.isEmpty && v.warnings.isEmpty)
        #expect(v.files == ["/etc/containerd/config.toml"])
        let config = try ContainerdConfigReader().load("/etc/containerd/config.toml", hostRoot: node.root.path)
        #expect(Set(config.readings.keys) == Set(ContainerdConfig.Release.allCases))
    }

    /// `containerd config default` of Debian's 1.6.20, 1.7.24 and 2.1.9: config_path = "".
    @Test func anEmptyConfigPathIsIgnoredAndTheMessageSaysWhatToSet() throws {
        let node = try Node()
        defer { node.root.remove() }
        try node.write("/etc/containerd/config.toml", Self.v2(#"config_path = """#, extra: "root = \"/var/lib/containerd\""))
        let v = node.verdict()
        #expect(v.result == .ignored)
        #expect(v.problems.count == 1, "\(v.problems)")
        let message = try #require(v.problems.first)
        #expect(message.contains("config_path is empty"))
        #expect(message.contains(#"config_path = "/etc/containerd/certs.d" in [plugins."io.containerd.grpc.v1.cri".registry] of /etc/containerd/config.toml"#),
                "\(message)")
        #expect(message.contains("no such host"))
        #expect(!message.contains("with containerd"), "every release agrees: \(message)")
        // Debian's own file: version 2, no registry table at all.
        try node.write("/etc/containerd/config.toml", "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".cni]\n  bin_dir = \"/usr/lib/cni\"\n")
        let debian = node.verdict()
        #expect(debian.result == .ignored)
        #expect(debian.problems.count == 1 && debian.problems.first?.hasPrefix("the CRI registry config_path is empty") == true, "\(debian.problems)")
        #expect(debian.problems.first?.contains(#"[plugins."io.containerd.grpc.v1.cri".registry]"#) == true, "\(debian.problems)")
    }

    @Test func version3ReadsTheImagesPluginAndOnlyAsContainerd2() throws {
        let node = try Node()
        defer { node.root.remove() }
        try node.write("/etc/containerd/config.toml", "version = 3\n\(Self.v3Section)\n  config_path = \"/etc/containerd/certs.d\"\n")
        let honoured = node.verdict()
        #expect(honoured.result == .honoured, "\(honoured.problems)")
        #expect(try ContainerdConfigReader().load("/etc/containerd/config.toml", hostRoot: node.root.path).readings.keys.sorted() == [.v2])
        // A version 3 file's CRI plugin no longer holds the registry.
        try node.write("/etc/containerd/config.toml", "version = 3\n\(Self.v2Section)\n  config_path = \"/etc/containerd/certs.d\"\n")
        let ignored = node.verdict()
        #expect(ignored.result == .ignored)
        #expect(ignored.problems.first?.contains(#"[plugins."io.containerd.cri.v1.images".registry]"#) == true, "\(ignored.problems)")
    }

    /// A file without `version`: 1.x reads it as version 1 (plugins by short id: only
    /// `plugins.cri`), 2.x as version 3 (the registry only under the images plugin).
    /// Checked against containerd 1.6 and 2.1.9 in `ContainerdConfigDumpTests`.
    @Test func aVersionlessFileIsVersion1ForContainerd1AndVersion3ForContainerd2() throws {
        let node = try Node()
        defer { node.root.remove() }
        try node.write("/etc/containerd/config.toml", "[plugins.cri.registry]\n  config_path = \"/etc/containerd/certs.d\"\n")
        let short = node.verdict()
        #expect(short.result == .ignored)
        #expect(short.problems.count == 1, "\(short.problems)")
        #expect(short.problems.first?.hasPrefix(#"with containerd 2.x: the CRI registry config_path is empty: "#) == true, "\(short.problems)")
        #expect(short.problems.first?.contains(#"[plugins."io.containerd.cri.v1.images".registry]"#) == true, "\(short.problems)")
        try node.write("/etc/containerd/config.toml", "\(Self.v2Section)\n  config_path = \"/etc/containerd/certs.d\"\n")
        let full = node.verdict()
        #expect(full.result == .ignored)
        #expect(full.problems.count == 2, "\(full.problems)")
        #expect(full.problems.first?.hasPrefix("with containerd 1.6 or 1.7: ") == true && full.problems.first?.contains("[plugins.cri.registry]") == true,
                "\(full.problems)")
        // With `version = 2` every release reads it.
        try node.write("/etc/containerd/config.toml", "version = 2\n\(Self.v2Section)\n  config_path = \"/etc/containerd/certs.d\"\n")
        #expect(node.verdict().result == .honoured)
    }

    /// From version 2 on, 1.x refuses a plugin named by its short id (found against
    /// containerd 1.6's `config dump`): a versionless drop-in written for version 1.
    @Test func aShortPluginNameInAVersion2ConfigStopsContainerd1() throws {
        let node = try Node()
        defer { node.root.remove() }
        try node.write("/etc/containerd/config.toml", "version = 2\nimports = [\"/etc/containerd/conf.d/*.toml\"]\n")
        try node.write("/etc/containerd/conf.d/10-v1.toml", "[plugins.cri.registry]\n  config_path = \"/etc/containerd/certs.d\"\n")
        let v = node.verdict()
        #expect(v.result == .ignored)
        #expect(v.problems.count == 1, "\(v.problems)")
        #expect(v.problems.first?.hasPrefix(#"with containerd 1.6 or 1.7: the plugin name "cri" in /etc/containerd/conf.d/10-v1.toml is not a URI"#) == true,
                "\(v.problems)")
    }

    /// Imports: a glob (sorted), a path relative to the importing file, each file once
    /// (a cycle), and a later file over an earlier one.
    @Test func importsAreExpandedInContainerdsOrderAndTheLastWins() throws {
        let node = try Node()
        defer { node.root.remove() }
        try node.write("/etc/containerd/config.toml", """
            version = 2
            imports = ["/etc/containerd/conf.d/*.toml", "extra/late.toml"]
            \(Self.v2Section)
              config_path = "/nowhere"
            """)
        try node.write("/etc/containerd/conf.d/20-right.toml", "\(Self.v2Section)\n  config_path = \"/etc/containerd/certs.d\"\n")
        try node.write("/etc/containerd/conf.d/10-wrong.toml", "\(Self.v2Section)\n  config_path = \"/wrong\"\n")
        try node.write("/etc/containerd/extra/late.toml", "imports = [\"/etc/containerd/config.toml\"]\n")
        let v = node.verdict()
        #expect(v.result == .honoured, "\(v.problems)")
        #expect(v.files == ["/etc/containerd/config.toml", "/etc/containerd/conf.d/10-wrong.toml", "/etc/containerd/conf.d/20-right.toml",
                            "/etc/containerd/extra/late.toml"])
        #expect(v.configPath == Self.certs)
        // Swapped: the wrong directory comes last.
        try node.write("/etc/containerd/conf.d/30-wrong.toml", "\(Self.v2Section)\n  config_path = \"/wrong\"\n")
        let swapped = node.verdict()
        #expect(swapped.result == .ignored)
        #expect(swapped.problems.first?.contains(#"config_path is "/wrong" in [plugins."io.containerd.grpc.v1.cri".registry] of /etc/containerd/conf.d/30-wrong.toml"#) == true,
                "\(swapped.problems)")
    }

    /// containerd 1.6 and 1.7 replace a plugin's whole section with the last file's; 2.x
    /// merges keys. A drop-in that configures only the CNI loses config_path on 1.x.
    @Test func aDropInForAnotherCRISettingLosesConfigPathOnContainerd1() throws {
        let node = try Node()
        defer { node.root.remove() }
        try node.write("/etc/containerd/config.toml",
                       Self.v2(#"config_path = "/etc/containerd/certs.d""#, extra: #"imports = ["/etc/containerd/conf.d/*.toml"]"#))
        try node.write("/etc/containerd/conf.d/50-cni.toml", "[plugins.\"io.containerd.grpc.v1.cri\".cni]\n  bin_dir = \"/opt/cni/bin\"\n")
        let v = node.verdict()
        #expect(v.result == .ignored)
        #expect(v.configPath == nil, "the releases disagree")
        #expect(v.problems.count == 1, "\(v.problems)")
        let message = try #require(v.problems.first)
        #expect(message.hasPrefix("with containerd 1.6 or 1.7: the CRI registry config_path is empty"), "\(message)")
        #expect(message.contains("of /etc/containerd/conf.d/50-cni.toml"), "the file to edit: \(message)")
    }

    /// 1.6 expands a relative glob from containerd's working directory (/), 1.7 and 2.x
    /// from the importing file's.
    @Test func aRelativeGlobIsReadFromTheRootBy16() throws {
        let node = try Node()
        defer { node.root.remove() }
        try node.write("/etc/containerd/config.toml", "version = 2\nimports = [\"conf.d/*.toml\"]\n")
        try node.write("/etc/containerd/conf.d/10-registry.toml", "\(Self.v2Section)\n  config_path = \"/etc/containerd/certs.d\"\n")
        let v = node.verdict()
        #expect(v.result == .ignored)
        #expect(v.problems.count == 1 && v.problems.first?.hasPrefix("with containerd 1.6: the CRI registry config_path is empty") == true, "\(v.problems)")
    }

    @Test func severalDirectoriesIncludingTheAgentsAreReadButWarnAboutTheTransferService() throws {
        let node = try Node()
        defer { node.root.remove() }
        try node.write("/etc/containerd/config.toml", Self.v2(#"config_path = "/etc/docker/certs.d:/etc/containerd/certs.d""#))
        let v = node.verdict()
        #expect(v.result == .honoured, "\(v.problems)")
        #expect(v.warnings.count == 1, "\(v.warnings)")
        #expect(v.warnings.first?.hasPrefix("with containerd 2.x: ") == true)
        #expect(v.warnings.first?.contains("transfer service") == true && v.warnings.first?.contains("use_local_image_pull = true") == true)
        // A local pull (forced by a setting the transfer service lacks, or asked for) reads every directory.
        try node.write("/etc/containerd/config.toml",
                       Self.v2(#"config_path = "/etc/docker/certs.d:/etc/containerd/certs.d""#,
                               extra: "[plugins.\"io.containerd.grpc.v1.cri\"]\n  max_concurrent_downloads = 10"))
        #expect(node.verdict().warnings.isEmpty)
        try node.write("/etc/containerd/config.toml", """
            version = 3
            [plugins."io.containerd.cri.v1.images"]
              use_local_image_pull = true
            \(Self.v3Section)
              config_path = "/etc/docker/certs.d:/etc/containerd/certs.d"
            """)
        let local = node.verdict()
        #expect(local.result == .honoured && local.warnings.isEmpty, "\(local.warnings)")
    }

    @Test func aConfigPathWithoutTheAgentsDirectoryIsIgnored() throws {
        let node = try Node()
        defer { node.root.remove() }
        try node.write("/etc/containerd/config.toml", Self.v2(#"config_path = "/etc/docker/certs.d""#))
        let v = node.verdict()
        #expect(v.result == .ignored)
        #expect(v.problems.first?.contains("does not name /etc/containerd/certs.d") == true, "\(v.problems)")
        #expect(v.problems.first?.contains("p2p.containerdConfig.configPath (the agent's --containerd-config-path) to /etc/docker/certs.d") == true)
    }

    @Test func theDeprecatedMirrorsAreIgnoredAloneAndRefusedWithConfigPath() throws {
        let node = try Node()
        defer { node.root.remove() }
        let mirrors = """
            [plugins."io.containerd.grpc.v1.cri".registry.mirrors."docker.io"]
              endpoint = ["https://mirror.example.com"]
            """
        try node.write("/etc/containerd/config.toml", "version = 2\n\(mirrors)\n")
        let alone = node.verdict()
        #expect(alone.result == .ignored)
        #expect(alone.problems.first?.contains("registry.mirrors is set (docker.io)") == true, "\(alone.problems)")
        try node.write("/etc/containerd/config.toml", Self.v2(#"config_path = "/etc/containerd/certs.d""#) + mirrors + "\n")
        let both = node.verdict()
        #expect(both.result == .ignored)
        #expect(both.problems.first?.contains("refuses them together") == true, "\(both.problems)")
    }

    @Test func aFileContainerdCannotReadLeavesTheAgentUnready() throws {
        let node = try Node()
        defer { node.root.remove() }
        try node.write("/etc/containerd/config.toml", "version = 2\n[plugins\nconfig_path = 1\n")
        let invalid = node.verdict()
        #expect(invalid.result == .unreadable)
        #expect(invalid.problems.first?.contains("/etc/containerd/config.toml is not valid TOML at line 2") == true, "\(invalid.problems)")
        try node.write("/etc/containerd/config.toml", Self.v2(#"config_path = "/etc/containerd/certs.d""#, extra: #"imports = ["/etc/containerd/missing.toml"]"#))
        let missing = node.verdict()
        #expect(missing.result == .unreadable)
        #expect(missing.problems.first?.contains("/etc/containerd/missing.toml is imported but does not exist") == true, "\(missing.problems)")
    }

    /// The running agent reads the files again: a fixed config makes it ready without a restart.
    @Test func aFixedConfigIsReadAgain() throws {
        let node = try Node()
        defer { node.root.remove() }
        let check = node.check()
        try node.write("/etc/containerd/config.toml", Self.v2(#"config_path = """#))
        #expect(check.check().result == .ignored)
        try node.write("/etc/containerd/config.toml", Self.v2(#"config_path = "/etc/containerd/certs.d""#))
        #expect(check.check().result == .honoured)
    }

    @Test func theAgentsDirectoryIsNamedAsContainerdSeesIt() {
        #expect(ContainerdPreflight.containerdView(of: "/host/etc/containerd/certs.d/", hostRoot: "/host/") == "/etc/containerd/certs.d")
        #expect(ContainerdPreflight.containerdView(of: "/etc/containerd/certs.d", hostRoot: "") == "/etc/containerd/certs.d")
        #expect(ContainerdPreflight.containerdView(of: "/hostile/certs.d", hostRoot: "/host") == "/hostile/certs.d")
    }
}
