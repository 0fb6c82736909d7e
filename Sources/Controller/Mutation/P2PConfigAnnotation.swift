import Foundation
import OCI

/// The value of the `k8s.aliyun.com/p2p-config` annotation: what the controller did to
/// the pod, as compact JSON with sorted keys. The product never documented its own
/// format; this one records enough to explain and to undo a rewrite:
///
/// ```json
/// {"controller":"0.1.0","images":{"containers/app":"reg.example.com/team/app:v1"},
///  "port":65001,"secrets":{"regcred":"acr-credential-regcred-p2p"},"version":1}
/// ```
/// - `images`: `containers/<name>`, `initContainers/<name>` or `volumes/<name>` (an image
///   volume) → the original image;
/// - `secrets`: original pull secret → the copy added to `imagePullSecrets`;
/// - `port`: the agent port the P2P hosts use; `controller`: the version that wrote it.
public struct P2PConfigAnnotation: Codable, Sendable, Equatable {
    public var version = 1
    public var controller: String
    public var port: Int
    public var images: [String: String] = [:]
    public var secrets: [String: String] = [:]

    public init(controller: String, port: Int) {
        self.controller = controller
        self.port = port
    }

    public init?(json: String) {
        guard let v = try? BoundedJSON.decode(Self.self, from: Data(json.utf8)) else { return nil }
        self = v
    }

    public var json: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }
}
