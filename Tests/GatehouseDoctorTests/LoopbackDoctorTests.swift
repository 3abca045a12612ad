import GatehouseConfig
import GatehouseDoctor
import GatehouseErrors
import GatehouseOrigins
import Testing

/// `doctor` against loopback origins that fail at each hop: each yields the verdict the gateway would
/// report for live traffic (same token), and a healthy one exits 0.
@Suite("doctor against loopback origins", .timeLimit(.minutes(1)))
struct LoopbackDoctorTests {
    @Test("closed port → connection_refused at the tcp step")
    func refused() async throws {
        let report = try await withOrigin(.refuse) { origin in await diagnose(port: origin.port) }
        #expect(report.verdict.error == .connectionRefused, "\(report.dump)")
        #expect(report.verdict.step == "tcp")
        #expect(report.verdict.status == 502)
        #expect(report.step("tcp")?.outcome == .failed)
        #expect(report.step("http")?.outcome == .skipped)
        #expect(report.exitCode == 1)
        #expect(report.verdict.cause.contains("nothing listens"))
    }

    @Test("an origin that never answers, with a short timeout → connection_read_timeout")
    func hang() async throws {
        let report = try await withOrigin(.hang) { origin in
            await diagnose(port: origin.port, timeout: .milliseconds(500))
        }
        #expect(report.verdict.error == .connectionReadTimeout, "\(report.dump)")
        #expect(report.verdict.step == "http")
        #expect(report.verdict.status == 504)
        #expect(report.verdict.cause.contains("no response within 500 ms"))
    }

    @Test("reset before the response head → connection_terminated")
    func resetBeforeHead() async throws {
        let report = try await withOrigin(.resetBeforeHead) { origin in await diagnose(port: origin.port) }
        #expect(report.verdict.error == .connectionTerminated, "\(report.dump)")
        #expect(report.verdict.step == "http")
        #expect(report.verdict.cause.contains("reset"))
    }

    @Test("closed before the response head → connection_terminated, in nginx's words")
    func closeBeforeHead() async throws {
        let report = try await withOrigin(.closeBeforeHead) { origin in await diagnose(port: origin.port) }
        #expect(report.verdict.error == .connectionTerminated, "\(report.dump)")
        #expect(report.verdict.cause.contains("upstream prematurely closed connection while reading response header"))
    }

    @Test("a header line without a colon → http_protocol_error, named 'upstream sent invalid header'")
    func malformedHeader() async throws {
        let report = try await withOrigin(.malformedHeader) { origin in await diagnose(port: origin.port) }
        #expect(report.verdict.error == .httpProtocolError, "\(report.dump)")
        #expect(report.verdict.cause.contains("upstream sent invalid header"))
    }

    @Test("an invalid status line → http_protocol_error from the decoder, as for live traffic")
    func malformedStatusLine() async throws {
        let report = try await withOrigin(.malformedStatusLine) { origin in await diagnose(port: origin.port) }
        #expect(report.verdict.error == .httpProtocolError, "\(report.dump)")
        #expect(report.verdict.cause.contains("no valid HTTP/1.0 header"))
    }

    @Test("a header section over the cluster's limit → http_response_header_section_size, with both sizes")
    func oversizedHeader() async throws {
        let limits = clusterLimits(maxHeaderBytes: 4096)
        let report = try await withOrigin(.oversizedHeader(bytes: 8192)) { origin in
            await diagnose(port: origin.port, limits: limits)
        }
        #expect(report.verdict.error == .httpResponseHeaderSectionSize, "\(report.dump)")
        #expect(report.verdict.cause.contains("your limits.max_response_header_bytes is 4 KiB"))
        #expect(report.verdict.cause.contains("too big header"))
    }

    @Test("the same header section under Gatehouse's default limit (32 KiB) passes")
    func headerUnderDefaultLimit() async throws {
        let report = try await withOrigin(.oversizedHeader(bytes: 8192)) { origin in await diagnose(port: origin.port) }
        #expect(report.step("http")?.outcome == .ok, "\(report.dump)")
        #expect(report.verdict.healthy)
    }

