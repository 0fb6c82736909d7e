/// `admission.k8s.io/v1` `AdmissionReview`, the parts a mutating webhook uses.
public struct AdmissionReview: Codable, Sendable {
    public var apiVersion: String
    public var kind: String
    public var request: AdmissionRequest?
    public var response: AdmissionResponse?

    public static let apiVersionV1 = "admission.k8s.io/v1"
}

public struct GroupVersionKind: Codable, Sendable, Equatable {
    public var group: String
    public var version: String
    public var kind: String
}

public struct AdmissionRequest: Codable, Sendable {
    public var uid: String
    public var kind: GroupVersionKind
    /// Absent for objects without a namespace; for pods, the namespace to trust (the
    /// object's own `metadata.namespace` may be empty at admission).
    public var namespace: String?
    public var name: String?
    public var operation: String
    public var dryRun: Bool?
    /// Kept undecoded: the webhook decodes a Pod only when `kind` says it is one.
    public var object: RawJSON?
}

public struct AdmissionResponse: Codable, Sendable, Equatable {
    public struct Status: Codable, Sendable, Equatable {
        public var code: Int
        public var message: String
    }
    public var uid: String
    public var allowed: Bool
    public var patchType: String?
    /// Base64 of the JSON Patch document.
    public var patch: String?
    public var warnings: [String]?
    public var status: Status?
}

/// A JSON value kept as its raw bytes for a later, typed decode.
public struct RawJSON: Codable, Sendable {
    public var value: JSONValue

    public init(from decoder: any Decoder) throws {
        value = try JSONValue(from: decoder)
    }

    public func encode(to encoder: any Encoder) throws {
        try value.encode(to: encoder)
    }
}

/// Any JSON value.
public enum JSONValue: Codable, Sendable, Equatable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let n = try? c.decode(Double.self) { self = .number(n) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([JSONValue].self) { self = .array(a) }
        else { self = .object(try c.decode([String: JSONValue].self)) }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .bool(let b): try c.encode(b)
        case .number(let n):
            if n.rounded() == n, abs(n) < 1e15 { try c.encode(Int64(n)) } else { try c.encode(n) }
        case .string(let s): try c.encode(s)
        case .array(let a): try c.encode(a)
        case .object(let o): try c.encode(o)
        }
    }
}
