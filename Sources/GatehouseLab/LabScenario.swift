import GatehouseOrigins
/// One broken world of `gatehouse lab`: what runs, what the player sees, which moves help, and what
/// the fix is in the real world. Plain data: a scenario is added to ``LabCatalogue`` as one more value
/// (the runtime builds whatever it describes; the game plays whatever it lists).
public struct LabScenario: Sendable, Hashable, Identifiable {
    /// The name on the command line (`gatehouse lab keepalive-race`).
    public var id: String
    /// One line for `--list`.
    public var title: String
    /// The page the player opens the game with (the symptom itself is a real request, shown after it).
    public var story: String
    /// The upstream processes, by name; the first one is "the upstream" of doctor and restart.
    public var origins: [LabOrigin]
    /// The cluster `shop` of the planted configuration.
    public var cluster: LabCluster
    /// The request the player's site gets (and the player retries).
    public var request: LabRequest
    /// The choices of "Edit a setting": each is a concrete change of the YAML file.
    public var edits: [LabEdit]
    /// What restarting the upstream does in this world.
    public var restart: LabEffect
    /// Said after a restart (why it helped or not), shown at once: restarting is a visible action.
    public var restartNote: String
    /// What the hosting provider answers.
    public var providerReply: String
    /// The moves of a shortest winning game.
    public var optimalPath: [LabMove]
    /// The real-world fix: the knob in Gatehouse, nginx and HAProxy (from CAUSES.md).
    public var realWorldFix: String

    public init(
        id: String, title: String, story: String, origins: [LabOrigin], cluster: LabCluster, request: LabRequest,
        edits: [LabEdit], restart: LabEffect, restartNote: String, providerReply: String, optimalPath: [LabMove],
        realWorldFix: String
    ) {
        self.id = id
        self.title = title
        self.story = story
        self.origins = origins
        self.cluster = cluster
        self.request = request
        self.edits = edits
        self.restart = restart
        self.restartNote = restartNote
        self.providerReply = providerReply
        self.optimalPath = optimalPath
        self.realWorldFix = realWorldFix
    }
}

/// An upstream process of a scenario.
public struct LabOrigin: Sendable, Hashable {
    public var name: String
    /// What it does when the scenario starts.
    public var behavior: LabBehavior
    /// What it does after "Restart the upstream" (the same, unless a restart changes something).
    public var afterRestart: LabBehavior
    /// Whether "Restart the upstream" restarts this one (the app, not a neighbour service).
    public var restartable: Bool

    public init(_ name: String, _ behavior: LabBehavior, afterRestart: LabBehavior? = nil, restartable: Bool = true) {
        self.name = name
        self.behavior = behavior
        self.afterRestart = afterRestart ?? behavior
        self.restartable = restartable
    }
}

/// What a lab upstream does; mapped onto GatehouseOrigins' loopback origins, except the keep-alive race.
public enum LabBehavior: Sendable, Hashable {
    /// The healthy sample app.
    case healthy
    /// The process is down: its port refuses connections.
    case down
    /// Every request reaches the app this long after it arrived.
    case slow(milliseconds: Int)
    /// Answers, then dies mid-body (Content-Length 1000, 100 bytes, FIN).
    case crashMidBody
    /// Answers with a header section this many bytes long.
    case oversizedHeader(bytes: Int)
    /// Something that is not HTTP (another service's port): a status line that is not one.
    case notHTTP
    /// An app whose keep-alive timeout is `idleMilliseconds`: a request arriving on a connection idle
    /// that long is dropped unanswered (its idle timer fired as the request came in); the app itself
    /// closes idle connections only `lazyCloseMilliseconds` after their last response. The window
    /// between the two is the race, widened on purpose as in the captured corpus.
    case keepAliveRace(idleMilliseconds: Int, lazyCloseMilliseconds: Int)
    /// HTTPS with this certificate of the scenario's own PKI (made with `openssl` when it starts);
    /// `{pki:ca}` in a setting's value is the file of the CA that signed it.
    case tls(TestPKI.Leaf)
}

/// A server address in the planted configuration, resolved by the runtime once ports are known.
public enum LabAddress: Sendable, Hashable {
    /// 127.0.0.1 and the port of the origin with this name.
    case origin(String)
    /// A host name (e.g. under `.invalid`, which never resolves) with the port of the named origin.
    case named(host: String, port: String)
}

/// One YAML setting under the cluster, as a dotted path (`timeouts.response_header`) and its value.
public struct LabSetting: Sendable, Hashable {
    public var path: String
    public var value: String

    public init(_ path: String, _ value: String) {
        self.path = path
        self.value = value
    }
}

/// The planted cluster.
public struct LabCluster: Sendable, Hashable {
    public var servers: [LabAddress]
    /// In file order; consecutive settings sharing a section (`timeouts.`) are written under one key.
    public var settings: [LabSetting]

    public init(servers: [LabAddress], settings: [LabSetting]) {
        self.servers = servers
        self.settings = settings
    }

    /// A setting's current value.
    public func value(_ path: String) -> String? {
        self.settings.first { $0.path == path }?.value
    }

    /// Applies an edit's changes.
    public mutating func apply(_ changes: [LabChange]) {
        for change in changes {
            switch change {
            case .set(let path, let value):
                if let index = self.settings.firstIndex(where: { $0.path == path }) {
                    self.settings[index].value = value
                } else {
                    // After the others of its section, so the section stays one block.
                    let section = path.split(separator: ".").first.map(String.init) ?? path
                    let last = self.settings.lastIndex { $0.path.split(separator: ".").first.map(String.init) == section }
                    self.settings.insert(LabSetting(path, value), at: last.map { $0 + 1 } ?? self.settings.count)
                }
            case .servers(let servers):
                self.servers = servers
            }
        }
    }
}