    @Test("an invalid chunk size → http_response_transfer_coding")
    func badChunking() async throws {
        let report = try await withOrigin(.badChunking) { origin in await diagnose(port: origin.port) }
        #expect(report.verdict.error == .httpResponseTransferCoding, "\(report.dump)")
        #expect(report.verdict.cause.contains("invalid chunked response"))
    }

    @Test("a body cut short of its Content-Length → http_response_incomplete")
    func closeMidBody() async throws {
        let report = try await withOrigin(.closeMidBody) { origin in await diagnose(port: origin.port) }
        #expect(report.verdict.error == .httpResponseIncomplete, "\(report.dump)")
        #expect(report.verdict.cause.contains("Content-Length 1000, 100 bytes of body received"))
    }

    @Test("a reset in the middle of the body → connection_terminated, in nginx's readv() words")
    func resetMidBody() async throws {
        let report = try await withOrigin(.resetMidBody) { origin in await diagnose(port: origin.port) }
        #expect(report.verdict.error == .connectionTerminated, "\(report.dump)")
        #expect(report.verdict.cause.contains("readv() failed (104: Connection reset by peer)"))
    }

    @Test("a body that stalls, with a short timeout → connection_read_timeout after the head")
    func stallMidBody() async throws {
        let report = try await withOrigin(.stallMidBody) { origin in
            await diagnose(port: origin.port, timeout: .milliseconds(500))
        }
        #expect(report.verdict.error == .connectionReadTimeout, "\(report.dump)")
        #expect(report.verdict.cause.hasPrefix("the response stalled: 200 head and 100 B of body"))
    }

    @Test("first byte after 1.5 s with response_header 1 s → the timing finding that predicts 504")
    func slowFirstByte() async throws {
        let limits = clusterLimits(responseHeader: .seconds(1))
        let report = try await withOrigin(.slowHead(delay: .milliseconds(1500))) { origin in
            await diagnose(port: origin.port, limits: limits)
        }
        #expect(report.step("http")?.outcome == .ok, "\(report.dump)")
        #expect(report.verdict.step == "timing")
        #expect(report.verdict.error == .connectionReadTimeout)
        #expect(report.verdict.status == 504)
        #expect(report.verdict.cause.hasPrefix("first byte after "))
        #expect(report.verdict.cause.contains("your response_header timeout is 1 s: this produces 504 connection_read_timeout"))
        #expect(report.exitCode == 1)
    }

    // 3 s rather than 1: the probe's request must leave before the upstream's idle close of the
    // connection the TCP step opened, and a loaded machine can hold it for over a second.
    @Test("upstream closing idle connections after 3 s with pool idle_timeout 30 s → the keep-alive race")
    func keepAliveRace() async throws {
        let limits = clusterLimits(idleTimeout: .seconds(30))
        let report = try await withOrigin(.keepAliveClose(after: .seconds(3))) { origin in
            await diagnose(port: origin.port, limits: limits, keepAliveMax: .seconds(10))
        }
        #expect(report.verdict.step == "keepalive", "\(report.dump)")
        #expect(report.verdict.error == .connectionTerminated)
        // The close time itself (about 3 s, measured from the end of the response) is not asserted: timing.
        #expect(report.verdict.cause.hasPrefix("upstream closes idle connections after "))
        #expect(report.verdict.cause.contains(" s; your pool idle_timeout is 30 s: the keep-alive race — set idle_timeout below "))
        #expect(report.verdict.fix.hasPrefix("Set pool.idle_timeout below "))
        #expect(report.verdict.fix.contains("in cluster 'app'"))
    }

