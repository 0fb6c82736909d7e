// swift-tools-version:6.1
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "PeerPull",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "peerpull", targets: ["PeerPullCLI"]),
        // Libraries for the fuzz package (Fuzz/), which is kept out of this build graph.
        .library(name: "OCI", targets: ["OCI"]),
        .library(name: "Settings", targets: ["Settings"]),
        .library(name: "OCIClient", targets: ["OCIClient"]),
        .library(name: "Kubernetes", targets: ["Kubernetes"]),
        .library(name: "Swarm", targets: ["Swarm"]),
        .library(name: "Agent", targets: ["Agent"]),
        .library(name: "Controller", targets: ["Controller"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto", "3.0.0"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-certificates", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1", from: "1.7.4"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        // containerd's config.toml for the agent's preflight (toml++ underneath).
        .package(url: "https://github.com/LebJe/TOMLKit", .upToNextMinor(from: "0.6.0")),
    ],
    targets: [
        // The core every module stands on: image references, digests, media types,
        // manifests, byte ranges, bounded JSON and the OCI image layout. No network.
        .target(
            name: "OCI",
            dependencies: [
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // Settings declared once (flag, YAML key, chart value, default, help, checks) and read
        // from flags and a strict YAML file; sizes as operators write them.
        .target(
            name: "Settings",
            dependencies: [
                "OCI",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: swiftSettings
        ),
        // The registry client (AsyncHTTPClient: token and Basic auth, redirects, Range,
        // streaming), pull-secret credentials and the image puller.
        .target(
            name: "OCIClient",
            dependencies: [
                "OCI",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            swiftSettings: swiftSettings
        ),
        // Generated CAs and certificates, and a TLS server identity from PEM: the agent's
        // endpoint and the webhook's serving certificate.
        .target(
            name: "Certificates",
            dependencies: [
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: swiftSettings
        ),
        // Cloud-specific registry discovery: ACR instance ids to registry domains
        // (Alibaba Cloud's ListInstanceEndpoint, signed with a RAM role's credentials).
        .target(
            name: "CloudRegistries",
            dependencies: [
                "OCI",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // Synthetic images (deterministic incompressible layers in an OCI layout) for the
        // demo, the benchmarks and the tests.
        .target(
            name: "SyntheticImages",
            dependencies: ["OCI", .product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: swiftSettings
        ),
        // A small Kubernetes client (get, create, update, list, watch, leases): the
        // controller's API access and the swarm's membership.
        .target(
            name: "Kubernetes",
            dependencies: [
                "OCI",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: swiftSettings
        ),
        // Pieces, the peer protocol, discovery and the download scheduler (issue: swarm).
        .target(name: "Swarm", dependencies: ["OCI", .product(name: "Crypto", package: "swift-crypto")], swiftSettings: swiftSettings),
        // The swarm's scheduler and coordinator, unchanged, on simulated links (`peerpull simulate`).
        .target(
            name: "SwarmSimulator",
            dependencies: ["Swarm", "OCI", .product(name: "HeapModule", package: "swift-collections")],
            swiftSettings: swiftSettings
        ),
        // The node agent: registry front end, verified cache, rate limit, authorization gate,
        // node set-up, and the service that runs them.
        .target(
            name: "Agent",
            dependencies: [
                "OCI", "OCIClient", "Certificates", "CloudRegistries", "Swarm", "Kubernetes", "Settings",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOCertificateReloading", package: "swift-nio-extras"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "TOMLKit", package: "TOMLKit"),
            ],
            swiftSettings: swiftSettings
        ),
        // The admission webhook, rewrite rules, pull-secret mirror, certificates, and the
        // service that runs them.
        .target(
            name: "Controller",
            dependencies: [
                "OCI", "Certificates", "CloudRegistries", "Kubernetes", "Settings",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCertificateReloading", package: "swift-nio-extras"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // Argument parsing and configuration only: every behaviour lives in the modules above.
        .executableTarget(
            name: "PeerPullCLI",
            dependencies: [
                "OCI", "OCIClient", "SyntheticImages", "Agent", "Controller", "Swarm", "SwarmSimulator", "Settings",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            swiftSettings: swiftSettings
        ),
        // Real registries, a JWT token server and loopback servers for tests and the demo.
        .target(
            name: "TestSupport",
            dependencies: [
                "OCI", "Certificates", "SyntheticImages",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: swiftSettings
        ),
        // Unit tests: no subprocess, no real registry; `swift test --filter` on these
        // targets takes seconds (docs/testing.md). One target per module.
        .testTarget(
            name: "OCITests",
            dependencies: ["OCI"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "OCIClientTests",
            dependencies: ["OCIClient", "OCI", "TestSupport", .product(name: "Hummingbird", package: "hummingbird"),
                           .product(name: "AsyncHTTPClient", package: "async-http-client")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CloudRegistriesTests",
            dependencies: ["CloudRegistries", "OCI", "TestSupport", .product(name: "Hummingbird", package: "hummingbird"),
                           .product(name: "AsyncHTTPClient", package: "async-http-client"), .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SyntheticImagesTests",
            dependencies: ["SyntheticImages", "OCI", "TestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "AgentTests",
            dependencies: ["Agent", "OCI", "OCIClient", "Kubernetes", "Swarm", "TestSupport",
                           .product(name: "Hummingbird", package: "hummingbird"),
                           .product(name: "HTTPTypes", package: "swift-http-types"),
                           .product(name: "AsyncHTTPClient", package: "async-http-client")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ControllerTests",
            dependencies: ["Controller", "Swarm", "OCI",
                           .product(name: "Hummingbird", package: "hummingbird"), .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "KubernetesTests",
            dependencies: ["Kubernetes", "TestSupport", .product(name: "Logging", package: "swift-log"),
                           .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOHTTP1", package: "swift-nio"),
                           .product(name: "NIOPosix", package: "swift-nio")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SwarmTests",
            dependencies: ["Swarm", "OCI"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SwarmSimulatorTests",
            dependencies: ["SwarmSimulator", "Swarm"],
            swiftSettings: swiftSettings
        ),
        // Integration tests: real registries, the peerpull binary, containerd, Helm's SDK,
        // retries waited out in real time.
        .testTarget(
            name: "OCIClientIntegrationTests",
            dependencies: ["OCIClient", "OCI", "SyntheticImages", "TestSupport", .product(name: "Hummingbird", package: "hummingbird"),
                           .product(name: "AsyncHTTPClient", package: "async-http-client")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "AgentIntegrationTests",
            dependencies: ["Agent", "OCI", "OCIClient", "Certificates", "Kubernetes", "Swarm", "SyntheticImages", "TestSupport",
                           .product(name: "Hummingbird", package: "hummingbird"),
                           .product(name: "AsyncHTTPClient", package: "async-http-client"), .product(name: "NIOHTTP1", package: "swift-nio")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ControllerIntegrationTests",
            dependencies: ["Controller", "Kubernetes", "Certificates", "TestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ChartTests",
            dependencies: ["TestSupport", .product(name: "Yams", package: "Yams")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "PeerPullCLITests",
            dependencies: ["OCI", "SyntheticImages", "TestSupport"],
            swiftSettings: swiftSettings
        ),
        // A real control plane (etcd, kube-apiserver): the controller end to end, the chart's
        // lifecycle, leader election and the reflector.
        .testTarget(
            name: "ClusterTests",
            dependencies: ["Controller", "Kubernetes", "Agent", "Swarm", "TestSupport", .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings
        ),
        // Several agent binaries at once, on loopback and across network namespaces: a phase
        // of their own, since their load would disturb timing-bound tests.
        .testTarget(
            name: "SwarmIntegrationTests",
            dependencies: ["Swarm", "OCI", "SyntheticImages", "TestSupport"],
            swiftSettings: swiftSettings
        ),
        // A real node (control plane, kubelet, containerd, the chart's pods): alone, last.
        .testTarget(
            name: "NodeTests",
            dependencies: ["OCI", "Certificates", "TestSupport"],
            swiftSettings: swiftSettings
        ),
    ]
)
