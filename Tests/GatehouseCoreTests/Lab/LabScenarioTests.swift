import GatehouseLab
import Testing

/// Every scenario played for real: a gateway from a real YAML file, real upstreams on loopback,
/// the real tools. Serialized: each scenario has its own timing (a quiet moment, a slow app, a
/// spike), and ten of them at once on two cores would measure the machine, not the game.
@Suite("lab: scenarios played for real", .serialized, .timeLimit(.minutes(3)))
struct LabScenarioTests {
    /// Starts the scenario, runs `body`, always stops everything the scenario started.
    static func withSession(_ id: String, _ body: (LabSession) async throws -> Void) async throws {
        let scenario = try #require(LabCatalogue.scenario(id))
        let session = try await LabSession.start(scenario)
        do {
            try await body(session)
        } catch {
            await session.stop()
            throw error
        }
        await session.stop()
    }

    @Test("the symptom is real and the optimal moves win", arguments: LabCatalogue.all.map(\.id))
    func optimalPathWins(id: String) async throws {
        try await Self.withSession(id) { session in
            #expect(await session.symptomSucceeded == false, "the opening request must show the fault")
            for move in await session.game.scenario.optimalPath {
                await session.play(move)
            }
            let transcript = await session.transcript()
            #expect(await session.game.status == .won, "\(transcript)")
            #expect(transcript.contains("*** Congratulations! You fixed it. ***"))
            #expect(transcript.contains("The real-world fix:"))
            #expect(!transcript.contains("{origin:"), "every placeholder is filled with a real address")
        }
    }

    @Test("upstream-down: wrong edits change nothing; the log names the cause")
    func wrongMovesDoNotFix() async throws {
        try await Self.withSession("upstream-down") { session in
            let log = await session.play(.readErrorLog)
            #expect(log.output.contains("proxy_status.error=connection_refused"))
            let edit = await session.play(.edit(0))
            #expect(edit.output.contains("\"reloaded\":true"))
            #expect(edit.output.contains("+9:       connect: 10s") || edit.output.contains("connect: 10s"))
            let retry = await session.play(.retryRequest)
            #expect(retry.output.contains("HTTP/1.1 502 Bad Gateway"))
            #expect(retry.output.contains("error=connection_refused"))
            #expect(retry.status == .playing)
            #expect(await session.play(.giveUp).status == .gaveUp)
            #expect(await session.endScreen().hasPrefix("*** Game over"))
        }
    }

    @Test("cert-expired: doctor names the expiry; turning verification off answers 200 but fixes nothing")
    func certificateExpired() async throws {
        try await Self.withSession("cert-expired") { session in
            let doctor = await session.play(.runDoctor)
            #expect(doctor.output.contains("certificate expired: CN=localhost expired on 2020-02-01"), "\(doctor.output)")
            #expect(doctor.output.contains("(tls_certificate_error)"), "\(doctor.output)")
            let insecure = await session.play(.edit(0))
            #expect(insecure.output.contains("verify: false"), "\(insecure.output)")
            let lucky = await session.play(.retryRequest)
            #expect(lucky.output.contains("HTTP/1.1 200 OK"), "\(lucky.output)")
            #expect(lucky.status == .playing)
            #expect(lucky.verdict.contains("nothing was fixed"))
        }
    }

    @Test("keepalive-race: a restart hides the race for one request, then it comes back")
    func restartHidesTheRace() async throws {
        try await Self.withSession("keepalive-race") { session in
            await session.play(.restartUpstream)
            let lucky = await session.play(.retryRequest)
            #expect(lucky.output.contains("HTTP/1.1 200 OK"), "\(lucky.output)")
            #expect(lucky.status == .playing)
            #expect(lucky.verdict.contains("nothing was fixed"))
            let again = await session.play(.retryRequest)
            #expect(again.output.contains("HTTP/1.1 502 Bad Gateway"), "\(again.output)")
            #expect(again.output.contains("error=connection_terminated"))
            // Retries do not save a POST whose body was not held.
            await session.play(.edit(1))
            #expect(await session.play(.retryRequest).output.contains("HTTP/1.1 502 Bad Gateway"))
            await session.play(.edit(0))
            #expect(await session.play(.retryRequest).status == .won)
        }
    }

    @Test("slow-upstream: a shorter timeout makes it worse, the longer one fixes it; doctor and check see the timing")
    func slowUpstream() async throws {
        try await Self.withSession("slow-upstream") { session in
            let doctor = await session.play(.runDoctor)
            #expect(doctor.output.contains("gatehouse doctor 127.0.0.1:"))
            #expect(doctor.output.contains("connection_read_timeout"), "\(doctor.output)")
            let check = await session.play(.checkConfig)
            #expect(check.output.contains("syntax is ok"))
            let worse = await session.play(.edit(2))
            #expect(worse.minutes == LabMove.edit(2).minutes + LabGame.worsePenalty)
            #expect(await session.play(.retryRequest).output.contains("HTTP/1.1 504 Gateway Timeout"))
            await session.play(.edit(0))
            #expect(await session.play(.retryRequest).status == .won)
        }
    }

    @Test("all-unhealthy: the dashboard shows why the servers are out")
    func dashboardShowsWhy() async throws {
        try await Self.withSession("all-unhealthy") { session in
            let dashboard = await session.play(.dashboard)
            #expect(dashboard.output.contains("0 of 2 servers taking traffic"), "\(dashboard.output)")
            #expect(dashboard.output.contains("unhealthy"))
            #expect(dashboard.output.contains("Dashboard: http://127.0.0.1:"))
            await session.play(.restartUpstream)
            #expect(await session.play(.retryRequest).output.contains("HTTP/1.1 503"))
        }
    }

    @Test("traffic-spike: restarting the upstream in the rush cuts off the requests in flight")
    func restartInTheRush() async throws {
        try await Self.withSession("traffic-spike") { session in
            let restart = await session.play(.restartUpstream)
            #expect(restart.output.contains("visitors' requests in flight during the restart got: "), "\(restart.output)")
            // Which visitors lose depends on timing: those cut off may be retried once the app is
            // back (200) or not (502); those beyond max_requests are shed (503). Never all 200.
            let line = restart.output.split(separator: "\n").last.map(String.init) ?? ""
            #expect(line.contains("502") || line.contains("503"), "\(restart.output)")
            #expect(restart.minutes == LabMove.restartUpstream.minutes + LabGame.worsePenalty)
            #expect(await session.play(.retryRequest).output.contains("error=connection_limit_reached"))
        }
    }
}
