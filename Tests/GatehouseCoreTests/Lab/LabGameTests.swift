import GatehouseLab
import Testing

/// The maze's rules without sockets: the catalogue's shape, scoring, what fixes and what undoes a fix.
@Suite("lab: game rules")
struct LabGameTests {
    static func scenario(_ id: String) throws -> LabScenario {
        try #require(LabCatalogue.scenario(id))
    }

    @Test("the catalogue: at least eight scenarios, unique ids, every optimal path ends with a retry and holds one fixing move")
    func catalogue() {
        let all = LabCatalogue.all
        #expect(all.count >= 8)
        #expect(Set(all.map(\.id)).count == all.count)
        for scenario in all {
            #expect(scenario.optimalPath.last == .retryRequest, "\(scenario.id)")
            let fixing = scenario.optimalPath.filter { move in
                switch move {
                case .restartUpstream: return scenario.restart == .fixes
                case .edit(let index): return scenario.edits.indices.contains(index) && scenario.edits[index].effect == .fixes
                default: return false
                }
            }
            #expect(fixing.count == 1, "\(scenario.id): \(fixing)")
            #expect(scenario.edits.count >= 2, "\(scenario.id): a menu of one edit is no choice")
            #expect(scenario.edits.contains { $0.effect != .fixes }, "\(scenario.id) has no wrong edit")
            #expect(scenario.origins.first?.restartable == true, "\(scenario.id): the first origin is the upstream")
        }
    }

    @Test("every optimal path wins when its final request succeeds, in the optimal time", arguments: LabCatalogue.all.map(\.id))
    func optimalPathWins(id: String) throws {
        var game = LabGame(scenario: try Self.scenario(id))
        for move in game.scenario.optimalPath.dropLast() {
            #expect(game.play(move).status == .playing)
        }
        #expect(game.isFixed)
        let last = game.play(.retryRequest, requestSucceeded: true)
        #expect(last.status == .won)
        #expect(game.minutes == game.optimalMinutes)
        #expect(game.endScreen().contains("Congratulations"))
        #expect(game.endScreen().contains("Optimal path: " + game.scenario.optimalPath.map(\.notation).joined(separator: ",")))
        #expect(!game.allows(.readErrorLog), "a won game takes no more moves")
    }

    @Test("a request that succeeds while the cause is still there does not win")
    func luckyRequestDoesNotWin() throws {
        var game = LabGame(scenario: try Self.scenario("keepalive-race"))
        game.play(.restartUpstream)
        #expect(game.isHidden)
        #expect(!game.isFixed)
        let outcome = game.play(.retryRequest, requestSucceeded: true)
        #expect(outcome.status == .playing)
        #expect(game.luckySuccesses == 1)
        #expect(!game.isHidden, "the restart's relief lasts one request")
        #expect(game.play(.retryRequest, requestSucceeded: false).verdict == "Still failing.")
    }

    @Test("a later edit of the same setting undoes the fix; a worse edit costs extra")
    func laterEditUndoesFix() throws {
        var game = LabGame(scenario: try Self.scenario("slow-upstream"))
        game.play(.edit(0))
        #expect(game.isFixed)
        let worse = game.play(.edit(2))
        #expect(!game.isFixed)
        #expect(worse.minutes == LabMove.edit(2).minutes + LabGame.worsePenalty)
        game.play(.edit(1))
        #expect(!game.isFixed, "an edit of another setting does not bring the fix back")
        game.play(.edit(0))
        #expect(game.isFixed)
    }

    @Test("a restart fixes only where the cause is a stopped process; a restart in a rush makes it worse")
    func restarts() throws {
        var down = LabGame(scenario: try Self.scenario("upstream-down"))
        down.play(.restartUpstream)
        #expect(down.isFixed)
        var slow = LabGame(scenario: try Self.scenario("slow-upstream"))
        slow.play(.restartUpstream)
        #expect(!slow.isFixed)
        var spike = LabGame(scenario: try Self.scenario("traffic-spike"))
        #expect(spike.play(.restartUpstream).minutes == LabMove.restartUpstream.minutes + LabGame.worsePenalty)
    }

    @Test("giving up ends the game; waiting and the provider only cost time")
    func givingUp() throws {
        var game = LabGame(scenario: try Self.scenario("dns-gone"))
        game.play(.wait)
        game.play(.contactProvider)
        #expect(game.minutes == 40)
        #expect(!game.isFixed)
        #expect(game.play(.giveUp).status == .gaveUp)
        #expect(game.endScreen().hasPrefix("*** Game over"))
        #expect(game.play(.retryRequest, requestSucceeded: true).status == .gaveUp)
    }

    @Test("the move notation of --moves")
    func notation() {
        #expect(LabMove.parse("1", edits: 3) == .readErrorLog)
        #expect(LabMove.parse(" 9 ", edits: 3) == .retryRequest)
        #expect(LabMove.parse("6.2", edits: 3) == .edit(1))
        #expect(LabMove.parse("6.4", edits: 3) == nil)
        #expect(LabMove.parse("6", edits: 3) == nil, "an edit needs its number")
        #expect(LabMove.parse("x", edits: 3) == nil)
        for move in [LabMove.readErrorLog, .runDoctor, .checkConfig, .dashboard, .restartUpstream, .edit(2), .contactProvider, .wait, .retryRequest, .giveUp] {
            #expect(LabMove.parse(move.notation, edits: 3) == move)
        }
    }

    @Test("the cluster's settings: an edit replaces a value or adds it inside its section")
    func clusterEdits() {
        var cluster = LabCluster(
            servers: [.origin("app")], settings: [LabSetting("timeouts.connect", "1s"), LabSetting("retries.attempts", "1")])
        cluster.apply([.set("timeouts.response_header", "5s"), .set("retries.attempts", "3")])
        #expect(cluster.settings.map(\.path) == ["timeouts.connect", "timeouts.response_header", "retries.attempts"])
        #expect(cluster.value("retries.attempts") == "3")
        cluster.apply([.servers([.origin("other")])])
        #expect(cluster.servers == [.origin("other")])
    }
}
