import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import OCI
import OCIClient
import Synchronization

/// The agent's registry API: the pull half of the OCI distribution spec.
///
/// Tags are always resolved at the origin with the caller's own `Authorization`.
/// Blobs and by-digest manifests come from the verified cache once the
/// `AuthorizationGate` has confirmed, at the origin, that the caller may read them.
public struct RegistryFrontEnd: Sendable {
    public var resolver: OriginResolver
    public var client: RegistryClient
    /// The node's one rate limit for bytes crossing the network; nil for none.
    public var bucket: TokenBucket?
    public var cache: BlobCache?
    public var manifests: ManifestCache?
    public var gate: AuthorizationGate
    public var metrics: AgentMetrics
    /// Whether containerd reads the agent's `hosts.toml`: `/readyz` answers 503 while it does not.
    public var containerd: ContainerdPreflightCheck?
    var logger: Logger
    /// Registries already warned about (a pull names one many times).
    let unknownRegistries = UnknownRegistries()

    public init(
        resolver: OriginResolver,
        client: RegistryClient,
        bucket: TokenBucket? = nil,
        cache: BlobCache? = nil,
        manifests: ManifestCache? = nil,
        gate: AuthorizationGate? = nil,
        metrics: AgentMetrics = AgentMetrics(),
        containerd: ContainerdPreflightCheck? = nil,
        logger: Logger = Logger(label: "peerpull.agent")
    ) {
        self.resolver = resolver
        self.client = client
        self.bucket = bucket
        self.cache = cache
        self.manifests = manifests
        self.gate = gate ?? AuthorizationGate(client: client, metrics: metrics)
        self.metrics = metrics
        self.containerd = containerd
        self.logger = logger
    }

