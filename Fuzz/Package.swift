// swift-tools-version:6.1
// Fuzz targets for Sluice's decoders, kept out of the root package so that its build never
// carries sanitizer flags. Run Tools/fuzz.sh SECONDS from the repository root; it builds with
//   swift build -c release --sanitize fuzzer --sanitize address \
//       -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library -Xswiftc -DSLUICE_LIBFUZZER
// (README.md says why each flag is needed). A plain `swift build` gives a replayer that runs
// files through the same target and writes the seed corpus.
import PackageDescription

let package = Package(
    name: "SluiceFuzz",
    platforms: [.macOS(.v14)],
    dependencies: [
        // Named so that the product reference below does not depend on the checkout's folder name.
        .package(name: "sluice", path: ".."),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    ],
    targets: [
        // Hooks into the sanitizer allocator to find the largest single allocation per input.
        .target(name: "CFuzzSupport"),
        .executableTarget(
            name: "ProtocolFuzzer",
            dependencies: [
                .product(name: "KafkaProtocol", package: "sluice"),
                .product(name: "NIOCore", package: "swift-nio"),
                "CFuzzSupport",
            ]
        ),
    ]
)
