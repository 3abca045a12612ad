import GatehouseCore
import GatehouseErrors

/// The dashboard's Lab tab: one game at a time, played through the admin API.
///
/// - `GET /admin/lab`: the scenarios and the game under way (or null).
/// - `POST /admin/lab/start/ID`: stops the game under way, starts scenario ID (its own gateway and
///   upstreams on loopback, as `gatehouse lab ID`).
/// - `POST /admin/lab/move/N` (`1`…`9`, `0`, `6.N`): plays a move for real.
/// - `POST /admin/lab/stop`: ends the game and stops what it started.
public actor LabDashboardProvider: AdminLabProvider {
    private var session: LabSession?
    private var starting = false

    public init() {}

    public func handle(method: String, rest: [String]) async -> AdminAnswer {
        let action = rest.first ?? ""
        let known = (rest.isEmpty) || (rest.count == 1 && action == "stop") || (rest.count == 2 && (action == "start" || action == "move"))
        guard known else {
            return Self.error(404, "not found: GET /admin/lab, POST /admin/lab/start/ID, /admin/lab/move/N, /admin/lab/stop")
        }
        if rest.isEmpty {
            guard method == "GET" else { return Self.error(405, "use GET /admin/lab") }
            return AdminAnswer(status: 200, json: await self.state())
        }
        guard method == "POST" else { return Self.error(405, "use POST /admin/lab/\(action)") }
        switch action {
        case "start":
            let id = rest[1]
            guard let scenario = LabCatalogue.scenario(id) else {
                return Self.error(404, "no scenario '\(id)' (scenarios: \(LabCatalogue.all.map(\.id).joined(separator: ", ")))")
            }
            guard !self.starting else { return Self.error(409, "a scenario is starting") }
            self.starting = true
            defer { self.starting = false }
            await self.shutdown()
            do {
                self.session = try await LabSession.start(scenario)
            } catch {
                return Self.error(500, "cannot start the scenario: \(error)")
            }
            return AdminAnswer(status: 200, json: await self.state())
        case "move":
            guard let session = self.session else { return Self.error(409, "no game: start a scenario first") }
            let game = await session.game
            guard let move = LabMove.parse(rest[1], edits: game.scenario.edits.count) else {
                return Self.error(400, "'\(rest[1])' is not a move: 1-9, 0, or 6.N for an edit")
            }
            guard game.allows(move) else { return Self.error(409, "the game is over: start a scenario again") }
            await session.play(move)
            return AdminAnswer(status: 200, json: await self.state())
        default:
            await self.shutdown()
            return AdminAnswer(status: 200, json: await self.state())
        }
    }

    /// Stops the game under way (when the admin server stops).
    public func shutdown() async {
        if let old = self.session {
            self.session = nil
            await old.stop()
        }
    }

    static func error(_ status: Int, _ message: String) -> AdminAnswer {
        AdminAnswer(status: status, json: "{\"error\":\(JSONText.quoted(message))}\n")
    }

    private func state() async -> String {
        let q = JSONText.quoted
        var json = "{\"scenarios\":["
        json += LabCatalogue.all.map { "{\"id\":\(q($0.id)),\"title\":\(q($0.title))}" }.joined(separator: ",")
        json += "],\"menu\":["
        json += LabMove.menu.map { "{\"number\":\($0.number),\"title\":\(q($0.title))}" }.joined(separator: ",")
        json += "],\"game\":"
        guard let session = self.session else { return json + "null}\n" }
        let game = await session.game
        let status: String
        switch game.status {
        case .playing: status = "playing"
        case .won: status = "won"
        case .gaveUp: status = "gave_up"
        }
        json += "{\"scenario\":{\"id\":\(q(game.scenario.id)),\"title\":\(q(game.scenario.title))}"
        json += ",\"status\":\"\(status)\",\"minutes\":\(game.minutes)"
        json += ",\"gateway\":\(q(await session.runtime.gatewayBase)),\"admin\":\(q(await session.runtime.adminBase))"
        json += ",\"opening\":\(q(await session.opening))"
        json += ",\"edits\":[" + (await session.editLabels()).map(q).joined(separator: ",") + "]"
        json += ",\"steps\":["
        json += await session.steps.map { step in
            "{\"number\":\(step.number),\"move\":\(q(step.move.notation)),\"title\":\(q(step.title)),\"output\":\(q(step.output))"
                + ",\"verdict\":\(q(step.verdict)),\"minutes\":\(step.minutes),\"total_minutes\":\(step.totalMinutes)}"
        }.joined(separator: ",")
        json += "],\"end\":" + (game.status == .playing ? "null" : q(await session.endScreen()))
        return json + "}}\n"
    }
}
