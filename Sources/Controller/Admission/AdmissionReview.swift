/// `admission.k8s.io/v1` `AdmissionReview`, the parts a mutating webhook uses.
public struct AdmissionReview: Codable, Sendable {
    public var apiVersion: String
    public var kind: String
    public var request: AdmissionRequest?
    public var response: AdmissionResponse?

    public static let apiVersionV1 = "admission.k8s.io/v1"
}
