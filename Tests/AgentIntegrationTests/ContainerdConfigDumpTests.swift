@testable import Agent
import Foundation
import TestSupport
import Testing

/// The preflight's readings checked against containerd itself: `containerd --config FILE
/// config dump` prints the configuration it merged from the file and its imports, and its
/// CRI registry `config_path` must be what the preflight reads for that release. With
/// every containerd this machine has (`PrivateContainerd.versions`: bookworm's 1.6, and
/// trixie's 1.7 and sid's 2.x from `scripts/containerd-versions.sh`).
@Suite("containerd preflight against containerd's own config dump")
struct ContainerdConfigDumpTests {
    static let registry = #"[plugins."io.containerd.grpc.v1.cri".registry]"#

    /// Files by name (relative to the fixture's directory `D`, written as `$D` in their text).
    static let fixtures: [(String, [String: String])] = [
        ("v2 names the directory", ["config.toml": "version = 2\n\(registry)\n  config_path = \"/etc/containerd/certs.d\"\n"]),
        ("v2 empty, as containerd config default", ["config.toml": "version = 2\n\(registry)\n  config_path = \"\"\n"]),
        ("v1 with the plugin's URI", ["config.toml": "\(registry)\n  config_path = \"/etc/containerd/certs.d\"\n"]),
        ("v1 with the plugin's id", ["config.toml": "[plugins.cri.registry]\n  config_path = \"/etc/containerd/certs.d\"\n"]),
        ("a glob, the last file wins", [
            "config.toml": "version = 2\nimports = [\"$D/conf.d/*.toml\"]\n",
            "conf.d/10.toml": "\(registry)\n  config_path = \"/wrong\"\n",
            "conf.d/20.toml": "\(registry)\n  config_path = \"/etc/containerd/certs.d\"\n",
        ]),
        ("a CNI drop-in replaces the CRI section", [
            "config.toml": "version = 2\nimports = [\"$D/conf.d/*.toml\"]\n\(registry)\n  config_path = \"/etc/containerd/certs.d\"\n",
            "conf.d/50-cni.toml": "[plugins.\"io.containerd.grpc.v1.cri\".cni]\n  bin_dir = \"/opt/cni/bin\"\n",
        ]),
        ("a relative glob from the working directory", [
            "config.toml": "version = 2\nimports = [\"conf.d/*.toml\"]\n",
            "conf.d/10.toml": "\(registry)\n  config_path = \"/etc/containerd/certs.d\"\n",
        ]),
        ("a relative path from the importing file, a cycle", [
            "config.toml": "version = 2\nimports = [\"extra/late.toml\"]\n",
            "extra/late.toml": "imports = [\"../config.toml\"]\n\(registry)\n  config_path = \"/a:/etc/containerd/certs.d\"\n",
        ]),
        // containerd 1.6 refuses this one ("invalid plugin key URI"): so must the preflight.
        ("a versionless import with the plugin's id", [
            "config.toml": "version = 2\nimports = [\"$D/v1.toml\"]\n",
            "v1.toml": "[plugins.cri.registry]\n  config_path = \"/etc/containerd/certs.d\"\n",
        ]),
    ]

    /// Read as containerd 2 only (version 3, or a versionless file that 2.x reads as such).
    static let fixtures2: [(String, [String: String])] = [
        ("v3 names the directory", ["config.toml": "version = 3\n[plugins.\"io.containerd.cri.v1.images\".registry]\n  config_path = \"/etc/containerd/certs.d\"\n"]),
        ("a version 2 import under a version 3 file", [
            "config.toml": "version = 3\nimports = [\"$D/conf.d/*.toml\"]\n",
            "conf.d/50.toml": "version = 2\n\(registry)\n  config_path = \"/etc/containerd/certs.d\"\n",
        ]),
        ("v2 with both plugins' registries", [
            "config.toml": "version = 2\n[plugins.\"io.containerd.cri.v1.images\".registry]\n  config_path = \"/images\"\n\(registry)\n  config_path = \"/etc/containerd/certs.d\"\n",
        ]),
        ("a later empty config_path", [
            "config.toml": "version = 2\nimports = [\"$D/conf.d/*.toml\"]\n\(registry)\n  config_path = \"/etc/containerd/certs.d\"\n",
            "conf.d/50.toml": "\(registry)\n  config_path = \"\"\n",
        ]),
    ]

    /// One fixture read by one containerd.
    struct Case: Sendable, CustomStringConvertible {
        let version: PrivateContainerd.Version
        let release: ContainerdConfig.Release
        let fixture: (String, [String: String])
        var description: String { "containerd \(version.name): \(fixture.0)" }
        /// Where that release keeps the CRI registry settings.
        var plugin: String { release == .v2 ? "io.containerd.cri.v1.images" : "io.containerd.grpc.v1.cri" }
    }

    static let cases: [Case] = PrivateContainerd.versions.flatMap { v -> [Case] in
        let release: ContainerdConfig.Release? = v.name.hasPrefix("1.6.") ? .v1_6 : v.name.hasPrefix("1.7.") ? .v1_7 : v.major == 2 ? .v2 : nil
        guard let release else { return [] }
        return (fixtures + (release == .v2 ? fixtures2 : [])).map { Case(version: v, release: release, fixture: $0) }
    }

    @Test("config_path as containerd merges it", arguments: cases)
    func readingMatchesContainerd(_ c: Case) async throws {
        try await Self.compare(c.fixture, binary: c.version.binaries + "/containerd", release: c.release, plugin: c.plugin)
    }

    static func compare(_ fixture: (String, [String: String]), binary: String, release: ContainerdConfig.Release, plugin: String) async throws {
        let (name, files) = fixture
        let dir = try TemporaryDirectory(prefix: "peerpull-ctrd-dump")
        defer { dir.remove() }
        for (file, text) in files {
            try FileManager.default.createDirectory(atPath: (dir.file(file) as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try text.replacingOccurrences(of: "$D", with: dir.path).write(toFile: dir.file(file), atomically: true, encoding: .utf8)
        }
        // From /, as systemd starts containerd: 1.6 expands a relative glob from there.
        let dump = try await Command.run(["sh", "-c", "cd / && exec \"$0\" --config \"$1\" config dump", binary, dir.file("config.toml")], check: false)
        let ours = try #require(try ContainerdConfigReader().load(dir.file("config.toml")).readings[release], "\(name)")
        guard dump.status == 0 else {
            #expect(ours.refusal != nil, "\(name): containerd refused it (\(dump.stderr.prefix(300))), the preflight did not")
            return
        }
        #expect(ours.refusal == nil, "\(name)")
        let merged = try ContainerdConfigReader.parse(dump.stdout, named: "config dump")
        let theirs = merged.plugins[plugin]?["registry"]?["config_path"]?.string
        #expect(theirs != nil, "\(name): \(dump.stdout.prefix(400))")
        #expect(ours.configPath == theirs, "\(name)")
    }
}
