import Foundation
import Synchronization
import TOMLKit
#if canImport(Glibc)
import Glibc
#endif

/// Reads containerd config files with TOMLKit (toml++), each parsed again only when its
/// size, modification time or inode changes: TOMLKit 0.6.0 never frees a parsed document
/// (`TOMLTable` has no `deinit`), so parsing on every readiness probe would grow memory
/// without bound (docs/decisions/containerd-preflight.md).
public final class ContainerdConfigReader: Sendable {
    private struct Stamp: Equatable { var size: Int; var modified: Date; var inode: Int }
    private let parsed = Mutex<[String: (stamp: Stamp, file: ContainerdConfigFile)]>([:])

    public init() {}

    /// `path` and its imports as each containerd release reads them (see `ContainerdConfig`).
    public func load(_ path: String, hostRoot: String = "") throws(ContainerdConfigError) -> ContainerdConfig {
        try ContainerdConfig.load(path: path, hostRoot: hostRoot) { (seen: String) throws(ContainerdConfigError) -> ContainerdConfigFile? in
            try self.file(at: seen, named: String(seen.dropFirst(hostRoot.count)))
        }
    }

    /// The file at `seen` (its path here); `named`: as containerd names it, for messages.
    private func file(at seen: String, named: String) throws(ContainerdConfigError) -> ContainerdConfigFile? {
        let attributes: [FileAttributeKey: Any]
        do { attributes = try FileManager.default.attributesOfItem(atPath: seen) } catch {
            if !FileManager.default.fileExists(atPath: seen) { return nil }
            throw ContainerdConfigError(file: named, problem: "cannot be read: \(error.localizedDescription)")
        }
        let stamp = Stamp(size: (attributes[.size] as? NSNumber)?.intValue ?? -1,
                          modified: attributes[.modificationDate] as? Date ?? .distantPast,
                          inode: (attributes[.systemFileNumber] as? NSNumber)?.intValue ?? -1)
        if let cached = parsed.withLock({ $0[seen] }), cached.stamp == stamp { return cached.file }
        guard let data = FileManager.default.contents(atPath: seen) else {
            throw ContainerdConfigError(file: named, problem: "cannot be read (permissions?)")
        }
        let file = try Self.parse(String(decoding: data, as: UTF8.self), named: named)
        parsed.withLock { $0[seen] = (stamp, file) }
        return file
    }

    /// One file's version, imports, disabled plugins and plugin sections.
    static func parse(_ text: String, named: String) throws(ContainerdConfigError) -> ContainerdConfigFile {
        let root: TOMLTable
        do { root = try TOMLTable(string: text) } catch let e as TOMLParseError {
            throw ContainerdConfigError(file: named, problem: "is not valid TOML at line \(e.source.begin.line): \(e.description) (containerd does not start with it)")
        } catch {
            throw ContainerdConfigError(file: named, problem: "is not valid TOML: \(error)")
        }
        guard case .table(let top) = node(root) else { return ContainerdConfigFile() }
        func strings(_ key: String) throws(ContainerdConfigError) -> [String] {
            guard let value = top[key] else { return [] }
            let items: [TOMLNode]
            if case .array(let a) = value { items = a } else { items = [] }
            let list = items.compactMap(\.string)
            guard case .array = value, list.count == items.count else {
                throw ContainerdConfigError(file: named, problem: "\(key) must be a list of strings (containerd does not start with it)")
            }
            return list
        }
        var file = ContainerdConfigFile()
        if let version = top["version"] {
            guard case .integer(let v) = version else {
                throw ContainerdConfigError(file: named, problem: "version must be a whole number (containerd does not start with it)")
            }
            file.version = v
        }
        file.imports = try strings("imports")
        file.disabledPlugins = try strings("disabled_plugins")
        file.plugins = top["plugins"]?.table ?? [:]
        return file
    }

    private static func node(_ value: any TOMLValueConvertible) -> TOMLNode {
        switch value.type {
        case .table:
            guard let t = value.table else { return .other }
            var out: [String: TOMLNode] = [:]
            for key in t.keys { if let v = t[key] { out[key] = node(v) } }
            return .table(out)
        case .array: return .array(value.array.map { $0.map(node) } ?? [])
        case .string: return value.string.map(TOMLNode.string) ?? .other
        case .int: return value.int.map(TOMLNode.integer) ?? .other
        case .bool: return value.bool.map(TOMLNode.bool) ?? .other
        default: return .other
        }
    }
}

/// Go's `filepath.Glob`, as containerd expands an import, through glob(3).
enum Glob {
    /// The host paths that `pattern` (a host path) matches, looked up under `hostRoot`.
    static func expand(_ pattern: String, under hostRoot: String, importedBy parent: String) throws(ContainerdConfigError) -> [String] {
        let escapedRoot = hostRoot.reduce(into: "") { out, c in
            if "*?[]\\".contains(c) { out.append("\\") }
            out.append(c)
        }
        var g = glob_t()
        defer { globfree(&g) }
        // GLOB_PERIOD (1 << 7, a GNU extension): Go's `*` matches a leading dot too.
        let status = glob(escapedRoot + pattern, 1 << 7, nil, &g)
        switch status {
        case 0: break
        case GLOB_NOMATCH: return []
        default: throw ContainerdConfigError(file: parent, problem: "imports \"\(pattern)\", which cannot be expanded (glob error \(status))")
        }
        return (0..<Int(g.gl_pathc)).compactMap { i in
            g.gl_pathv[i].map { String(String(cString: $0).dropFirst(hostRoot.count)) }
        }
    }
}