    @Test("the same upstream with pool idle_timeout below its close time: no race")
    func keepAliveNoRace() async throws {
        let limits = clusterLimits(idleTimeout: .milliseconds(300))
        let report = try await withOrigin(.keepAliveClose(after: .seconds(3))) { origin in
            await diagnose(port: origin.port, limits: limits, keepAliveMax: .seconds(10))
        }
        #expect(report.step("keepalive")?.outcome == .ok, "\(report.dump)")
        #expect(report.verdict.healthy)
    }

    @Test("a name under .invalid → dns_error (NXDOMAIN), later hops not run")
    func dnsFailure() async throws {
        let report = await diagnose(port: 80, host: "gatehouse-doctor-test.invalid")
        #expect(report.verdict.error == .dnsError, "\(report.dump)")
        #expect(report.verdict.step == "dns")
        #expect(report.verdict.cause.contains("NXDOMAIN"))
        #expect(report.steps.filter { $0.outcome == .skipped }.map(\.name) == ["tcp", "http", "timing", "keepalive"])
    }

    @Test("a healthy origin → every hop ✓ and exit code 0")
    func healthy() async throws {
        let report = try await withOrigin(.healthy(name: "alpha")) { origin in
            await diagnose(port: origin.port, host: "localhost", keepAliveMax: .milliseconds(200))
        }
        #expect(report.verdict.healthy, "\(report.dump)")
        #expect(report.exitCode == 0)
        #expect(report.steps.map(\.name) == ["dns", "tcp", "http", "timing", "keepalive"])
        // `.ok` everywhere, unless this machine also maps localhost to ::1 (nothing listens there: a warning).
        #expect(report.steps.allSatisfy { $0.outcome == .ok || ($0.name == "tcp" && $0.outcome == .warning) }, "\(report.dump)")
        #expect(report.step("http")?.detail.hasPrefix("200 OK") == true)
        #expect(report.step("keepalive")?.detail.contains("kept the idle connection open") == true)
    }

    @Test("-c mode: every server of every cluster, each against its own cluster's limits")
    func configurationMode() async throws {
        try await withOrigin(.healthy(name: "a")) { healthy in
            try await withOrigin(.refuse) { refused in
                let yaml = """
                    listeners:
                      - name: public
                        address: 127.0.0.1:0
                    clusters:
                      good:
                        servers:
                          - address: 127.0.0.1:\(healthy.port)
                      bad:
                        servers:
                          - address: 127.0.0.1:\(refused.port)
                    routes:
                      - match: { path_prefix: / }
                        cluster: good
                    """
                let arguments = DoctorArguments(
                    target: nil, configPath: "test.yaml", keepAliveMax: "0", checkLocalResources: false)
                let plan = try DoctorPlanner.plan(arguments) { path throws(ConfigurationError) in
                    try ConfigurationLoader.parse(yaml: yaml, file: path)
                }
                #expect(plan.probes.map(\.server) == ["good/127.0.0.1:\(healthy.port)", "bad/127.0.0.1:\(refused.port)"])
                let report = await DoctorRunner.run(plan)
                #expect(report.serverVerdicts.count == 2)
                #expect(report.serverVerdicts.first?.verdict.healthy == true, "\(report.dump)")
                #expect(report.serverVerdicts.last?.verdict.error == .connectionRefused)
                #expect(report.verdict.error == .connectionRefused)
                #expect(report.verdict.server == "bad/127.0.0.1:\(refused.port)")
                #expect(report.exitCode == 1)
            }
        }
    }

    @Test("local resources run and are reported even when the target fails")
    func localResourcesAlwaysRun() async throws {
        let report = try await withOrigin(.refuse) { origin in
            let probe = ProbeTarget(scheme: .http, host: "127.0.0.1", port: origin.port)
            return await DoctorRunner.run(DoctorPlan(target: probe.url, probes: [probe], keepAliveMax: .zero))
        }
        #expect(report.verdict.error == .connectionRefused)
        let local = report.steps.filter { $0.server == nil && LocalResources.stepNames.contains($0.name) }
        #expect(local.map(\.name) == LocalResources.stepNames, "\(report.dump)")
    }
}
