import Foundation
import Kubernetes
import Logging
import Synchronization
import TestSupport
import Testing

/// Leader election's lease arithmetic against a real kube-apiserver, with the time each
/// replica sees moved by the test (no waiting for a 15 s lease to run out).
@Suite("Leader election", .serialized, .timeLimit(.minutes(2)))
struct LeaderElectionTests {
    /// A wall clock that moves only when told to.
    final class ManualDate: Sendable {
        private let current = Mutex(Date(timeIntervalSince1970: 1_800_000_000))
        func now() -> Date { current.withLock { $0 } }
        func advance(by seconds: TimeInterval) { current.withLock { $0 += seconds } }
    }

    static func election(_ client: KubernetesClient, _ identity: String, _ clock: ManualDate, lease: String = "peerpull-test") -> LeaderElection {
        LeaderElection(client: client, namespace: "default", name: lease, identity: identity,
                       leaseDuration: 15, logger: Logger(label: "test"), now: { clock.now() })
    }

    @Test func aLeaseIsTakenOverOnlyAfterItsHolderStoppedRenewingForTheLeaseDuration() async throws {
        let cluster = try await KubernetesTestCluster.start()
        let client = try KubernetesClient(connection: KubernetesConnection.kubeconfig(path: cluster.kubeconfig))
        do {
            let clock = ManualDate()
            let a = Self.election(client, "replica-a", clock)
            let b = Self.election(client, "replica-b", clock)
            #expect(await a.tryAcquireOrRenew(), "the first replica creates the lease")
            #expect(await !b.tryAcquireOrRenew(), "a held lease is not taken")
            clock.advance(by: 10)
            #expect(await a.tryAcquireOrRenew(), "the holder renews")
            clock.advance(by: 14)
            #expect(await !b.tryAcquireOrRenew(), "14 s after the renewal the lease still holds")
            clock.advance(by: 2)
            #expect(await b.tryAcquireOrRenew(), "16 s after the last renewal the other replica takes it")
            #expect(await !a.tryAcquireOrRenew(), "the old holder has lost it")
            let lease = try await cluster.json(["get", "lease", "peerpull-test", "-n", "default"])
            let spec = try #require(lease["spec"] as? [String: Any])
            #expect(spec["holderIdentity"] as? String == "replica-b")
            #expect(spec["leaseTransitions"] as? Int == 1)
            #expect((spec["renewTime"] as? String)?.hasPrefix("2027-01-15T08:00:26") == true, "\(spec["renewTime"] ?? "")")
        } catch {
            await client.shutdown(); await cluster.stop()
            throw error
        }
        await client.shutdown()
        await cluster.stop()
    }

    @Test func theLeaderRunsTheWorkAndStopsItWhenTheLeaseIsLost() async throws {
        let cluster = try await KubernetesTestCluster.start()
        let client = try KubernetesClient(connection: KubernetesConnection.kubeconfig(path: cluster.kubeconfig))
        let clock = ManualDate()
        // Each round waits for the test's go instead of `renewInterval`.
        let (rounds, go) = AsyncStream.makeStream(of: Void.self)
        let (ticks, tick) = AsyncStream.makeStream(of: Void.self)
        let election = LeaderElection(client: client, namespace: "default", name: "peerpull-work", identity: "replica-a",
                                      leaseDuration: 15, logger: Logger(label: "test"), now: { clock.now() },
                                      sleep: { _ in tick.yield(); for await _ in rounds { return }; throw CancellationError() })
        // The work tells the test when it starts and when it is stopped (it waits only for
        // its cancellation), so the test waits on events, not on time.
        let (events, event) = AsyncStream.makeStream(of: String.self)
        let runner = Task {
            await election.run {
                event.yield("started")
                try? await Task.sleep(for: .seconds(86_400))  // until losing the lease cancels it
                event.yield(Task.isCancelled ? "stopped" : "ran a day uncancelled")
            }
        }
        var tickIterator = ticks.makeAsyncIterator()
        var eventIterator = events.makeAsyncIterator()
        _ = await tickIterator.next()
        #expect(await eventIterator.next() == "started", "the first round won the lease and started the work")
        // Another replica takes the lease over once it has lapsed.
        clock.advance(by: 20)
        let other = Self.election(client, "replica-b", clock, lease: "peerpull-work")
        #expect(await other.tryAcquireOrRenew())
        go.yield()
        _ = await tickIterator.next()
        #expect(await eventIterator.next() == "stopped", "losing the lease cancelled the work")
        runner.cancel()
        go.finish()
        await runner.value
        await client.shutdown()
        await cluster.stop()
    }
}
