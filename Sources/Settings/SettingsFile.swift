import Foundation
import OCI
import Yams

/// A YAML settings file read strictly: an unknown field or a value of the wrong type is
/// an error naming the field, because a silently ignored typo (`cachesize:`) is worse than
/// a refusal. (swift-configuration's getters turn a wrongly typed value into nil or the
/// default, which is why it is not used for this.)
public struct SettingsFile {
    public let path: String
    private let map: [String: Any]

    /// Reads `path`, refusing fields not in `known`.
    public init(path: String, known: [String]) throws(SettingError) {
        self.path = path
        guard let data = FileManager.default.contents(atPath: path) else { throw SettingError(field: "--config", problem: "cannot read \(path)") }
        let text = String(decoding: data, as: UTF8.self)
        let root: Node?
        do { root = try Yams.compose(yaml: text) } catch {
            throw SettingError(field: "--config", problem: "\(path) is not valid YAML: \(error)")
        }
        guard let root else { map = [:]; return }
        try Self.checkConstructible(root, path: path)
        let loaded = root.any
        guard let map = loaded as? [String: Any] else {
            throw SettingError(field: "(top level)", problem: "\(path) must be a map of settings, not a \(type(of: loaded))")
        }
        if let unknown = map.keys.sorted().first(where: { !known.contains($0) }) {
            throw SettingError(field: unknown, problem: "is not a known setting (known: \(known.joined(separator: ", ")))")
        }
        self.map = map
    }

    /// At most this many values in a file (aliases counted each time they are used).
    public static let maximumNodes = 10_000

    /// Refuses what Yams cannot turn into values without trapping: a key that is a list or
    /// a map (`? [a]: b` traps its `String.construct(from:)!`, found by the `settings` fuzz
    /// target); and aliases nested into more values than any settings file has, which
    /// would take exponential time to construct.
    private static func checkConstructible(_ root: Node, path: String) throws(SettingError) {
        var pending = [root]
        var visited = 0
        while let node = pending.popLast() {
            visited += 1
            guard visited <= maximumNodes else {
                throw SettingError(field: "--config", problem: "\(path) holds more than \(maximumNodes) values")
            }
            switch node {
            case .mapping(let mapping):
                for (key, value) in mapping {
                    guard case .scalar = key else {
                        let line = key.mark.map { " at line \($0.line)" } ?? ""
                        throw SettingError(field: "--config", problem: "\(path) has a key\(line) that is a list or a map, not a name")
                    }
                    pending.append(value)
                }
            case .sequence(let sequence):
                pending.append(contentsOf: sequence)
            case .scalar, .alias:
                break
            }
        }
    }

    /// A text setting; numbers and booleans are taken as written.
    public func string(_ field: String) throws(SettingError) -> String? {
        guard let v = map[field], !(v is NSNull) else { return nil }
        if let s = v as? String { return s }
        // YAML reads `512` or `true` as numbers and booleans; text settings accept them as written.
        if v is Int || v is Double || v is Bool { return "\(v)" }
        throw SettingError(field: field, problem: "expected a string in \(path)")
    }

    /// A whole-number setting (`512`, not `"512"`).
    public func int(_ field: String) throws(SettingError) -> Int? {
        guard let v = map[field], !(v is NSNull) else { return nil }
        guard let i = v as? Int, !(v is Bool) else { throw SettingError(field: field, problem: "expected a whole number in \(path)") }
        return i
    }

    /// A list of strings; a comma-separated string is accepted too (the chart's form).
    public func strings(_ field: String) throws(SettingError) -> [String]? {
        guard let v = map[field], !(v is NSNull) else { return nil }
        if let s = v as? String { return SettingValue.split(s) }
        guard let list = v as? [Any], list.allSatisfy({ $0 is String }) else {
            throw SettingError(field: field, problem: "expected a list of strings in \(path)")
        }
        return list.compactMap { $0 as? String }
    }
}
