import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL
import OCI

/// A client for the OCI distribution pull API that authenticates like containerd:
/// anonymous, Basic, or the Bearer token flow from `WWW-Authenticate`, with tokens
/// cached per scope; or a caller's `Authorization` passed through unchanged.
///
/// Blob bodies are streamed, never buffered. Redirects are followed by the HTTP client,
/// which drops `Authorization` when the redirect leaves the registry's origin.
public final class RegistryClient: Sendable {
    public let configuration: RegistryClientConfiguration
    let http: HTTPClient
    let tokens: TokenCache
    let logger: Logger
    let sleep: @Sendable (Duration) async throws -> Void

    public init(
        httpClient: HTTPClient,
        configuration: RegistryClientConfiguration = .init(),
        logger: Logger = Logger(label: "peerpull.registry"),
        now: @escaping @Sendable () -> ContinuousClock.Instant = { ContinuousClock.now },
        sleep: @escaping @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) }
    ) {
        self.http = httpClient
        self.configuration = configuration
        self.logger = logger
        self.tokens = TokenCache(now: now)
        self.sleep = sleep
    }

    /// An HTTP client set up the way registries need it: redirects followed (to
    /// storage hosts), no transparent decompression (blob bytes are what is hashed),
    /// a connect and an idle-read timeout.
    public static func makeHTTPClient(
        trustRootsPEMFile: String? = nil,
        connectTimeout: TimeAmount = .seconds(10),
        readTimeout: TimeAmount = .seconds(60)
    ) -> HTTPClient {
        var config = HTTPClient.Configuration(
            redirectConfiguration: .follow(max: 5, allowCycles: false),
            timeout: .init(connect: connectTimeout, read: readTimeout),
            decompression: .disabled
        )
        if let trustRootsPEMFile {
            // Trust the given CA in addition to the system roots (test registries, the agent's own CA).
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.additionalTrustRoots = [.file(trustRootsPEMFile)]
            config.tlsConfiguration = tls
        }
        config.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 16
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: config)
    }

    /// `https://host[:port]` or `http://…` for a registry domain; `docker.io` is served
    /// by `registry-1.docker.io`.
    public func baseURL(for domain: String) -> String {
        let host = domain == ImageReference.defaultDomain ? "registry-1.docker.io" : domain
        let scheme = configuration.plainHTTPRegistries.contains(domain) ? "http" : "https"
        return "\(scheme)://\(host)"
    }

    // MARK: Requests

    /// Sends one request to `/v2/<path>` with retries and authentication, and returns the
    /// response head with an unread body. 401 after authentication becomes `unauthorized`;
    /// every other status is returned for the caller to interpret.
    func send(
        _ method: HTTPMethod,
        domain: String,
        repository: Repository?,
        path: String,
        headers: HTTPHeaders = [:],
        authorization: RegistryAuthorization,
        timeout: Duration
    ) async throws(RegistryError) -> HTTPClientResponse {
        let url = baseURL(for: domain) + "/v2/" + path
        let scope = repository?.pullScope ?? ""
        let cacheKey = TokenCache.Key(domain: domain, scope: scope, identity: authorization.cacheIdentity)
        var authHeader: String?
        switch authorization {
        case .passThrough(let header): authHeader = header
        case .anonymous, .credentials: authHeader = await tokens.authorization(for: cacheKey)
        }

        var authenticated = false
        while true {
            let response = try await sendWithRetries(method, url: url, domain: domain, headers: headers, authorization: authHeader, timeout: timeout)
            guard response.status == .unauthorized else { return response }
            let challengeHeader = response.headers.first(name: "WWW-Authenticate")
            let detail = await Self.errorDetail(of: response)
            if case .passThrough = authorization {
                throw .unauthorized(registry: domain, repository: repository?.path, challenge: challengeHeader, detail: detail)
            }
            if authenticated {
                await tokens.remove(cacheKey)
                throw .unauthorized(registry: domain, repository: repository?.path, challenge: challengeHeader, detail: detail)
            }
            authenticated = true
            let challenges = AuthChallenge.parse(challengeHeader ?? "")
            if let bearer = challenges.first(where: { $0.scheme == "bearer" }) {
                let tokenScope = bearer.scope ?? scope
                let (token, lifetime) = try await fetchToken(challenge: bearer, scope: tokenScope, credentials: authorization.credentials, registry: domain)
                authHeader = "Bearer \(token)"
                await tokens.store(authHeader!, for: cacheKey, lifetime: lifetime)
            } else if challenges.contains(where: { $0.scheme == "basic" }), let credentials = authorization.credentials {
                authHeader = credentials.basicAuthorization
                await tokens.store(authHeader!, for: cacheKey, lifetime: nil)
            } else {
                throw .unauthorized(registry: domain, repository: repository?.path, challenge: challengeHeader, detail: detail ?? "no usable authentication challenge and no credentials")
            }
        }
    }

    private func sendWithRetries(
        _ method: HTTPMethod,
        url: String,
        domain: String,
        headers: HTTPHeaders,
        authorization: String?,
        timeout: Duration
    ) async throws(RegistryError) -> HTTPClientResponse {
        var request = HTTPClientRequest(url: url)
        request.method = method
        request.headers = headers
        request.headers.replaceOrAdd(name: "User-Agent", value: configuration.userAgent)
        if let authorization { request.headers.replaceOrAdd(name: "Authorization", value: authorization) }

        var attempt = 1
        while true {
            let outcome: Result<HTTPClientResponse, any Error>
            do {
                outcome = .success(try await http.execute(request, timeout: .nanoseconds(Int64(timeout.nanoseconds)), logger: logger))
            } catch {
                outcome = .failure(error)
            }
            switch outcome {
            case .success(let response) where RetryPolicy.isRetryable(status: Int(response.status.code)) && attempt < configuration.retry.maxAttempts:
                _ = try? await response.body.collect(upTo: 64 << 10)
                logger.debug("retrying after HTTP \(response.status.code)", metadata: ["url": "\(url)", "attempt": "\(attempt)"])
            case .success(let response):
                logger.debug("\(method) \(url) -> \(response.status.code)")
                return response
            case .failure(let error):
                if Task.isCancelled || error is CancellationError {
                    throw .transport(registry: domain, detail: "cancelled")
                }
                guard attempt < configuration.retry.maxAttempts else {
                    throw .transport(registry: domain, detail: "\(error) after \(attempt) attempt(s)")
                }
                logger.debug("retrying after \(error)", metadata: ["url": "\(url)", "attempt": "\(attempt)"])
            }
            do { try await sleep(configuration.retry.delay(afterAttempt: attempt)) } catch {
                throw .transport(registry: domain, detail: "cancelled")
            }
            attempt += 1
        }
    }

    /// The Bearer token flow of the distribution token spec: `GET realm?service=&scope=`,
    /// with Basic credentials when we have them, anonymous otherwise.
    private func fetchToken(
        challenge: AuthChallenge,
        scope: String,
        credentials: RegistryCredentials?,
        registry: String
    ) async throws(RegistryError) -> (String, Duration) {
        guard let realm = challenge.realm, var components = URLComponents(string: realm),
              components.scheme == "https" || components.scheme == "http"
        else {
            throw .invalidResponse(registry: registry, detail: "Bearer challenge without a usable realm: \(challenge.parameters)")
        }
        var items = components.queryItems ?? []
        if let service = challenge.service { items.append(URLQueryItem(name: "service", value: service)) }
        if !scope.isEmpty { items.append(URLQueryItem(name: "scope", value: scope)) }
        components.queryItems = items
        guard let url = components.string else {
            throw .invalidResponse(registry: registry, detail: "cannot build a token URL from realm \(realm)")
        }
        var request = HTTPClientRequest(url: url)
        request.headers.add(name: "User-Agent", value: configuration.userAgent)
        if let credentials { request.headers.add(name: "Authorization", value: credentials.basicAuthorization) }

        var attempt = 1
        while true {
            do {
                let response = try await http.execute(request, timeout: .nanoseconds(Int64(configuration.requestTimeout.nanoseconds)), logger: logger)
                let body = try await response.body.collect(upTo: 1 << 20)
                let status = Int(response.status.code)
                if status == 401 || status == 403 {
                    throw RegistryError.unauthorized(
                        registry: registry, repository: scope.split(separator: ":").dropFirst().first.map(String.init),
                        challenge: nil, detail: "token server \(realm) answered \(status)")
                }
                if RetryPolicy.isRetryable(status: status), attempt < configuration.retry.maxAttempts {
                    throw RetryableTokenError()
                }
                guard status == 200 else {
                    throw RegistryError.tokenRequestFailed(realm: realm, status: status, detail: OCIErrorBody.summary(of: Array(buffer: body)) ?? String(buffer: body).prefix(200).description)
                }
                struct TokenResponse: Decodable {
                    var token: String?
                    var access_token: String?
                    var expires_in: Int?
                }
                guard let decoded = try? BoundedJSON.decode(TokenResponse.self, from: Array(buffer: body)),
                      let token = decoded.token ?? decoded.access_token, !token.isEmpty
                else {
                    throw RegistryError.tokenRequestFailed(realm: realm, status: status, detail: "response holds no token")
                }
                // The token spec: expires_in defaults to 60 s and is never less than 60.
                return (token, .seconds(max(60, decoded.expires_in ?? 60)))
            } catch let error as RegistryError {
                throw error
            } catch {
                guard attempt < configuration.retry.maxAttempts else {
                    throw .tokenRequestFailed(realm: realm, status: nil, detail: "\(error)")
                }
            }
            do { try await sleep(configuration.retry.delay(afterAttempt: attempt)) } catch {
                throw .transport(registry: registry, detail: "cancelled")
            }
            attempt += 1
        }
    }

    private struct RetryableTokenError: Error {}

    /// `GET /v2/`: whether the registry speaks the distribution API, and whether it wants
    /// credentials. With `.passThrough`, a 401 comes back as `unauthorized` carrying the
    /// registry's challenge, for the caller to hand to its own client.
    public func ping(_ domain: String, authorization: RegistryAuthorization) async throws(RegistryError) -> Int {
        let response = try await send(.GET, domain: domain, repository: nil, path: "", authorization: authorization, timeout: configuration.requestTimeout)
        _ = await Self.errorDetail(of: response)
        return Int(response.status.code)
    }

    /// A short summary of an error response body (OCI error JSON where present).
    static func errorDetail(of response: HTTPClientResponse) async -> String? {
        guard let body = try? await response.body.collect(upTo: 64 << 10) else { return nil }
        let bytes = Array(buffer: body)
        return OCIErrorBody.summary(of: bytes)
    }
}

extension Duration {
    var nanoseconds: Int64 {
        let (s, atto) = components
        return s * 1_000_000_000 + atto / 1_000_000_000
    }
}
