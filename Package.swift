// swift-tools-version:6.2
import PackageDescription

/// Every target builds in Swift 6 mode with the same upcoming features (Hummingbird's set).
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "gatehouse",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "gatehouse", targets: ["GatehouseCLI"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.3"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
    ],
    targets: [
        // The RFC 9209 vocabulary: the one error type everything else derives from. No dependencies.
        .target(name: "GatehouseErrors", swiftSettings: swiftSettings),
        // YAML → validated, immutable configuration with file:line:col diagnostics.
        .target(
            name: "GatehouseConfig",
            dependencies: ["GatehouseErrors", .product(name: "Yams", package: "Yams")],
            swiftSettings: swiftSettings),
        // The SwiftNIO data path.
        .target(
            name: "GatehouseCore",
            dependencies: [
                "GatehouseErrors", "GatehouseConfig",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings),
        // Loopback origins that behave or misbehave on purpose: the demo's upstreams and the tests' peers.
        .target(
            name: "GatehouseOrigins",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings),
        // `gatehouse explain`: reads nginx, HAProxy and Gatehouse logs. Pure log reading.
        .target(name: "GatehouseExplain", dependencies: ["GatehouseErrors"], swiftSettings: swiftSettings),
        // `gatehouse doctor`: diagnoses a URL or upstream hop by hop (DNS, TCP, TLS, HTTP, limits, local resources).
        .target(
            name: "GatehouseDoctor",
            dependencies: [
                "GatehouseErrors", "GatehouseConfig", "GatehouseCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: swiftSettings),
        // `gatehouse monitor`: synthetic probes with doctor's hops, UP/DOWN with retries, /metrics, webhooks.
        .target(
            name: "GatehouseMonitor",
            dependencies: [
                "GatehouseErrors", "GatehouseConfig", "GatehouseCore", "GatehouseDoctor",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings),
        .executableTarget(
            name: "GatehouseCLI",
            dependencies: [
                "GatehouseCore", "GatehouseConfig", "GatehouseErrors", "GatehouseOrigins", "GatehouseExplain",
                "GatehouseDoctor", "GatehouseMonitor",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "GatehouseConfigTests",
            dependencies: ["GatehouseConfig", .product(name: "Yams", package: "Yams")],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "GatehouseCoreTests",
            dependencies: [
                "GatehouseCore", "GatehouseConfig", "GatehouseOrigins",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "GatehouseExplainTests", dependencies: ["GatehouseExplain"],
            resources: [], swiftSettings: swiftSettings),
        .testTarget(
            name: "GatehouseDoctorTests",
            dependencies: [
                "GatehouseDoctor", "GatehouseConfig", "GatehouseErrors", "GatehouseOrigins",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "GatehouseMonitorTests",
            dependencies: [
                "GatehouseMonitor", "GatehouseDoctor", "GatehouseConfig", "GatehouseErrors", "GatehouseCore",
                "GatehouseOrigins",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings),
    ]
)

// libFuzzer entry point for the two HTTP/1.1 parsers (docs/hardening.md), built only when asked
// for, because it needs the fuzzer runtime:
//   GATEHOUSE_LIBFUZZER=1 swift build --product gatehouse-fuzz -Xswiftc -sanitize=fuzzer
//   .build/debug/gatehouse-fuzz -max_total_time=600 Fuzz/corpus
if Context.environment["GATEHOUSE_LIBFUZZER"] != nil {
    package.products.append(.executable(name: "gatehouse-fuzz", targets: ["GatehouseFuzz"]))
    package.targets.append(
        .executableTarget(
            name: "GatehouseFuzz",
            dependencies: [
                "GatehouseCore", "GatehouseConfig",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Fuzz/GatehouseFuzz",
            swiftSettings: swiftSettings))
}
