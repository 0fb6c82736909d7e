import Foundation
import TestSupport
import Testing

/// The webhook under sustained load (issue 13, item 4): the controller binary against a
/// real kube-apiserver (namespace labels and pull secrets come from its watches), sent
/// AdmissionReviews at a fixed rate by `bench/webhook_load.py`, which checks every patch
/// with an oracle of its own. CI runs 10 s at 500 reviews/s; `bench/webhook-soak.sh` a
/// minute against the release binary (PEERPULL_WEBHOOK_SOAK_SECONDS, _RATE, PEERPULL_BINARY).
@Suite("Webhook soak", .serialized)
struct WebhookSoakTests {
    static let origin = ControllerEndToEndTests.origin
    static let p2p = ControllerEndToEndTests.p2p
    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    @Test func everyReviewAtFiveHundredASecondGetsTheRightPatch() async throws {
        let env = ProcessInfo.processInfo.environment
        let seconds = Double(env["PEERPULL_WEBHOOK_SOAK_SECONDS"] ?? "") ?? 10
        let rate = Double(env["PEERPULL_WEBHOOK_SOAK_RATE"] ?? "") ?? 500
        let controller = try await ControllerUnderTest.start(namespaces: ["team-a", "team-b"], labelled: ["team-b"], logLevel: "warning")
        let cluster = controller.cluster
        do {
            // The controller learns namespace labels and secrets through its watches: one
            // pod through the API server shows they are in (the load is sent directly).
            try await controller.process.waitUntil(timeout: .seconds(30)) {
                let pod = ControllerEndToEndTests.pod("warm-\(UUID().uuidString.prefix(6).lowercased())", namespace: "team-b", labelled: false)
                let out = try? await cluster.run(["create", "--dry-run=server", "-o", "json", "-f", "-"], stdin: pod, check: false)
                return out?.stdout.contains(Self.p2p) ?? false
            }

            let result = controller.directory.file("result.json")
            let load = try await Command.run([
                "python3", "\(Self.repositoryRoot)/bench/webhook_load.py", "--url", "https://127.0.0.1:\(controller.port)/mutate",
                "--ca", controller.caFile, "--origin", Self.origin, "--p2p", Self.p2p,
                "--labelled-namespace", "team-b", "--plain-namespace", "team-a",
                "--rate", String(rate), "--duration", String(seconds), "--out", result,
            ])
            let summary = try #require(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: result))) as? [String: Any])
            let peak = Self.peakRSSMiB(pid: controller.process.pid)
            print("webhook soak: \(load.stdout.replacingOccurrences(of: "\n", with: " ")); controller peak RSS \(peak) MiB")
            let reviews = try #require(summary["reviews"] as? Int)
            #expect(reviews == Int(rate * seconds))
            #expect(summary["answered"] as? Int == reviews, "every review answered")
            #expect(summary["connection_errors"] as? Int == 0)
            #expect(summary["wrong"] as? Int == 0, "\(summary["wrong_examples"] ?? "")")
            #expect((summary["rewritten"] as? Int ?? 0) > reviews / 5, "a good share of the pods were rewritten")
            #expect(controller.process.isRunning)
        } catch {
            throw await controller.stop(after: error)
        }
        await controller.stop()
    }

    static func peakRSSMiB(pid: Int32) -> Int {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM") }),
              let kib = Int(line.split(whereSeparator: \.isWhitespace).dropFirst().first ?? "") else { return -1 }
        return kib / 1024
    }
}
