import Benchmark
import GatehouseConfig
import GatehouseCore
import GatehouseErrors
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Micro-benchmarks of the hot pure code (#10): what every request runs between the parser and the
/// socket. Each benchmark iteration runs its operation `scalingFactor` (1,000) times, so the table's
/// scaled figures are per operation: time, and mallocs, the figure that matters most here.
///
/// Run with `bench/micro.sh` (or `GATEHOUSE_BENCHMARKS=1 swift package --scratch-path .build-bench benchmark`).
let benchmarks: @Sendable () -> Void = {
    // Hardware counters are missing on many VMs (perf_event_open fails and the column reads 0), so
    // instructions are asked for only where bench/micro.sh found them working.
    var metrics: [BenchmarkMetric] = [.wallClock, .throughput, .mallocCountTotal]
    if getenv("GATEHOUSE_BENCH_INSTRUCTIONS") != nil { metrics.append(.instructions) }
    let perOperation = Benchmark.Configuration(
        metrics: metrics, timeUnits: .nanoseconds, warmupIterations: 10, scalingFactor: .kilo,
        maxDuration: .seconds(2), maxIterations: 10_000)

    routingBenchmarks(perOperation)
    headerBenchmarks(perOperation)
    balancerBenchmarks(perOperation, metrics: metrics)
    failureBenchmarks(perOperation)
    accessLogBenchmarks(perOperation)
}

// MARK: - Routing

func routingBenchmarks(_ configuration: Benchmark.Configuration) {
    let table = Fixtures.routeTable
    let lookups = Fixtures.lookups
    precondition(table.entries.count == 20, "the routing benchmark wants 20 routes")
    precondition(lookups.allSatisfy { table.match(host: $0.host, path: $0.path) != nil })

    Benchmark("routing: match, 20 routes, mixed lookups", configuration: configuration) { benchmark in
        for iteration in benchmark.scaledIterations {
            let lookup = lookups[iteration & 7]
            blackHole(table.match(host: lookup.host, path: lookup.path)?.index)
        }
    }
    Benchmark("routing: match, catch-all (20th route)", configuration: configuration) { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(table.match(host: "www.example.org", path: "/about")?.index)
        }
    }
}

// MARK: - Header rewriting

func headerBenchmarks(_ configuration: Benchmark.Configuration) {
    let request = Fixtures.browserRequest
    let response = Fixtures.originResponse
    let downstream = HeaderRewriter.Downstream(clientIP: "203.0.113.7", isTrusted: false, scheme: "https")

    Benchmark("headers: upstreamRequestHead, browser GET (13 fields)", configuration: configuration) { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(
                HeaderRewriter.upstreamRequestHead(
                    request, framing: .none, path: request.uri, host: "shop.example.com",
                    requestID: "6f1c0a9e3b7d4c21", downstream: downstream, gatewayName: "gatehouse"))
        }
    }
    Benchmark("headers: downstreamResponseHead, 200 (12 fields)", configuration: configuration) { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(
                HeaderRewriter.downstreamResponseHead(
                    response, requestID: "6f1c0a9e3b7d4c21", gatewayName: "gatehouse", proxyStatus: nil,
                    keepAlive: true, clientVersion: .http1_1))
        }
    }
}

// MARK: - Balancer picks

