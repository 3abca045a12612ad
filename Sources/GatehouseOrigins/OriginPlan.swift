import NIOCore
import Synchronization

/// What one accepted connection runs, derived once from a `LoopbackOrigin.Behavior`.
enum ChildMode: Sendable {
    /// The healthy app behind NIOHTTP1, possibly slowed down or with an idle-close timer.
    case app(HealthyAppConfiguration)
    /// A raw-bytes handler that misbehaves in one way.
    case misbehave(Misbehavior)
    /// No listener at all: a connection accepted in this mode (a race with the phase change) is closed.
    case refuse

    /// Whether this mode wants the listening socket open.
    var listens: Bool {
        switch self {
        case .app, .misbehave: return true
        case .refuse: return false
        }
    }
}

/// The knobs of the healthy app.
struct HealthyAppConfiguration: Sendable {
    /// The name in `hello from NAME` and `X-Origin`.
    var name: String
    /// Each request reaches the app this long after its head arrived (`.slowHead`).
    var requestDelay: TimeAmount?
    /// An idle connection is closed this long after its last response (`.keepAliveClose`).
    var idleClose: TimeAmount?
    /// Announce the idle close as `Keep-Alive: timeout=N` (whole seconds) on keep-alive responses.
    var announcesIdleClose = false
}

/// The raw misbehaviours; each acts once the request head (up to the blank line) has arrived.
enum Misbehavior: Sendable {
    /// Never answers, never closes.
    case hang
    /// FIN without a byte.
    case closeBeforeHead
    /// RST without a byte.
    case resetBeforeHead
    /// A head announcing 1000 bytes, 100 bytes, FIN.
    case closeMidBody
    /// A head announcing 1000 bytes, 100 bytes, RST.
    case resetMidBody
    /// A status line whose code is not three digits, then FIN.
    case malformedStatusLine
    /// A header line without a colon, then FIN.
    case malformedHeader
    /// A valid response with a header section of the given size, then FIN.
    case oversizedHeader(bytes: Int)
    /// A chunked body with an invalid chunk-size line, then FIN.
    case badChunking
    /// A head announcing 1000 bytes, 100 bytes, then silence with the connection open.
    case stallMidBody
}

/// A behaviour flattened into the phases an origin goes through (one, unless it rotates).
struct OriginPlan: Sendable {
    /// The phases, in order; never empty.
    let phases: [ChildMode]
    /// The time between phase changes; `nil` when there is a single phase.
    let period: TimeAmount?

    init(_ behavior: LoopbackOrigin.Behavior) throws {
        var phases: [ChildMode] = []
        Self.flatten(behavior, into: &phases)
        guard !phases.isEmpty else {
            throw LoopbackOriginError("a .rotating behaviour needs at least one phase")
        }
        self.phases = phases
        guard phases.count > 1, case .rotating(_, let every) = behavior else {
            self.period = nil
            return
        }
        let period = TimeAmount(every)
        guard period > .zero else {
            throw LoopbackOriginError("a .rotating behaviour needs a positive period, not \(every)")
        }
        self.period = period
    }

    private static func flatten(_ behavior: LoopbackOrigin.Behavior, into phases: inout [ChildMode]) {
        switch behavior {
        case .healthy(let name):
            phases.append(.app(HealthyAppConfiguration(name: name)))
        case .refuse: phases.append(.refuse)
        case .hang: phases.append(.misbehave(.hang))
        case .closeBeforeHead: phases.append(.misbehave(.closeBeforeHead))
        case .resetBeforeHead: phases.append(.misbehave(.resetBeforeHead))
        case .closeMidBody: phases.append(.misbehave(.closeMidBody))
        case .resetMidBody: phases.append(.misbehave(.resetMidBody))
        case .malformedStatusLine: phases.append(.misbehave(.malformedStatusLine))
        case .malformedHeader: phases.append(.misbehave(.malformedHeader))
        case .oversizedHeader(let bytes): phases.append(.misbehave(.oversizedHeader(bytes: bytes)))
        case .badChunking: phases.append(.misbehave(.badChunking))
        case .stallMidBody: phases.append(.misbehave(.stallMidBody))
        case .slowHead(let delay):
            let delay = max(TimeAmount(delay), .zero)
            phases.append(.app(HealthyAppConfiguration(name: "slow", requestDelay: delay)))
        case .keepAliveClose(let after):
            let after = max(TimeAmount(after), .zero)
            phases.append(.app(HealthyAppConfiguration(name: "keep-alive", idleClose: after)))
        case .keepAliveAnnounced(let timeout):
            let seconds = TimeAmount.seconds(Int64(max(timeout, 1)))
            phases.append(.app(HealthyAppConfiguration(name: "keep-alive", idleClose: seconds, announcesIdleClose: true)))
        case .rotating(let inner, _):
            for behavior in inner {
                Self.flatten(behavior, into: &phases)
            }
        }
    }
}

/// The counters a test reads; bumped from any event loop.
final class OriginCounters: Sendable {
    private let accepted = Atomic<Int>(0)
    private let served = Atomic<Int>(0)
    private let idleClosed = Atomic<Int>(0)

    var connectionsAccepted: Int { self.accepted.load(ordering: .relaxed) }
    var requestsServed: Int { self.served.load(ordering: .relaxed) }
    var idleConnectionsClosed: Int { self.idleClosed.load(ordering: .relaxed) }

    func idleConnectionClosed() {
        self.idleClosed.add(1, ordering: .relaxed)
    }

    func connectionAccepted() {
        self.accepted.add(1, ordering: .relaxed)
    }

    func requestReceived() {
        self.served.add(1, ordering: .relaxed)
    }
}

/// The user event sent to every open connection when a rotating origin changes phase.
struct RotationPhaseEnded: Sendable {}
