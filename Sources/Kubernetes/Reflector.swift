import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import OCI

/// Keeps a handler in step with a collection: list, then watch from the list's
/// `resourceVersion` with bookmarks; re-list when the server says the version is gone
/// (410); back off and resume on any other failure. Runs until its task is cancelled.
public struct Reflector<Object: KubernetesObject>: Sendable {
    public enum Event: Sendable {
        /// The full collection, after a (re-)list.
        case replaced([Object])
        case upserted(Object)
        case deleted(Object)
    }

    let client: KubernetesClient
    /// A collection path, e.g. `/api/v1/namespaces` (query parameters allowed).
    let path: String
    let logger: Logger
    /// The wait before retrying after a failure (injected: tests see the backoff without
    /// waiting it out).
    let sleep: @Sendable (Duration) async throws -> Void

    public init(client: KubernetesClient, path: String, logger: Logger,
                sleep: @escaping @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) }) {
        self.client = client
        self.path = path
        self.logger = logger
        self.sleep = sleep
    }

    public func run(_ handle: @Sendable (Event) async -> Void) async {
        await run(untilNotFound: false, handle)
    }

    /// As `run`, but returns when the server answers 404 for the collection: it does not
    /// serve it (an API version it dropped, or a group it never had), so the caller can
    /// find out what it serves instead of listing in vain for ever.
    public func runUntilNotFound(_ handle: @Sendable (Event) async -> Void) async {
        await run(untilNotFound: true, handle)
    }

    private func run(untilNotFound: Bool, _ handle: @Sendable (Event) async -> Void) async {
        var backoff = Duration.milliseconds(200)
        while !Task.isCancelled {
            do {
                let (items, listVersion) = try await listAll()
                await handle(.replaced(items))
                var version = listVersion
                backoff = .milliseconds(200)
                while !Task.isCancelled {
                    version = try await watch(from: version, handle)
                }
            } catch {
                if case .status(410, _, _) = error {
                    logger.debug("watch expired; listing again", metadata: ["path": "\(path)"])
                    continue
                }
                if untilNotFound, error.code == 404 {
                    logger.warning("the API server does not serve this collection (404)", metadata: ["path": "\(path)", "error": "\(error)"])
                    return
                }
                logger.warning("watch failed; retrying", metadata: ["path": "\(path)", "error": "\(error)", "in": "\(backoff)"])
                do { try await sleep(backoff) } catch { return }
                backoff = min(backoff * 2, .seconds(30))
            }
        }
    }

    /// Lists in pages of `pageSize`, so no one response holds the whole collection; an
    /// expired continue token (410) sends the caller back to a fresh list.
    private func listAll() async throws(KubernetesError) -> ([Object], String) {
        var items: [Object] = []
        var token: String?
        var version = ""
        let separator = path.contains("?") ? "&" : "?"
        repeat {
            var url = "\(path)\(separator)limit=\(Self.pageSize)"
            if let token { url += "&continue=" + (token.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? token) }
            let page: ObjectList<Object> = try await client.list(url)
            items += page.items
            version = page.metadata.resourceVersion ?? version
            token = page.metadata.continue.flatMap { $0.isEmpty ? nil : $0 }
        } while token != nil
        return (items, version)
    }

    static var pageSize: Int { 500 }

    /// A watch line is decoded twice from its bytes: its type, then its object as that type says.
    private struct EventType: Decodable { var type: String }
    private struct ObjectEvent<T: Decodable>: Decodable { var object: T }
    private struct StatusBody: Decodable { var code: Int? }
    private struct Bookmark: Decodable { var metadata: ObjectMeta }
    /// etcd holds objects of at most 1.5 MiB by default; a watch event is one object.
    static var maximumEventBytes: Int { 16 << 20 }

    /// One watch request; returns the last resourceVersion seen when the server ends it.
    private func watch(from version: String, _ handle: @Sendable (Event) async -> Void) async throws(KubernetesError) -> String {
        let separator = path.contains("?") ? "&" : "?"
        let url = "\(path)\(separator)watch=1&allowWatchBookmarks=true&timeoutSeconds=300&resourceVersion=\(version)"
        var last = version
        do {
            let response = try await client.http.execute(client.request(.GET, url, body: nil, contentType: ""), timeout: .seconds(330))
            guard response.status.code == 200 else {
                let body = try await response.body.collect(upTo: 1 << 20)
                throw KubernetesClient.status(Data(body.readableBytesView), code: Int(response.status.code))
            }
            var pending = Data()
            for try await chunk in response.body {
                pending.append(contentsOf: chunk.readableBytesView)
                while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                    let line = Data(pending[pending.startIndex..<newline])
                    pending = Data(pending[pending.index(after: newline)...])
                    guard !line.isEmpty else { continue }
                    try BoundedJSON.check(line, maximumBytes: Self.maximumEventBytes)
                    let decoder = JSONDecoder()
                    let type = try decoder.decode(EventType.self, from: line).type
                    switch type {
                    case "ERROR":
                        let code = (try? decoder.decode(ObjectEvent<StatusBody>.self, from: line))?.object.code ?? 500
                        throw KubernetesError.status(code: code, reason: "WatchError", message: String(decoding: line.prefix(300), as: UTF8.self))
                    case "BOOKMARK":
                        if let rv = (try? decoder.decode(ObjectEvent<Bookmark>.self, from: line))?.object.metadata.resourceVersion { last = rv }
                    default:
                        let object = try decoder.decode(ObjectEvent<Object>.self, from: line).object
                        if let rv = object.metadata.resourceVersion { last = rv }
                        await handle(type == "DELETED" ? .deleted(object) : .upserted(object))
                    }
                }
                // An event without its end: the API server caps objects far below this.
                if pending.count > Self.maximumEventBytes {
                    throw KubernetesError.decoding("watch \(path): an event is larger than \(Self.maximumEventBytes) bytes")
                }
            }
            return last
        } catch let e as KubernetesError {
            throw e
        } catch {
            throw .transport("watch \(path): \(error)")
        }
    }

}
