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
        .package(url: "https://github.com/apple/swift-nio-http2.git", from: "1.46.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        // Observability (#7): metrics API + Prometheus exposition, tracing API + OTLP/HTTP export
        // (gRPC left out: it would double the build), incidents kept in SQLite, webhooks over HTTP.
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-distributed-tracing.git", from: "1.7.3"),
        .package(url: "https://github.com/swift-otel/swift-otel.git", from: "1.6.0", traits: ["OTLPHTTP"]),
        // Already in the graph through swift-otel; named so the tracing export can own its Service.
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/vapor/sqlite-nio.git", from: "1.13.2"),
    ],
    targets: [
        // The RFC 9209 vocabulary: the one error type everything else derives from. No dependencies.
        .target(name: "GatehouseErrors", swiftSettings: swiftSettings),
        // YAML → validated, immutable configuration with file:line:col diagnostics.
        .target(
            name: "GatehouseConfig",
            dependencies: [
                "GatehouseErrors", .product(name: "Yams", package: "Yams"),
                // Certificates and keys are loaded and checked with the file, so `check` reports them.
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: swiftSettings),
        // The SwiftNIO data path.
        .target(
            name: "GatehouseCore",
            dependencies: [
                "GatehouseErrors", "GatehouseConfig",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Instrumentation", package: "swift-distributed-tracing"),
            ],
            swiftSettings: swiftSettings),
        // Export of the data path's spans over OTLP/HTTP (swift-otel), set up by the CLI.
        .target(
            name: "GatehouseTracing",
            dependencies: [
                "GatehouseCore", "GatehouseConfig",
                .product(name: "OTel", package: "swift-otel"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings),
        // Error history and incidents that outlive a restart (SQLite), and their webhook delivery.
        .target(
            name: "GatehouseIncidents",
            dependencies: [
                "GatehouseCore", "GatehouseConfig", "GatehouseErrors",
                .product(name: "SQLiteNIO", package: "sqlite-nio"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
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
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
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
                "GatehouseErrors", "GatehouseConfig", "GatehouseCore", "GatehouseDoctor", "GatehouseIncidents",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings),
        // `gatehouse lab`: the troubleshooting maze, every scenario a real gateway and real upstreams.
        .target(
            name: "GatehouseLab",
            dependencies: [
                "GatehouseCore", "GatehouseConfig", "GatehouseErrors", "GatehouseDoctor", "GatehouseOrigins",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings),
        .executableTarget(
            name: "GatehouseCLI",
            dependencies: [
                "GatehouseCore", "GatehouseConfig", "GatehouseErrors", "GatehouseOrigins", "GatehouseExplain",
                "GatehouseDoctor", "GatehouseMonitor", "GatehouseTracing", "GatehouseIncidents", "GatehouseLab",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "GatehouseConfigTests",
            dependencies: ["GatehouseConfig", .product(name: "Yams", package: "Yams")],
            exclude: ["Fixtures"],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "GatehouseCoreTests",
            dependencies: [
                "GatehouseCore", "GatehouseConfig", "GatehouseOrigins", "GatehouseTracing", "GatehouseIncidents",
                "GatehouseLab",
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "GatehouseExplainTests", dependencies: ["GatehouseExplain"],
            resources: [], swiftSettings: swiftSettings),
        .testTarget(
            name: "GatehouseDoctorTests",
            dependencies: [
                "GatehouseDoctor", "GatehouseConfig", "GatehouseErrors", "GatehouseOrigins", "GatehouseCore",
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

// Micro-benchmarks of the hot pure code (routing, header rewriting, balancer picks, error
// classification, access-log lines) with ordo-one/benchmark, built only when asked for so that CI
// and `swift test` never fetch or build it (bench/micro.sh sets the variable):
//   GATEHOUSE_BENCHMARKS=1 swift package --scratch-path .build-bench benchmark
// MallocInterposer only: its default RuntimeInterposer trait needs a package this machine lacks.
if Context.environment["GATEHOUSE_BENCHMARKS"] != nil {
    package.dependencies.append(
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]))
    package.targets.append(
        .executableTarget(
            name: "GatehouseBenchmarks",
            dependencies: [
                "GatehouseCore", "GatehouseConfig", "GatehouseErrors",
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            path: "Benchmarks/GatehouseBenchmarks",
            swiftSettings: swiftSettings,
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]))
}
