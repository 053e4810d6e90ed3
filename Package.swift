// swift-tools-version:6.1
// Sluice: a Kafka-protocol event-streaming broker and client in Swift.
import PackageDescription

let package = Package(
    name: "sluice",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "KafkaProtocol", targets: ["KafkaProtocol"]),
        .library(name: "SluiceClient", targets: ["SluiceClient"]),
        .executable(name: "sluice", targets: ["sluice"]),
        .executable(name: "sluice-storage-tool", targets: ["sluice-storage-tool"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
    ],
    targets: [
        // System libraries, found through pkg-config (Debian: the -dev packages in the Makefile's `deps`).
        .systemLibrary(name: "CLiburing", path: "CSystemShims/CLiburing", pkgConfig: "liburing",
                       providers: [.apt(["liburing-dev"])]),
        .systemLibrary(name: "CLZ4", path: "CSystemShims/CLZ4", pkgConfig: "liblz4",
                       providers: [.apt(["liblz4-dev"])]),
        .systemLibrary(name: "CZstd", path: "CSystemShims/CZstd", pkgConfig: "libzstd",
                       providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CSnappy", path: "CSystemShims/CSnappy", pkgConfig: "snappy",
                       providers: [.apt(["libsnappy-dev"])]),
        .systemLibrary(name: "CZlib", path: "CSystemShims/CZlib", pkgConfig: "zlib",
                       providers: [.apt(["zlib1g-dev"])]),

        // Small C targets for what Swift cannot reach. Codecs and CRC-32C are shared with the
        // client; io_uring glue is broker-only so the client never links liburing.
        .target(name: "CSluiceCodecs", dependencies: ["CZlib"], path: "CSystemShims/CSluiceCodecs"),
        .target(name: "CSluiceUring", dependencies: ["CLiburing"], path: "CSystemShims/CSluiceUring",
                cSettings: [.define("_GNU_SOURCE")]),

        .target(
            name: "KafkaProtocol",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                "CSluiceCodecs", "CLZ4", "CZstd", "CSnappy", "CZlib",
            ],
            exclude: ["README.md"]
        ),

        .target(
            name: "SluiceStorage",
            dependencies: [
                "KafkaProtocol", "CSluiceUring",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            exclude: ["README.md"]
        ),

        .target(
            name: "SluiceCore",
            dependencies: [
                "KafkaProtocol", "SluiceStorage", "SluiceRaft", "SluiceSASL",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            exclude: ["README.md", "Configs/README.md", "Metadata/README.md", "Replication/README.md"]
        ),
        // The metadata quorum: a pull-based Raft core that takes no sockets, clock or disk, so
        // the broker and the deterministic simulator drive the same code.
        .target(
            name: "SluiceRaft",
            dependencies: ["KafkaProtocol", .product(name: "NIOCore", package: "swift-nio")],
            exclude: ["README.md"]
        ),
        // SASL mechanisms both sides speak (PLAIN, SCRAM-SHA-256/512): message syntax and the
        // SCRAM key arithmetic, over swift-crypto's hashes. No sockets, no clock.
        .target(
            name: "SluiceSASL",
            dependencies: [.product(name: "Crypto", package: "swift-crypto")],
            exclude: ["README.md"]
        ),
        // The client depends on the protocol and codecs only: no broker code, no liburing.
        .target(
            name: "SluiceClient",
            dependencies: [
                "KafkaProtocol", "SluiceSASL",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            exclude: ["README.md"]
        ),
        .target(
            name: "SluiceServer",
            dependencies: [
                "KafkaProtocol", "SluiceStorage", "SluiceCore", "SluiceRaft", "SluiceClient", "SluiceSASL", "CSluiceUring",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            exclude: ["README.md", "Quorum/README.md", "Replication/README.md"]
        ),
        .executableTarget(
            name: "sluice",
            dependencies: [
                "SluiceServer", "SluiceCore", "SluiceStorage", "KafkaProtocol", "SluiceClient", "SluiceSASL",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ]
        ),

        // Storage torture and benchmark helper: the crash-test child, the storage benchmark and
        // the machine-limits probe that `make bench` reuses.
        .executableTarget(
            name: "sluice-storage-tool",
            dependencies: [
                "SluiceStorage", "KafkaProtocol",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        .testTarget(
            name: "KafkaProtocolTests",
            dependencies: ["KafkaProtocol", .product(name: "NIOCore", package: "swift-nio"),
                           .product(name: "NIOEmbedded", package: "swift-nio")],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(name: "CSystemShimsTests", dependencies: ["CSluiceCodecs", "CSluiceUring"]),
        .testTarget(
            name: "SluiceServerTests",
            dependencies: [
                "SluiceServer", "SluiceCore", "SluiceStorage", "SluiceRaft", "KafkaProtocol",
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "SluiceClientTests",
            dependencies: [
                "SluiceClient", "KafkaProtocol",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                // Only to run a real broker in the test process; the library itself has no broker code.
                "SluiceServer", "SluiceCore",
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "SluiceCoreTests",
            dependencies: [
                "SluiceCore", "SluiceStorage", "KafkaProtocol",
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(name: "SluiceSASLTests", dependencies: ["SluiceSASL"]),
        .testTarget(
            name: "SluiceRaftTests",
            dependencies: ["SluiceRaft", "KafkaProtocol"]
        ),
        .testTarget(
            name: "SluiceStorageTests",
            dependencies: [
                "SluiceStorage", "KafkaProtocol",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
    ]
)
