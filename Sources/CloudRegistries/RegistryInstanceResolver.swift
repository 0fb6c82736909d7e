import Foundation
import Logging
import OCI

/// Turns a registry instance id into the registry domains that serve it.
public protocol RegistryInstanceResolver: Sendable {
    func domains(of instanceID: String) async throws -> [String]
}

/// True for an ACR Enterprise Edition instance id (`cri-` and letters or digits).
public func isACRInstanceID(_ s: String) -> Bool {
    s.hasPrefix("cri-") && s.count > 4 && s.dropFirst(4).allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber) }
}

/// The first entry of a settings list that is neither a registry domain nor an ACR
/// instance id, said as a problem; nil when every entry is one (the agent's origins and the
/// controller's registries).
@Sendable public func registryListProblem(_ registries: [String]) -> String? {
    for r in registries where !isACRInstanceID(r) {
        guard (try? ImageReference(parsing: "\(r)/x")).map({ $0.domain.lowercased() == r.lowercased() }) == true else {
            return "\"\(r.prefix(100))\" is neither a registry domain (registry.example.com, host:5000) nor an ACR instance id (cri-…)"
        }
    }
    return nil
}

/// Resolves `registryInstances`: domains pass as they are; ACR instance ids (`cri-…`) go
/// through the resolver. An id that cannot be resolved is reported and skipped, so one
/// bad id never stops the others from being accelerated.
public func resolveRegistryInstances(_ instances: [String], resolver: (any RegistryInstanceResolver)?, logger: Logger) async -> [String] {
    var domains: [String] = []
    for item in instances {
        guard isACRInstanceID(item) else {
            domains.append(item.lowercased())
            continue
        }
        guard let resolver else {
            logger.error("cannot resolve an ACR instance id without controller.ramRole; it is skipped", metadata: [
                "instance": "\(item)", "fix": "set the RAM role (controller.ramRole) or name the instance's registry domain"])
            continue
        }
        do {
            let found = try await resolver.domains(of: item)
            logger.info("resolved ACR instance", metadata: ["instance": "\(item)", "domains": "\(found)"])
            domains += found.map { $0.lowercased() }
        } catch {
            logger.error("cannot resolve ACR instance id; it is skipped, the others keep working", metadata: [
                "instance": "\(item)", "error": "\(error)"])
        }
    }
    return Array(Set(domains)).sorted()
}
