import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import OCI

/// The agent's registry API (the pull half of the OCI distribution spec). This first
/// version passes every request through to the origin with the caller's own
/// `Authorization`, so the origin decides who may pull; the verified cache and the
/// peers plug in behind it.
public struct RegistryFrontEnd: Sendable {
    public var resolver: OriginResolver
    public var client: RegistryClient
    /// The node's one rate limit for blob bytes; nil for none.
    public var bucket: TokenBucket?
    var logger: Logger

    public init(resolver: OriginResolver, client: RegistryClient, bucket: TokenBucket? = nil, logger: Logger = Logger(label: "peerpull.agent")) {
        self.resolver = resolver
        self.client = client
        self.bucket = bucket
        self.logger = logger
    }

    /// Registers the routes on `router`.
    public func register(on router: Router<some RequestContext>) {
        // Liveness and readiness for the DaemonSet's probes; the cache will add its own check.
        router.get("/healthz") { _, _ in "ok" }
        router.get("/readyz") { _, _ in "ok" }
        for path: RouterPath in ["/v2", "/v2/**"] {
            router.get(path) { request, _ in await self.handle(request, head: false) }
            router.head(path) { request, _ in await self.handle(request, head: true) }
            for method in [HTTPRequest.Method.post, .put, .patch, .delete] {
                router.on(path, method: method) { _, _ in
                    Self.error(.init(status: 405, code: "UNSUPPORTED", message: "this agent serves pulls only; push to the origin registry"))
                }
            }
        }
    }

    func handle(_ request: Request, head: Bool) async -> Response {
        let route: RegistryRoute
        switch RegistryRoute.parse(path: request.uri.path) {
        case .success(let r): route = r
        case .failure(let e): return Self.error(e)
        }
        let origin: String
        switch resolver.origin(host: request.head.authority, namespace: request.uri.queryParameters.get("ns")) {
        case .success(let o): origin = o
        case .failure(let e): return Self.error(e)
        }
        let authorization = RegistryAuthorization.passThrough(request.headers[.authorization])
        do {
            switch route {
            case .base:
                let status = try await client.ping(origin, authorization: authorization)
                guard status == 200 else {
                    return Self.error(.init(status: 502, code: "UNAVAILABLE", message: "origin \(origin) answered /v2/ with HTTP \(status)"))
                }
                return Response(status: .ok, headers: Self.apiHeaders([.contentType: "application/json"]), body: .init(byteBuffer: ByteBuffer(string: "{}")))
            case .manifest(let repository, let reference):
                let accept = request.headers[values: .accept].joined(separator: ", ")
                let m = try await client.manifest(
                    Repository(domain: origin, path: repository), reference: reference.description,
                    method: head ? .HEAD : .GET, accept: accept.isEmpty ? MediaType.manifestAccept : [accept],
                    authorization: authorization)
                var headers = Self.apiHeaders([.contentType: m.contentType])
                if let d = m.digest { headers[.dockerContentDigest] = d.description }
                if let size = m.size { headers[.contentLength] = String(size) }
                return Response(status: .ok, headers: headers, body: head ? .init() : .init(byteBuffer: ByteBuffer(bytes: m.bytes)))
            case .blob(let repository, let digest):
                let repo = Repository(domain: origin, path: repository)
                var range: ByteRange?
                if let header = request.headers[.range], case .single(let r) = ByteRange.parse(header) { range = r }
                let blob = head
                    ? try await client.headBlob(repo, digest: digest, authorization: authorization)
                    : try await client.blob(repo, digest: digest, range: range, authorization: authorization)
                var headers = Self.apiHeaders([.contentType: blob.contentType ?? "application/octet-stream", .acceptRanges: "bytes"])
                headers[.dockerContentDigest] = digest.description
                if let length = blob.contentLength { headers[.contentLength] = String(length) }
                if let cr = blob.contentRange { headers[.contentRange] = cr.description }
                let status: HTTPResponse.Status = blob.status == 206 ? .partialContent : .ok
                if head { return Response(status: status, headers: headers, body: .init()) }
                if let bucket {
                    return Response(status: status, headers: headers, body: .init(asyncSequence: RateLimitedStream(base: blob.body, bucket: bucket)))
                }
                return Response(status: status, headers: headers, body: .init(asyncSequence: blob.body))
            }
        } catch {
            return Self.response(for: error, route: route)
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

    static func error(_ e: OCIErrorResponse) -> Response {
        Response(
            status: .init(code: e.status),
            headers: apiHeaders([.contentType: "application/json"]),
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
