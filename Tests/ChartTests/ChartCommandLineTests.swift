import Foundation
import TestSupport
import Testing

/// Every command line the chart renders, run through the binary's own parsing.
///
/// The chart and the binary are two halves of one contract: a flag the chart renders and
/// the binary refuses is a crash-looping pod (the chart once rendered
/// `--anonymous-registries=` with its empty default, which the parser refuses). Each
/// container's argv, init containers and `preStop` hooks included, runs as
/// `peerpull … --check-config`, with each mounted ConfigMap written where the pod would
/// see it, so the flags and the `--config` file are parsed and validated exactly as in
/// the pod, and nothing starts.
@Suite("Helm chart command lines parse in the binary")
struct ChartCommandLineTests {
    let chart = HelmChart()

    nonisolated(unsafe) static let valueSets: [(String, [String: Any])] = [
        ("defaults", [:]),
        ("one registry", ["p2p": ["registryInstances": "test-registry-vpc.cn-hangzhou.cr.aliyuncs.com"]]),
        ("typical", [
            "p2p": ["registryInstances": " harbor.example.com, cri-abc123 ,registry.example.com:5000", "port": 5001,
                    "ratelimit": "1G", "anonymousRegistries": "harbor.example.com", "cacheSize": "50Gi", "tls": false,
                    "authCacheSeconds": 0],
            "controller": ["ramRole": "acr-reader", "region": "cn-hangzhou"],
            "webhook": ["certManager": ["enabled": true, "issuerRef": ["name": "ca"]], "excludedNamespaces": ["kube-system", "monitoring"]],
            "logLevel": "debug",
        ]),
        ("no containerd setup", ["p2p": ["registryInstances": "r.example.com", "containerdConfig": ["enabled": false]]]),
        ("an existing swarm secret, extra agent flags", [
            "p2p": ["registryInstances": "r.example.com", "swarm": ["existingSecret": "team-swarm-key"]],
            "agent": ["extraArgs": ["--log-level=debug", "--auth-cache-seconds=30"], "extraEnv": [["name": "TZ", "value": "UTC"]]],
        ]),
    ]

    /// One argv the pod would run, with where it comes from.
    struct CommandLine: CustomStringConvertible {
        var source: String
        var argv: [String]
        var description: String { "\(source): \(argv.joined(separator: " "))" }
    }

    @Test("every container's command line and config file parse", arguments: 0..<valueSets.count)
    func commandLinesParse(index: Int) async throws {
        let (name, values) = Self.valueSets[index]
        let objects = try await chart.objects(values)
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let lines = try Self.commandLines(objects, root: dir.path)
        // The agent's init step, its server and its preStop hook, the controller, and the
        // uninstall hook's Job.
        let expected = (values["p2p"] as? [String: Any])?["containerdConfig"] == nil ? 5 : 3
        #expect(lines.count == expected, "\(name): \(lines)")
        #expect(lines.contains { $0.argv.first == "controller" }, "\(name): \(lines)")
        #expect(lines.contains { $0.argv.contains("--remove-generated-secrets") }, "\(name): \(lines)")
        for line in lines {
            let r = try await Command.run([TestImages.peerpullBinary] + line.argv + ["--check-config"], check: false)
            #expect(r.status == 0, "\(name) — \(line)\n\(r.stderr.suffix(800))")
            #expect(r.stdout.contains("settings are valid"), "\(name) — \(line)\n\(r.stdout.suffix(300))")
        }
    }

    @Test("a flag the binary refuses is caught")
    func refusedFlagIsCaught() async throws {
        // The defect this suite exists for, reproduced without the chart: had the chart
        // still rendered the empty flag, the test above would see this failure.
        let r = try await Command.run([TestImages.peerpullBinary, "controller", "--anonymous-registries=", "--check-config"], check: false)
        #expect(r.status != 0)
        #expect(r.stderr.contains("anonymous-registries"), "\(r.stderr)")
    }

    /// The peerpull command lines of every pod template in `objects`, with ConfigMap mounts
    /// redirected to files under `root`.
    static func commandLines(_ objects: [[String: Any]], root: String) throws -> [CommandLine] {
        let configMaps = Dictionary(objects.filter { $0["kind"] as? String == "ConfigMap" }.compactMap { o -> (String, [String: String])? in
            guard let name = (o["metadata"] as? [String: Any])?["name"] as? String else { return nil }
            return (name, o["data"] as? [String: String] ?? [:])
        }, uniquingKeysWith: { a, _ in a })
        var lines: [CommandLine] = []
        for object in objects {
            guard let kind = object["kind"] as? String, ["DaemonSet", "Deployment", "Job"].contains(kind),
                  let spec = ((object["spec"] as? [String: Any])?["template"] as? [String: Any])?["spec"] as? [String: Any]
            else { continue }
            let objectName = (object["metadata"] as? [String: Any])?["name"] as? String ?? "?"
            // Volume name -> the directory standing in for its mount.
            var mounts: [String: String] = [:]
            for volume in spec["volumes"] as? [[String: Any]] ?? [] {
                guard let volumeName = volume["name"] as? String,
                      let map = (volume["configMap"] as? [String: Any])?["name"] as? String else { continue }
                let target = "\(root)/\(objectName)-\(volumeName)"
                try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
                for (file, text) in configMaps[map] ?? [:] { try text.write(toFile: "\(target)/\(file)", atomically: true, encoding: .utf8) }
                mounts[volumeName] = target
            }
            let containers = (spec["initContainers"] as? [[String: Any]] ?? []) + (spec["containers"] as? [[String: Any]] ?? [])
            for container in containers {
                let containerName = container["name"] as? String ?? "?"
                var redirect: [(from: String, to: String)] = []
                for mount in container["volumeMounts"] as? [[String: Any]] ?? [] {
                    if let v = mount["name"] as? String, let to = mounts[v], let from = mount["mountPath"] as? String { redirect.append((from, to)) }
                }
                let rewrite = { (arg: String) -> String in
                    redirect.reduce(arg) { a, r in a.hasPrefix(r.from + "/") ? r.to + a.dropFirst(r.from.count) : a }
                }
                // The image's entrypoint is the binary, so `args` alone is its argv.
                let command = container["command"] as? [String] ?? []
                let args = container["args"] as? [String] ?? []
                let argv = command.isEmpty ? args : Array((command + args).drop { $0.hasSuffix("peerpull") == false }.dropFirst())
                lines.append(CommandLine(source: "\(kind) \(objectName) container \(containerName)", argv: argv.map(rewrite)))
                let lifecycle = container["lifecycle"] as? [String: Any] ?? [:]
                for (hook, body) in lifecycle {
                    guard let exec = ((body as? [String: Any])?["exec"] as? [String: Any])?["command"] as? [String],
                          let binary = exec.firstIndex(where: { $0.hasSuffix("peerpull") }) else { continue }
                    lines.append(CommandLine(source: "\(kind) \(objectName) \(containerName) \(hook)", argv: exec[(binary + 1)...].map(rewrite)))
                }
            }
        }
        return lines
    }
}
