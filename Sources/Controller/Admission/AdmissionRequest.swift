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
