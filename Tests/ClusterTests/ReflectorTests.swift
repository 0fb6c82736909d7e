import Foundation
import Kubernetes
import Logging
import Synchronization
import TestSupport
import Testing

/// The reflector against a real kube-apiserver, its waits seen through an injected sleep.
@Suite("Reflector", .serialized, .timeLimit(.minutes(2)))
struct ReflectorTests {
    @Test func aFailingListIsRetriedWithADoublingBackoffCappedAtThirtySecondsAndTheStateFollowsTheWatch() async throws {
        let cluster = try await KubernetesTestCluster.start()
        let client = try KubernetesClient(connection: KubernetesConnection.kubeconfig(path: cluster.kubeconfig))
        // 1. A collection the server does not have: every list fails, the waits double.
        let waits = Mutex<[Duration]>([])
        let failing = Reflector<Secret>(client: client, path: "/api/v1/namespaces/default/nosuchkind", logger: Logger(label: "test"),
                                        sleep: { d in
                                            let n = waits.withLock { $0.append(d); return $0.count }
                                            if n >= 10 { throw CancellationError() }
                                        })
        await failing.run { _ in Issue.record("nothing can be listed") }
        #expect(waits.withLock { $0 } == [0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 30, 30].map { Duration.milliseconds(Int64($0 * 1000)) })

        // 2. A real collection: the list, then a secret created afterwards through the watch.
        let names = Mutex<Set<String>>([])
        let (changed, change) = AsyncStream.makeStream(of: Void.self)
        let secrets = Reflector<Secret>(client: client, path: "/api/v1/namespaces/default/secrets", logger: Logger(label: "test"),
                                        sleep: { _ in
                                            // Cancelling the task at the end fails the watch in flight.
                                            if Task.isCancelled { throw CancellationError() }
                                            Issue.record("no failure expected")
                                        })
        try await cluster.run(["create", "secret", "generic", "before", "-n", "default", "--from-literal=a=b"])
        let task = Task {
            await secrets.run { event in
                names.withLock { names in
                    switch event {
                    case .replaced(let all): names = Set(all.map { $0.metadata.name ?? "" })
                    case .upserted(let s): names.insert(s.metadata.name ?? "")
                    case .deleted(let s): names.remove(s.metadata.name ?? "")
                    }
                }
                change.yield()
            }
        }
        var events = changed.makeAsyncIterator()
        _ = await events.next()
        #expect(names.withLock { $0.contains("before") })
        try await cluster.run(["create", "secret", "generic", "after", "-n", "default", "--from-literal=a=b"])
        while names.withLock({ !$0.contains("after") }) { _ = await events.next() }
        try await cluster.run(["delete", "secret", "before", "-n", "default"])
        while names.withLock({ $0.contains("before") }) { _ = await events.next() }
        #expect(names.withLock { $0.contains("after") && !$0.contains("before") })
        task.cancel()
        change.finish()
        await task.value
        await client.shutdown()
        await cluster.stop()
    }
}
