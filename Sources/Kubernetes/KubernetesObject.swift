/// An object with `metadata`, as every watched kind has.
public protocol KubernetesObject: Codable, Sendable {
    var metadata: ObjectMeta { get }
}

extension Secret: KubernetesObject {}
extension Namespace: KubernetesObject {}
extension DaemonSet: KubernetesObject {}
