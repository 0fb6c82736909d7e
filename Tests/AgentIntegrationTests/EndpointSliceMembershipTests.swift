import Agent
import Foundation
import Hummingbird
import Kubernetes
import Logging
import NIOCore
import Swarm
import Synchronization
import TestSupport
import Testing

/// The membership watch against a loopback server that speaks `discovery.k8s.io` as a
/// Kubernetes 1.36 API server does (v1 only: v1beta1 went in 1.25), including an outage at
/// the agent's start and a server upgraded under a running agent.
@Suite("EndpointSlice membership", .timeLimit(.minutes(2)))
struct EndpointSliceMembershipTests {
    /// A fake API server: which `discovery.k8s.io` versions it serves, the requests it saw.
    final class FakeAPIServer: Sendable {
        let serves = Mutex<Set<String>>(["v1"])
        let paths = Mutex<[String]>([])

        func router() -> Router<BasicRequestContext> {
            let router = Router()
            for version in ["v1", "v1beta1"] {
                router.get("/apis/discovery.k8s.io/\(version)") { _, _ -> Response in
                    self.paths.withLock { $0.append("/apis/discovery.k8s.io/\(version)") }
                    guard self.serves.withLock({ $0.contains(version) }) else { return Self.notFound }
                    return Self.json(EndpointSliceFixtures.resourceList(version))
                }
                router.get("/apis/discovery.k8s.io/\(version)/namespaces/:namespace/endpointslices") { request, _ -> Response in
                    let watch = request.uri.queryParameters["watch"] != nil
                    self.paths.withLock { $0.append("/apis/discovery.k8s.io/\(version)/endpointslices\(watch ? "?watch" : "")") }
                    guard self.serves.withLock({ $0.contains(version) }) else { return Self.notFound }
                    guard request.uri.queryParameters["labelSelector"] == "kubernetes.io/service-name=p2p-agent" else {
                        return Self.json(#"{"kind":"EndpointSliceList","apiVersion":"discovery.k8s.io/v1","metadata":{"resourceVersion":"48213"},"items":[]}"#)
                    }
                    if watch {
                        // A watch with nothing new, ended early (as at its timeoutSeconds).
                        try await Task.sleep(for: .milliseconds(200))
                        return Response(status: .ok, headers: [.contentType: "application/json"])
                    }
                    return Self.json(EndpointSliceFixtures.list(version))
                }
            }
            return router
        }

        static var notFound: Response {
            Response(status: .notFound, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: """
                {"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"the server could not find the requested resource","reason":"NotFound","details":{},"code":404}
                """)))
        }

        static func json(_ body: String) -> Response {
            Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: body)))
        }
    }

    static let expectedV4 = [Member(node: "node-a", address: "198.18.0.17", peerPort: 65002),
                             Member(node: "node-b", address: "198.18.0.18", peerPort: 65002)]

    @Test("an agent started while the API server is unreachable lists v1 once it answers, never v1beta1")
    func anOutageAtStartDoesNotSendTheAgentToV1beta1() async throws {
        let port = try LoopbackPort.free()
        let fake = FakeAPIServer()
        let client = try KubernetesClient(connection: KubernetesConnection(server: "http://127.0.0.1:\(port)"), sleep: { _ in })
        let waits = Mutex(0)
        let membership = EndpointSliceMembership(
            client: client, namespace: "peerpull-system", service: "p2p-agent", defaultPort: 65002, addressType: "IPv4",
            logger: Logger(label: "test"), sleep: { _ in
                waits.withLock { $0 += 1 }
                try await Task.sleep(for: .milliseconds(20))
            })
        let follow = Task { await membership.follow() }
        var server: LoopbackServer?
        do {
            // Nothing listens: the agent keeps asking (each attempt takes its 10 s timeout: the
            // HTTP client retries a refused connection until then), with members none.
            #expect(try await eventually(within: .seconds(25)) { waits.withLock { $0 } >= 1 })
            let none = await membership.current.isEmpty
            #expect(none)
            server = try await LoopbackServer.start(router: fake.router(), port: port)
            let listed = try await eventually(within: .seconds(30)) { await membership.current == Self.expectedV4 }
            let members = await membership.current, version = await membership.version
            #expect(listed, "members \(members), requests \(fake.paths.withLock { $0 })")
            #expect(version == "v1")
            #expect(!fake.paths.withLock { $0 }.contains { $0.contains("v1beta1") }, "\(fake.paths.withLock { $0 })")
        } catch {
            follow.cancel(); await follow.value; await server?.stop(); await client.shutdown()
            throw error
        }
        follow.cancel(); await follow.value; await server?.stop(); await client.shutdown()
    }

    @Test("a server that stops serving v1beta1 under a running agent (an upgrade past 1.24) sends it to v1")
    func aListAnswering404AsksForTheVersionAgain() async throws {
        let fake = FakeAPIServer()
        fake.serves.withLock { $0 = ["v1beta1"] }
        let server = try await LoopbackServer.start(router: fake.router())
        let client = try KubernetesClient(connection: KubernetesConnection(server: "http://127.0.0.1:\(server.port)"), sleep: { _ in })
        let membership = EndpointSliceMembership(
            client: client, namespace: "peerpull-system", service: "p2p-agent", defaultPort: 65002, addressType: "IPv4",
            logger: Logger(label: "test"), sleep: { _ in try await Task.sleep(for: .milliseconds(20)) })
        let follow = Task { await membership.follow() }
        defer { follow.cancel() }
        #expect(try await eventually(within: .seconds(20)) { await membership.current == Self.expectedV4 })
        let first = await membership.version
        #expect(first == "v1beta1")
        fake.serves.withLock { $0 = ["v1"] }
        let moved = try await eventually(within: .seconds(20)) { await membership.version == "v1" }
        #expect(moved, "requests \(fake.paths.withLock { $0 })")
        let after = await membership.current
        #expect(after == Self.expectedV4)
        follow.cancel(); await follow.value
        await server.stop(); await client.shutdown()
    }

    @Test("a dual-stack Service's slices: the members of the family this agent advertises")
    func dualStackTakesTheAdvertisedFamily() throws {
        let list = try JSONDecoder().decode(ObjectList<EndpointSlice>.self, from: Data(EndpointSliceFixtures.list("v1").utf8))
        #expect(EndpointSliceMembership.members(of: list.items, defaultPort: 1, addressType: "IPv4") == Self.expectedV4)
        #expect(EndpointSliceMembership.members(of: list.items.reversed(), defaultPort: 1, addressType: "IPv4") == Self.expectedV4)
        #expect(EndpointSliceMembership.members(of: list.items, defaultPort: 1, addressType: "IPv6") == [
            Member(node: "node-a", address: "2001:db8::17", peerPort: 65002), Member(node: "node-b", address: "2001:db8::18", peerPort: 65002)])
        #expect(EndpointSliceMembership.addressType(of: "2001:db8::17") == "IPv6")
        #expect(EndpointSliceMembership.addressType(of: "198.18.0.17") == "IPv4")
        // The fields 1.36 sends that the agent reads: nodeName, readiness, the peer port.
        let v4 = try #require(list.items.first { $0.addressType == "IPv4" })
        #expect(v4.endpoints?.map(\.node) == ["node-a", "node-b", "node-c"])
    }
}
