import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL
import OCI

/// A small client for the Kubernetes API (no maintained Swift one exists): typed get,
/// create, update, list and watch on JSON paths, bounded retries for transport errors
/// and 5xx, every call under a deadline.
public final class KubernetesClient: Sendable {
    public let connection: KubernetesConnection
    /// Also lent to other API clients of the controller (the ACR resolver).
    public let http: HTTPClient
    let logger: Logger
    /// Waits between attempts (injected by tests, which see the backoff without waiting).
    let sleep: @Sendable (Duration) async throws -> Void

    public init(connection: KubernetesConnection, logger: Logger = Logger(label: "peerpull.kubernetes"),
                sleep: @escaping @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) }) throws {
        self.connection = connection
        self.logger = logger
        self.sleep = sleep
        var tls = TLSConfiguration.makeClientConfiguration()
        if let ca = connection.caPEM {
            tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(ca.utf8)))
        }
        if let cert = connection.clientCertificatePEM, let key = connection.clientKeyPEM {
            tls.certificateChain = try NIOSSLCertificate.fromPEMBytes(Array(cert.utf8)).map { .certificate($0) }
            tls.privateKey = .privateKey(try NIOSSLPrivateKey(bytes: Array(key.utf8), format: .pem))
        }
        var config = HTTPClient.Configuration(tlsConfiguration: tls)
        config.timeout.connect = .seconds(5)
        http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: config)
    }

    public func shutdown() async { try? await http.shutdown() }

    public func get<T: Decodable>(_ path: String, timeout: Duration = .seconds(10)) async throws(KubernetesError) -> T {
        try decode(try await send(.GET, path, body: nil, timeout: timeout))
    }

    public func create<T: Codable>(_ path: String, _ object: T, timeout: Duration = .seconds(10)) async throws(KubernetesError) -> T {
        try decode(try await send(.POST, path, body: encode(object), timeout: timeout))
    }

    /// PUT: replaces the object; a stale `resourceVersion` is a 409 conflict.
    public func update<T: Codable>(_ path: String, _ object: T, timeout: Duration = .seconds(10)) async throws(KubernetesError) -> T {
        try decode(try await send(.PUT, path, body: encode(object), timeout: timeout))
    }



    /// DELETE; an object already gone (404) counts as deleted.
    public func delete(_ path: String, timeout: Duration = .seconds(10)) async throws(KubernetesError) {
        do { _ = try await send(.DELETE, path, body: nil, timeout: timeout) } catch {
            if case .status(404, _, _) = error { return }
            throw error
        }
    }

    public func list<T: Codable & Sendable>(_ path: String, timeout: Duration = .seconds(30)) async throws(KubernetesError) -> ObjectList<T> {
        try await get(path, timeout: timeout)
    }

    func encode<T: Encodable>(_ object: T) throws(KubernetesError) -> Data {
        do { return try JSONEncoder().encode(object) } catch { throw .decoding("cannot encode \(T.self): \(error)") }
    }

    func decode<T: Decodable>(_ data: Data) throws(KubernetesError) -> T {
        do { return try BoundedJSON.decode(T.self, from: data) } catch {
            throw .decoding("\(T.self): \(error) in \(String(decoding: data.prefix(300), as: UTF8.self))")
        }
    }

    func request(_ method: HTTPMethod, _ path: String, body: Data?, contentType: String) -> HTTPClientRequest {
        var request = HTTPClientRequest(url: connection.server + path)
        request.method = method
        request.headers.add(name: "Accept", value: "application/json")
        request.headers.add(name: "User-Agent", value: "peerpull-controller")
        if let token = connection.currentToken() { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let body {
            request.headers.add(name: "Content-Type", value: contentType)
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        return request
    }

    /// Sends with up to three attempts on transport errors and 5xx (never on 4xx), all
    /// within `timeout`; returns the body of a 2xx.
    public func send(_ method: HTTPMethod, _ path: String, body: Data?, contentType: String = "application/json", timeout: Duration) async throws(KubernetesError) -> Data {
        let deadline = ContinuousClock.now + timeout
        var attempt = 0
        while true {
            attempt += 1
            let remaining = deadline - ContinuousClock.now
            guard remaining > .zero else { throw .timedOut("\(method) \(path)") }
            let failure: KubernetesError
            do {
                let response = try await http.execute(request(method, path, body: body, contentType: contentType),
                                                      timeout: .nanoseconds(Int64(remaining.components.seconds) * 1_000_000_000 + remaining.components.attoseconds / 1_000_000_000))
                let data = Data(try await response.body.collect(upTo: 64 << 20).readableBytesView)
                if (200..<300).contains(response.status.code) { return data }
                let status = Self.status(data, code: Int(response.status.code))
                guard response.status.code >= 500 else { throw status }
                failure = status
            } catch let e as KubernetesError {
                throw e
            } catch let e as HTTPClientError where e == .deadlineExceeded {
                throw .timedOut("\(method) \(path)")
            } catch {
                failure = .transport("\(error)")
            }
            guard attempt < 3, ContinuousClock.now < deadline else { throw failure }
            logger.debug("retrying Kubernetes API call", metadata: ["path": "\(path)", "error": "\(failure)"])
            try? await sleep(.milliseconds(100 * attempt))
        }
    }

    static func status(_ data: Data, code: Int) -> KubernetesError {
        struct Status: Decodable { var reason: String?; var message: String? }
        let s = try? BoundedJSON.decode(Status.self, from: data)
        return .status(code: code, reason: s?.reason ?? "", message: s?.message ?? String(decoding: data.prefix(200), as: UTF8.self))
    }
}
