import Foundation
import TestSupport
import Testing

/// The `peerpull agent` binary's readiness follows containerd's configuration: with a
/// config whose CRI registry `config_path` is empty, `/readyz` answers 503 naming
/// `config_path` and what to set, `/status` and the metric say the same and the log says
/// it once; once the file is fixed, the running agent is ready. The node's files are under
/// a temporary directory given as `--host-root`, as the chart mounts them under `/host`.
@Suite("Agent readiness follows containerd's configuration")
struct AgentReadinessTests {
    @Test func readyzAnswers503NamingConfigPathUntilContainerdReadsTheAgentsDirectory() async throws {
        let node = try TemporaryDirectory(prefix: "peerpull-ready")
        defer { node.remove() }
        let config = node.file("etc/containerd/config.toml")
        try FileManager.default.createDirectory(atPath: node.file("etc/containerd"), withIntermediateDirectories: true)
        let section = #"[plugins."io.containerd.grpc.v1.cri".registry]"#
        try "version = 2\n\(section)\n  config_path = \"\"\n".write(toFile: config, atomically: true, encoding: .utf8)
        let port = try LoopbackPort.free()
        let agent = try BackgroundProcess([
            TestImages.peerpullBinary, "agent", "--listen", "127.0.0.1", "--port", String(port), "--origin", "registry.example.com",
            "--data-dir", node.file("data"), "--containerd-config-path", node.file("etc/containerd/certs.d"),
            "--host-root", node.path, "--containerd-config", "/etc/containerd/config.toml",
        ], logPath: node.file("agent.log"))
        do {
            try await check(agent: agent, port: port, config: config, section: section)
        } catch {
            await agent.stop()
            throw error
        }
        await agent.stop()
    }

    func check(agent: BackgroundProcess, port: Int, config: String, section: String) async throws {
        let base = "http://127.0.0.1:\(port)"
        func get(_ path: String) async throws -> (code: String, body: String) {
            let r = try await Command.run(["curl", "-s", "--max-time", "10", "-w", "\n%{http_code}", base + path], check: false).stdout
            let code = r.split(separator: "\n").last.map(String.init) ?? ""
            return (code, String(r.dropLast(code.count + 1)))
        }
        try await agent.waitUntil(timeout: .seconds(60)) { (try? await get("/healthz").code) == "200" }

        let notReady = try await get("/readyz")
        #expect(notReady.code == "503")
        #expect(notReady.body.contains("config_path is empty"), "\(notReady.body)")
        #expect(notReady.body.contains(#"Set config_path = "/etc/containerd/certs.d" in [plugins."io.containerd.grpc.v1.cri".registry] of /etc/containerd/config.toml"#),
                "\(notReady.body)")
        _ = try await get("/readyz")
        let status = try JSONSerialization.jsonObject(with: Data(try await get("/status").body.utf8)) as? [String: Any]
        let containerd = status?["containerd"] as? [String: Any]
        #expect(containerd?["result"] as? String == "ignored", "\(String(describing: status))")
        #expect(containerd?["configPath"] as? String == "")
        #expect(containerd?["agentDirectory"] as? String == "/etc/containerd/certs.d")
        let metrics = try await get("/metrics").body
        #expect(metrics.contains(#"peerpull_agent_containerd_preflight_state{result="ignored"} 1"#), "\(metrics.suffix(2000))")
        #expect(agent.log.components(separatedBy: "not ready: ").count - 1 == 1, "said once: \(agent.log.suffix(3000))")

        // Fixed (and containerd restarted, which the agent cannot see): ready, no restart.
        try "version = 2\n\(section)\n  config_path = \"/etc/containerd/certs.d\"\n".write(toFile: config, atomically: true, encoding: .utf8)
        let ready = try await get("/readyz")
        #expect(ready.code == "200", "\(ready.body)")
        #expect(ready.body.hasPrefix("ok"))
        #expect(try await get("/metrics").body.contains(#"peerpull_agent_containerd_preflight_state{result="honoured"} 1"#))
        #expect(agent.log.contains("containerd reads the agent's hosts.toml"), "\(agent.log.suffix(2000))")
    }
}
