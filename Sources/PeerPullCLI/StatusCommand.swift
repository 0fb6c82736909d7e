import Agent
import ArgumentParser
import AsyncHTTPClient
import Foundation
import OCI
import OCIClient

/// `peerpull status`: what a node's agent is doing, from its `/status`.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show an agent's swarm membership, cache and the blobs it is downloading, with their piece maps and sources."
    )

    @Option(help: "The agent's registry endpoint (https:// when it serves TLS).")
    var agent = "http://127.0.0.1:65001"

    @Option(help: "PEM file of a CA to trust in addition to the system roots (the agent's own CA).")
    var caCert: String?

    @Flag(help: "Print the agent's JSON as it is.")
    var json = false

    func run() async throws {
        let http = RegistryClient.makeHTTPClient(trustRootsPEMFile: caCert, connectTimeout: .seconds(3), readTimeout: .seconds(10))
        let body: Data
        do {
            let response = try await http.execute(HTTPClientRequest(url: agent.trimmingCharacters(in: ["/"]) + "/status"), timeout: .seconds(10))
            let bytes = try await response.body.collect(upTo: 16 << 20)
            guard response.status == .ok else {
                try? await http.shutdown()
                throw ValidationError("\(agent)/status answered \(response.status.code): is this a PeerPull agent of this version?")
            }
            body = Data(bytes.readableBytesView)
        } catch let e as ValidationError {
            throw e
        } catch {
            try? await http.shutdown()
            throw ValidationError("cannot reach the agent at \(agent): \(error)")
        }
        try? await http.shutdown()
        if json {
            print(String(decoding: body, as: UTF8.self))
            return
        }
        let status = try JSONDecoder().decode(AgentStatus.self, from: body)
        print(Self.render(status))
    }

    static func render(_ s: AgentStatus) -> String {
        var lines: [String] = []
        let swarm = s.node.map { "node \($0), \(s.members ?? 0) swarm members" } ?? "swarm off"
        lines.append("\(swarm); cache \(HumanReadable.bytes(s.cacheBytes)) of \(HumanReadable.bytes(s.cacheQuota)) in \(s.cachedBlobs) blobs")
        if let c = s.containerd {
            lines.append(c.ready ? "containerd reads hosts.toml from \(c.agentDirectory) (config_path \(c.configPath ?? "?"))"
                                 : "not ready: \(c.problems.joined(separator: " "))")
            lines += c.warnings.map { "warning: \($0)" }
        }
        if s.downloads.isEmpty {
            lines.append("no blob downloading")
        }
        for d in s.downloads {
            var line = "\(d.digest.prefix(19))…  \(HumanReadable.bytes(d.size))"
            if let pieces = d.pieces, let verified = d.verifiedPieces {
                line += "  \(verified)/\(pieces) pieces [\(d.pieceMap ?? "")]"
            }
            line += "  in order \(HumanReadable.bytes(d.verifiedPrefix))"
            let got = d.peerBytes + d.originBytes
            if got > 0 {
                line += "  peers \(d.peerBytes * 100 / got)% (\(d.peers.count)) origin \(d.originBytes * 100 / got)%"
            }
            if let seconds = d.seconds { line += String(format: "  %.1f s", seconds) }
            lines.append(line)
        }
        return lines.joined(separator: "\n")
    }

}