func balancerBenchmarks(_ configuration: Benchmark.Configuration, metrics: [BenchmarkMetric]) {
    /// A cluster's members as `ClusterMembership` makes them: the configured weight × 100.
    func members(_ clusterName: String) -> (Cluster.Balance, [BalancerMember]) {
        guard let cluster = Fixtures.configuration.clusters.first(where: { $0.name == clusterName }) else {
            fatalError("no cluster \(clusterName) in the benchmark configuration")
        }
        precondition(cluster.servers.count == 8, "the balancer benchmarks want 8 members")
        return (
            cluster.balance,
            cluster.servers.enumerated().map { index, server in
                BalancerMember(id: index, key: server.address.description, weight: server.weight * 100)
            }
        )
    }
    func table(_ clusterName: String) -> BalancerTable {
        let (policy, clusterMembers) = members(clusterName)
        return BalancerTable(policy: policy, members: clusterMembers)
    }
    let roundRobin = table("web")
    let weighted = table("api")
    let leastRequest = table("search")
    let consistentHash = table("carts")
    let random = BalancerTable(policy: .random, members: members("web").1)
    let cartMembers = members("carts").1
    // Requests in flight per member, for least_request's two loads.
    let loads = [3, 0, 7, 2, 2, 5, 1, 4]
    // Cart ids, hashed per pick as the data path hashes the `hash_on` cookie's value.
    let cartIDs = (0..<64).map { "c-\(48_213 + $0 * 7919)" }

    for (name, table) in [("round_robin", roundRobin), ("weighted_round_robin", weighted), ("random", random)] {
        Benchmark("balancer: \(name), 8 members", configuration: configuration) { benchmark in
            // A new cursor resets on its first pick, as a loop's does once per publication: one
            // reset per 1,000 picks here.
            var cursor = BalancerCursor()
            var generator = SplitMix64(seed: 0x6a7e_4f0d)
            for _ in benchmark.scaledIterations {
                blackHole(cursor.pick(in: table, hash: nil, load: { _ in 0 }, loopRandom: &generator))
            }
        }
    }
    Benchmark("balancer: least_request (P2C), 8 members", configuration: configuration) { benchmark in
        var cursor = BalancerCursor()
        var generator = SplitMix64(seed: 0x6a7e_4f0d)
        for _ in benchmark.scaledIterations {
            blackHole(cursor.pick(in: leastRequest, hash: nil, load: { loads[$0] }, loopRandom: &generator))
        }
    }
    Benchmark("balancer: consistent_hash (hash + Maglev), 8 members", configuration: configuration) { benchmark in
        var cursor = BalancerCursor()
        var generator = SplitMix64(seed: 0x6a7e_4f0d)
        for iteration in benchmark.scaledIterations {
            let hash = StableHash.hash(cartIDs[iteration & 63])
            blackHole(cursor.pick(in: consistentHash, hash: hash, load: { _ in 0 }, loopRandom: &generator))
        }
    }
    // Not per request: once per health change. Its own scale (one build per iteration).
    Benchmark(
        "balancer: Maglev table build (65,537 slots), 8 members",
        configuration: .init(metrics: metrics, timeUnits: .microseconds, warmupIterations: 2, maxDuration: .seconds(2))
    ) { benchmark in
        blackHole(BalancerTable(policy: .consistentHash, members: cartMembers))
    }
}

// MARK: - Error classification

func failureBenchmarks(_ configuration: Benchmark.Configuration) {
    let cases: [(name: String, error: any Error, phase: ProxyPhase, expected: ProxyStatusError)] = [
        ("connect refused (IOError)", IOError(errnoCode: ECONNREFUSED, reason: "connect"), .connect, .connectionRefused),
        ("response_header timeout", ExchangeTimeout.responseHeader, .awaitResponseHead, .connectionReadTimeout),
        ("connect timeout (ChannelError)", ChannelError.connectTimeout(.seconds(2)), .connect, .connectionTimeout),
        ("TLS name mismatch (NIOSSL)", NIOSSLExtraError.failedToValidateHostname, .connect, .tlsCertificateError),
    ]
    for (name, error, phase, expected) in cases {
        precondition(ProxyFailure.classify(error, phase: phase, nextHop: nil).type == expected, name)
        Benchmark("failure: classify \(name)", configuration: configuration) { benchmark in
            for _ in benchmark.scaledIterations {
                blackHole(ProxyFailure.classify(error, phase: phase, nextHop: "127.0.0.13:8080"))
            }
        }
    }
    let refused = ProxyFailure.classify(
        IOError(errnoCode: ECONNREFUSED, reason: "connect"), phase: .connect, nextHop: "127.0.0.13:8080")
    for exposeDetails in [false, true] {
        let label = exposeDetails ? "with next-hop and details" : "token only"
        Benchmark("failure: Proxy-Status header, \(label)", configuration: configuration) { benchmark in
            for _ in benchmark.scaledIterations {
                blackHole(ProxyStatusHeader.value(for: refused, gatewayName: "gatehouse", exposeDetails: exposeDetails))
            }
        }
    }
}

// MARK: - Access log

func accessLogBenchmarks(_ configuration: Benchmark.Configuration) {
    for (name, record) in [("200", Fixtures.successRecord), ("502 connection_refused", Fixtures.failureRecord)] {
        Benchmark("access log: JSON line, \(name)", configuration: configuration) { benchmark in
            for _ in benchmark.scaledIterations {
                blackHole(record.jsonLine())
            }
        }
    }
}
