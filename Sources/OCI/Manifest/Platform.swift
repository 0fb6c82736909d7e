/// The platform an image in an index is built for.
public struct Platform: Codable, Hashable, Sendable, CustomStringConvertible {
    public var architecture: String
    public var os: String
    public var variant: String?
    public var osVersion: String?
    public var osFeatures: [String]?

    enum CodingKeys: String, CodingKey {
        case architecture, os, variant
        case osVersion = "os.version"
        case osFeatures = "os.features"
    }

    public init(os: String, architecture: String, variant: String? = nil) {
        self.os = os
        self.architecture = architecture
        self.variant = variant
    }

    /// Parses `os/arch[/variant]`, e.g. `linux/arm64/v8`.
    public init?(parsing text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard (2...3).contains(parts.count), parts.allSatisfy({ !$0.isEmpty }) else { return nil }
        self.init(os: parts[0], architecture: parts[1], variant: parts.count == 3 ? parts[2] : nil)
    }

    /// The platform this process runs on, in OCI/Go naming.
    public static var host: Platform {
        #if arch(x86_64)
        let arch = "amd64"
        #elseif arch(arm64)
        let arch = "arm64"
        #elseif arch(arm)
        let arch = "arm"
        #elseif arch(s390x)
        let arch = "s390x"
        #elseif arch(powerpc64le)
        let arch = "ppc64le"
        #else
        let arch = "unknown"
        #endif
        #if os(Linux)
        return Platform(os: "linux", architecture: arch)
        #else
        return Platform(os: "darwin", architecture: arch)
        #endif
    }

    /// Whether an image built for `candidate` runs here. A requested variant must match;
    /// `arm64` without a variant means `v8`, as containerd's platform normaliser has it.
    public func matches(_ candidate: Platform) -> Bool {
        guard os == candidate.os, architecture == candidate.architecture else { return false }
        guard let variant else { return true }
        return Self.normalizedVariant(architecture, variant) == Self.normalizedVariant(candidate.architecture, candidate.variant)
    }

    private static func normalizedVariant(_ arch: String, _ variant: String?) -> String? {
        if arch == "arm64", variant == nil || variant == "v8" { return "v8" }
        return variant
    }

    public var description: String {
        [os, architecture, variant].compactMap { $0 }.joined(separator: "/")
    }
}