    /// Registers the routes on `router`.
    public func register(on router: Router<AgentRequestContext>) {
        router.add(middleware: PacedResponses())
        router.get("/healthz") { _, _ in "ok" }
        router.get("/readyz") { _, _ in Self.readiness(containerd?.check()) }
        router.get("/metrics") { _, _ in
            containerd?.check()
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(string: metrics.render())))
        }
        router.get("/status") { _, _ in
            // The blobs in flight (digests, piece maps, sources) and the cache's totals: no
            // content and no credentials, like /metrics.
            var status = await cache?.status() ?? AgentStatus(cacheBytes: 0, cacheQuota: 0, cachedBlobs: 0, downloads: [])
            status.containerd = containerd?.check()
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
            let body = (try? encoder.encode(status)) ?? Data("{}".utf8)
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: body)))
        }
        for path: RouterPath in ["/v2", "/v2/**"] {
            router.get(path) { request, _ in await self.timed(request, head: false) }
            router.head(path) { request, _ in await self.timed(request, head: true) }
            for method in [HTTPRequest.Method.post, .put, .patch, .delete] {
                router.on(path, method: method) { _, _ in
                    Self.error(.init(status: 405, code: "UNSUPPORTED", message: "this agent serves pulls only; push to the origin registry"))
                }
            }
        }
    }

    /// 200 while containerd reads the agent's `hosts.toml` (warnings follow "ok"), else 503
    /// with the reasons: the kubelet then marks the pod not ready, and the controller stops
    /// rewriting images to the P2P host.
    static func readiness(_ verdict: ContainerdPreflight?) -> Response {
        guard let verdict else { return Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: "ok"))) }
        var lines: [String] = verdict.ready ? ["ok"] : ["not ready: containerd would not use this agent."] + verdict.problems
        lines += verdict.warnings.map { "warning: \($0)" }
        return Response(status: verdict.ready ? .ok : .serviceUnavailable, headers: [.contentType: "text/plain; charset=utf-8"],
                        body: .init(byteBuffer: ByteBuffer(string: lines.joined(separator: "\n") + "\n")))
    }

    func timed(_ request: Request, head: Bool) async -> Response {
        let start = ContinuousClock.now
        let (response, kind) = await handle(request, head: head)
        metrics.requestFinished(kind: kind, method: head ? "HEAD" : "GET", status: response.status.code,
                                duration: ContinuousClock.now - start)
        return response
    }

    func handle(_ request: Request, head: Bool) async -> (Response, AgentMetrics.Kind) {
        let route: RegistryRoute
        switch RegistryRoute.parse(path: request.uri.path) {
        case .success(let r): route = r
        case .failure(let e): return (Self.error(e), .base)
        }
        let kind: AgentMetrics.Kind = switch route {
        case .base: .base
        case .manifest: .manifest
        case .blob: .blob
        }
        let origin: String
        let ns = request.uri.queryParameters.get("ns").map { String($0) }
        switch resolver.origin(host: request.head.authority, namespace: ns) {
        case .success(let o): origin = o
        case .failure(let e):
            // containerd takes the 404 quietly and goes to the next host in hosts.toml:
            // without this the bytes bypass the agent and nothing says so.
            metrics.unknownRegistryRequest()
            let registry = ns ?? request.head.authority ?? "?"
            if unknownRegistries.first(registry) {
                logger.warning("a registry this agent does not accelerate was asked for: answered 404, the client goes to its next host (add it to the origins, p2p.registryInstances)",
                               metadata: ["registry": "\(registry.prefix(255))", "path": "\(request.uri.path.prefix(255))"])
            }
            return (Self.error(e), kind)
        }
        let authorization = request.headers[.authorization]
        do {
            switch route {
            case .base:
                let status = try await client.ping(origin, authorization: .passThrough(authorization))
                guard status == 200 else {
                    return (Self.error(.init(status: 502, code: "UNAVAILABLE", message: "origin \(origin) answered /v2/ with HTTP \(status)")), kind)
                }
                return (Response(status: .ok, headers: Self.apiHeaders([.contentType: "application/json"]), body: .init(byteBuffer: ByteBuffer(string: "{}"))), kind)
            case .manifest(let repository, let reference):
                return (try await manifest(Repository(domain: origin, path: repository), reference: reference,
                                           request: request, head: head, authorization: authorization), kind)
            case .blob(let repository, let digest):
                return (try await blob(Repository(domain: origin, path: repository), digest: digest,
                                       request: request, head: head, authorization: authorization), kind)
            }
        } catch {
            if case .unauthorized = error {} else {
                logger.info("request refused or failed at the origin", metadata: [
                    "path": "\(request.uri.path.prefix(300))", "origin": "\(origin)", "error": "\(error)"])
            }
            return (Self.response(for: error, route: route), kind)
        }
    }

    static func response(for error: RegistryError, route: RegistryRoute) -> Response {
        switch error {
        case .unauthorized(_, _, let challenge, let detail):
            // The challenge goes back unchanged: the client runs its token flow against
            // the origin's own realm, and the agent never sees a password.
            var headers = apiHeaders([.contentType: "application/json"])
            if let challenge { headers[.wwwAuthenticate] = challenge }
            let body = OCIErrorResponse(status: 401, code: "UNAUTHORIZED", message: detail ?? "authentication required").body
            return Response(status: .unauthorized, headers: headers, body: .init(byteBuffer: ByteBuffer(string: body)))
        case .denied(_, _, let detail):
            return Self.error(.init(status: 403, code: "DENIED", message: detail ?? "requested access to the resource is denied"))
        case .notFound(_, _, _, let detail):
            let code: String
            if case .blob = route { code = "BLOB_UNKNOWN" } else { code = "MANIFEST_UNKNOWN" }
            return Self.error(.init(status: 404, code: code, message: detail ?? "unknown to the origin registry"))
        case .rangeNotSatisfiable:
            return Self.error(.init(status: 416, code: "RANGE_INVALID", message: "requested range not satisfiable"))
        default:
            return Self.error(.init(status: 502, code: "UNAVAILABLE", message: error.description))
        }
    }

    static func error(_ e: OCIErrorResponse, headers: HTTPFields = [:]) -> Response {
        var fields = apiHeaders(headers)
        fields[.contentType] = "application/json"
        return Response(
            status: .init(code: e.status),
            headers: fields,
            body: .init(byteBuffer: ByteBuffer(string: e.body)))
    }

    static func apiHeaders(_ fields: HTTPFields) -> HTTPFields {
        var h = fields
        h[.dockerDistributionAPIVersion] = "registry/2.0"
        return h
    }
}

extension HTTPField.Name {
    static let dockerContentDigest = Self("Docker-Content-Digest")!
    static let dockerDistributionAPIVersion = Self("Docker-Distribution-API-Version")!
}

/// The first request for each unknown registry is logged; at most `limit` names are kept,
/// so hostile names cannot grow memory.
final class UnknownRegistries: Sendable {
    private let seen = Mutex<Set<String>>([])
    let limit = 64

    /// Whether `name` is new (and there is room to remember it).
    func first(_ name: String) -> Bool {
        seen.withLock { set in
            guard set.count < limit, !set.contains(name) else { return false }
            set.insert(name)
            return true
        }
    }
}
