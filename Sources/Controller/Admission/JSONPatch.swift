/// One RFC 6902 operation. The controller only adds and replaces.
public struct JSONPatchOperation: Codable, Sendable, Equatable {
    public var op: String
    public var path: String
    public var value: JSONValue

    public static func add(_ path: String, _ value: JSONValue) -> Self { .init(op: "add", path: path, value: value) }
    public static func replace(_ path: String, _ value: JSONValue) -> Self { .init(op: "replace", path: path, value: value) }

    /// A JSON Pointer segment (RFC 6901): `~` as `~0`, `/` as `~1`, so the annotation key
    /// `k8s.aliyun.com/p2p-config` becomes `k8s.aliyun.com~1p2p-config`.
    public static func escape(_ segment: String) -> String {
        segment.replacingOccurrences(of: "~", with: "~0").replacingOccurrences(of: "/", with: "~1")
    }
}