/// One change an edit makes to the file.
public enum LabChange: Sendable, Hashable {
    case set(String, String)
    case servers([LabAddress])

    /// The setting this change writes (what a later change of the same setting overrides).
    public var key: String {
        switch self {
        case .set(let path, _): return path
        case .servers: return "servers"
        }
    }
}

/// A choice of "Edit a setting".
public struct LabEdit: Sendable, Hashable {
    /// What the menu says, e.g. `timeouts.response_header: 1s → 5s`.
    public var label: String
    public var changes: [LabChange]
    public var effect: LabEffect

    public init(_ label: String, _ changes: [LabChange], _ effect: LabEffect) {
        self.label = label
        self.changes = changes
        self.effect = effect
    }
}

/// What a move does to the fault.
public enum LabEffect: Sendable, Hashable {
    /// Removes the cause.
    case fixes
    /// Changes nothing that matters.
    case noEffect
    /// Makes the next request or two succeed without removing the cause.
    case hidesForAWhile
    /// Makes things worse (costs extra time).
    case worse
}

/// The request of a scenario.
public struct LabRequest: Sendable, Hashable {
    public var method: String
    public var path: String
    public var body: String?
    /// Other visitors' requests in flight at the same time (a traffic spike), all to `path`.
    public var concurrentVisitors: Int
    /// Before the request, the connection the gateway would reuse sits idle this long (a quiet
    /// moment on the site), after a visitor's `GET /` that puts it in the pool.
    public var quietMilliseconds: Int?

    public init(
        _ method: String = "GET", _ path: String = "/", body: String? = nil, concurrentVisitors: Int = 0,
        quietMilliseconds: Int? = nil
    ) {
        self.method = method
        self.path = path
        self.body = body
        self.concurrentVisitors = concurrentVisitors
        self.quietMilliseconds = quietMilliseconds
    }

    /// `curl` as the player would type it.
    public func curl(base: String) -> String {
        var line = "curl -i"
        if self.method != "GET" { line += " -X \(self.method)" }
        if let body { line += " --data '\(body)'" }
        return line + " \(base)\(self.path)"
    }
}

/// A move of the maze. The numbers are the menu's (the same in every scenario).
public enum LabMove: Sendable, Hashable {
    case readErrorLog
    case runDoctor
    case checkConfig
    case dashboard
    case restartUpstream
    /// "Edit a setting", choice `index` (0-based) of the scenario's edits.
    case edit(Int)
    case contactProvider
    case wait
    case retryRequest
    case giveUp

    /// The main menu, in order; "Edit a setting…" opens the scenario's edits.
    public static let menu: [(number: Int, title: String)] = [
        (1, "Read the error log"),
        (2, "Run doctor on the upstream"),
        (3, "Check the config (gatehouse check --probe)"),
        (4, "Look at the dashboard"),
        (5, "Restart the upstream"),
        (6, "Edit a setting…"),
        (7, "Contact the hosting provider"),
        (8, "Wait 10 minutes"),
        (9, "Retry the request"),
        (0, "Give up"),
    ]

    /// Simulated minutes the move takes.
    public var minutes: Int {
        switch self {
        case .readErrorLog: return 2
        case .runDoctor: return 3
        case .checkConfig: return 2
        case .dashboard: return 1
        case .restartUpstream: return 5
        case .edit: return 4
        case .contactProvider: return 30
        case .wait: return 10
        case .retryRequest: return 1
        case .giveUp: return 0
        }
    }

    /// The move's notation in scripts: `1`…`9`, `0`, and `6.N` for the N-th edit (1-based).
    public var notation: String {
        switch self {
        case .readErrorLog: return "1"
        case .runDoctor: return "2"
        case .checkConfig: return "3"
        case .dashboard: return "4"
        case .restartUpstream: return "5"
        case .edit(let index): return "6.\(index + 1)"
        case .contactProvider: return "7"
        case .wait: return "8"
        case .retryRequest: return "9"
        case .giveUp: return "0"
        }
    }

    /// Parses one move of `--moves`: `1`…`9`, `0`, `6.N`; nil when it is none of them (or `6` alone).
    public static func parse(_ text: some StringProtocol, edits: Int) -> LabMove? {
        let text = text.trimmingCharacters(in: " ")
        if text.hasPrefix("6.") {
            guard let number = Int(text.dropFirst(2)), (1...max(edits, 1)).contains(number), edits > 0 else { return nil }
            return .edit(number - 1)
        }
        switch text {
        case "1": return .readErrorLog
        case "2": return .runDoctor
        case "3": return .checkConfig
        case "4": return .dashboard
        case "5": return .restartUpstream
        case "7": return .contactProvider
        case "8": return .wait
        case "9": return .retryRequest
        case "0": return .giveUp
        default: return nil
        }
    }

    /// The move in words, for transcripts.
    public func title(in scenario: LabScenario) -> String {
        switch self {
        case .edit(let index):
            let label = index < scenario.edits.count ? scenario.edits[index].label : "?"
            return "Edit a setting: \(label)"
        default:
            let number = Int(self.notation) ?? -1
            return LabMove.menu.first { $0.number == number }?.title ?? self.notation
        }
    }
}

extension StringProtocol {
    func trimmingCharacters(in set: Character) -> String {
        String(self.drop { $0 == set }.reversed().drop { $0 == set }.reversed())
    }
}
