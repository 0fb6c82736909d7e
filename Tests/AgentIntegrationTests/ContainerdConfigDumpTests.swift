@testable import Agent
import Foundation
import TestSupport
import Testing

/// The preflight's readings checked against containerd itself: `containerd --config FILE
/// config dump` prints the configuration it merged from the file and its imports, and its
/// CRI registry `config_path` must be what the preflight reads for that release. Debian
/// bookworm's containerd is 1.6; trixie's 1.7 and sid's 2.x are the ones
/// `scripts/containerd-versions.sh` unpacks (`PrivateContainerd.versions`), or
/// `PEERPULL_CONTAINERD2` names another 2.x binary.
/// Whether Debian bookworm's containerd (1.6) is installed.
private let containerd16: Bool = {
    guard FileManager.default.isExecutableFile(atPath: "/usr/bin/containerd") else { return false }
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/containerd")
    p.arguments = ["--version"]
    let out = Pipe()
    p.standardOutput = out
    guard (try? p.run()) != nil else { return false }
    p.waitUntilExit()
    return String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).contains(" 1.6.")
}()

/// A containerd 1.7 binary, when one is unpacked.
private let containerd17 = PrivateContainerd.versions.first { $0.name.hasPrefix("1.7.") && $0.binaries != "/usr/bin" }.map { $0.binaries + "/containerd" }

/// A containerd 2.x binary: the environment's, else an unpacked one.
private let containerd2 = ProcessInfo.processInfo.environment["PEERPULL_CONTAINERD2"]
    ?? PrivateContainerd.versions.first { $0.major == 2 }.map { $0.binaries + "/containerd" }

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

    @Test("config_path as containerd 1.6 merges it", .enabled(if: containerd16, "needs containerd 1.6 (apt-get install containerd on Debian 12)"),
          arguments: 0..<fixtures.count)
    func readingMatchesContainerd16(index: Int) async throws {
        try await Self.compare(Self.fixtures[index], binary: "/usr/bin/containerd", release: .v1_6, plugin: "io.containerd.grpc.v1.cri")
    }

    @Test("config_path as containerd 1.7 merges it", .enabled(if: containerd17 != nil, "run scripts/containerd-versions.sh"),
          arguments: 0..<fixtures.count)
    func readingMatchesContainerd17(index: Int) async throws {
        try await Self.compare(Self.fixtures[index], binary: containerd17 ?? "", release: .v1_7, plugin: "io.containerd.grpc.v1.cri")
    }

    @Test("config_path as containerd 2.x merges it", .enabled(if: containerd2 != nil, "run scripts/containerd-versions.sh, or set PEERPULL_CONTAINERD2"),
          arguments: 0..<(fixtures.count + fixtures2.count))
    func readingMatchesContainerd2(index: Int) async throws {
        let fixture = index < Self.fixtures.count ? Self.fixtures[index] : Self.fixtures2[index - Self.fixtures.count]
        try await Self.compare(fixture, binary: containerd2 ?? "", release: .v2, plugin: "io.containerd.cri.v1.images")
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
