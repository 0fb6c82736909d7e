// swift-tools-version:6.1
import PackageDescription

// libFuzzer targets for every parser that reads the network or an operator's input.
// A package of its own so that the main build graph never sees it: `make fuzz`
// (scripts/fuzz.sh) builds it with `-sanitize=fuzzer,address` in `.build-fuzz`.
let package = Package(
    name: "PeerPullFuzz",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "PeerPull", path: ".."),
    ],
    targets: [
        // libFuzzer's `LLVMFuzzerRunDriver`, which the entry point calls, and `memfd_create`.
        .target(name: "CFuzzSupport"),
        // One executable; `FUZZ_TARGET` picks the parser.
        .executableTarget(
            name: "PeerPullFuzz",
            dependencies: [
                "CFuzzSupport",
                .product(name: "OCI", package: "PeerPull"),
                .product(name: "Settings", package: "PeerPull"),
                .product(name: "OCIClient", package: "PeerPull"),
                .product(name: "Kubernetes", package: "PeerPull"),
                .product(name: "Swarm", package: "PeerPull"),
                .product(name: "Agent", package: "PeerPull"),
                .product(name: "Controller", package: "PeerPull"),
            ],
            swiftSettings: [.enableUpcomingFeature("ExistentialAny"), .unsafeFlags(["-parse-as-library"])]
        ),
    ]
)
