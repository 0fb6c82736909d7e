@testable import Controller
import Foundation
import Logging
import Swarm
import Testing

/// The swarm's peer-signing key, made once by the controller: the in-memory twin of the
/// API server's secrets here; `ControllerEndToEndTests` runs it against a real one.
@Suite("The swarm's key Secret")
struct SwarmSecretTests {
    static let logger = Logger(label: "test")

    func storedKey(_ secret: Secret?) -> String? {
        secret?.data?[SwarmSecret.dataKey].flatMap { Data(base64Encoded: $0) }.map { String(decoding: $0, as: UTF8.self) }
    }

    @Test func aMissingSecretIsCreatedWithAKeyTheAgentAccepts() async throws {
        let store = InMemorySecretStore()
        let swarm = SwarmSecret(store: store, namespace: "peerpull-system", name: "p2p-swarm", logger: Self.logger)
        #expect(try await swarm.ensure() == .created)
        let secret = try await store.secret(namespace: "peerpull-system", name: "p2p-swarm")
        let key = try #require(storedKey(secret))
        // The file the agent reads: these bytes, no line break, 48 letters and digits.
        #expect(key.count == SwarmSecret.keyLength && key.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber) }, "\(key)")
        #expect(PeerCredential(secret: Array(key.utf8)) != nil)
        #expect(SwarmSecret.minimumKeyBytes == PeerCredential.minimumSecretBytes)
        // The uninstall hook deletes what carries this label.
        #expect(secret?.metadata.labels?[PullSecretMirror.managedByLabel] == PullSecretMirror.managedBy)
        #expect(secret?.type == "Opaque")
        #expect(SwarmSecret.randomKey() != SwarmSecret.randomKey())
    }

    @Test func anExistingKeyIsNeverReplaced() async throws {
        let store = InMemorySecretStore()
        let swarm = SwarmSecret(store: store, namespace: "peerpull-system", name: "p2p-swarm", logger: Self.logger)
        try await swarm.ensure()
        let first = try await store.secret(namespace: "peerpull-system", name: "p2p-swarm")
        // A restart, a new replica, a new controller version: the same key.
        for _ in 0..<3 {
            #expect(try await swarm.ensure { Issue.record("a new key was made for an existing Secret"); return "x" } == .existing)
        }
        #expect(try await store.secret(namespace: "peerpull-system", name: "p2p-swarm") == first)
    }

    @Test func anUnusableKeyIsReportedAndLeftAlone() async throws {
        let short = Secret(metadata: ObjectMeta(name: "p2p-swarm", namespace: "peerpull-system"), type: "Opaque",
                           data: ["secret": Data("too short\n".utf8).base64EncodedString()])
        let store = InMemorySecretStore([short])
        let swarm = SwarmSecret(store: store, namespace: "peerpull-system", name: "p2p-swarm", logger: Self.logger)
        guard case .unusable(let problem) = try await swarm.ensure() else { Issue.record("accepted a 9-byte key"); return }
        #expect(problem.contains("peerpull-system/p2p-swarm") && problem.contains("delete it"), "\(problem)")
        #expect(storedKey(try await store.secret(namespace: "peerpull-system", name: "p2p-swarm")) == "too short\n")
    }

    @Test func aReplicaThatLosesTheRaceToCreateItUsesTheWinnersKey() async throws {
        let store = InMemorySecretStore()
        let winner = SwarmSecret(store: store, namespace: "peerpull-system", name: "p2p-swarm", logger: Self.logger)
        #expect(try await winner.ensure() == .created)
        let key = storedKey(try await store.secret(namespace: "peerpull-system", name: "p2p-swarm"))
        // The other replica read before the winner created it, so its create meets 409.
        let loser = SwarmSecret(store: FirstReadMisses(store), namespace: "peerpull-system", name: "p2p-swarm", logger: Self.logger)
        #expect(try await loser.ensure() == .existing)
        #expect(storedKey(try await store.secret(namespace: "peerpull-system", name: "p2p-swarm")) == key)
        #expect(await store.all.count == 1)
    }
}

/// A replica's view of the secrets that read just before another replica created one: its
/// first read finds nothing.
private actor FirstReadMisses: SecretStore {
    let store: InMemorySecretStore
    var missed = false

    init(_ store: InMemorySecretStore) { self.store = store }

    func secret(namespace: String, name: String) async throws(KubernetesError) -> Secret? {
        if !missed {
            missed = true
            return nil
        }
        return try await store.secret(namespace: namespace, name: name)
    }

    func create(_ secret: Secret) async throws(KubernetesError) -> Secret { try await store.create(secret) }
    func update(_ secret: Secret) async throws(KubernetesError) -> Secret { try await store.update(secret) }
}
