import NIOCore
import NIOPosix

/// An HTTP/1.1 origin server on loopback that behaves, or misbehaves on purpose.
///
/// Two users: `gatehouse demo` runs a few of them as its built-in sample upstreams (two healthy ones and
/// a flaky one that rotates through failures), and the proxy's integration tests use them as peers that
/// produce every failure class of the error table in DESIGN.md (refused, hung, terminated before or
/// during the response, malformed status line or header, oversized header section, bad chunking, slow,
/// keep-alive races).
///
/// `start` returns only once the origin is bound (or, for `.refuse`, once its port is held, refusing),
/// so callers never wait for readiness. Every origin must be stopped with `stop()`, which closes the
/// listener and every open connection (and gives a `.refuse` origin's port back).
///
/// The healthy app's routes (see `Behavior.healthy(name:)`):
/// - `GET /` → 200 `hello from NAME\n`; every response of the app carries `X-Origin: NAME`.
/// - `ANY /status/N` (200…599) → status N with a small text body.
/// - `ANY /echo` → 200, the request body streamed back (same `Content-Length`, else chunked), with
///   `X-Echo-Method` and `X-Echo-Path`.
/// - `ANY /headers` → 200 JSON `{"method":…,"path":…,"version":…,"headers":[["name","value"],…]}`, the
///   request headers in received order, duplicates kept.
/// - `GET /bytes/N` → N bytes with `Content-Length`, `GET /chunked/N` → the same chunked; streamed in
///   64 KiB chunks with back-pressure; byte k is `LoopbackOrigin.patternByte(at: k)`.
/// - `POST|PUT /sink` → reads the body without keeping it, answers its size in decimal.
/// - `ANY /slow/MS` → 200 after MS milliseconds. `ANY /close` → 200 with `Connection: close`, then closes.
public final class LoopbackOrigin: Sendable {
    /// What an origin does with each connection it accepts.
    public enum Behavior: Sendable {
        /// The real app (routes in the type's documentation); keep-alive and `Connection: close` honoured.
        case healthy(name: String)
        /// Nothing listens: a free port is held by a socket that never listens, until `stop()`, so
        /// connecting gives ECONNREFUSED and no other server can be given the port meanwhile.
        case refuse
        /// Accepts, reads the request, never answers and never closes.
        case hang
        /// Reads the request head, then closes (FIN) without sending a byte.
        case closeBeforeHead
        /// Reads the request head, then resets the connection (SO_LINGER 0 close → RST).
        case resetBeforeHead
        /// Sends a head with `Content-Length: 1000` and 100 bytes of body, then closes (FIN).
        case closeMidBody
        /// Sends a head with `Content-Length: 1000` and 100 bytes of body, then resets (RST).
        case resetMidBody
        /// Sends `HTTP/1.1 abc OK` as the status line, then closes.
        case malformedStatusLine
        /// Sends a valid status line followed by a header line without a colon, then closes.
        case malformedHeader
        /// Sends a valid response whose header section (status line to the blank line included) is
        /// exactly `bytes` long (or the shortest valid one, if `bytes` is smaller), then closes.
        case oversizedHeader(bytes: Int)
        /// Sends `Transfer-Encoding: chunked` with one valid chunk, then an invalid chunk-size line.
        case badChunking
        /// The healthy app (named `slow`), but each request reaches it only `delay` after its head arrived.
        case slowHead(delay: Duration)
        /// Sends a head with `Content-Length: 1000` and 100 bytes, then goes silent, connection kept open.
        case stallMidBody
        /// The healthy app (named `keep-alive`), closing each connection that stays idle `after` its last
        /// response (or after being accepted), like Node's `keepAliveTimeout`.
        case keepAliveClose(after: Duration)
        /// The healthy app (named `keep-alive`), announcing `Keep-Alive: timeout=N` on every keep-alive
        /// response and closing each connection idle `timeout` seconds, as it announced (Apache httpd).
        case keepAliveAnnounced(timeout: Int)
        /// Cycles through `phases`, one every `every`, starting with the first one, forever.
        ///
        /// A connection keeps the behaviour of the phase in which it was accepted; at each phase change
        /// the app's connections close as soon as they are idle, so a pooled connection cannot hide the
        /// new phase. A `.refuse` phase closes the listening socket and the next phase binds the SAME
        /// port again. A nested `.rotating` contributes its phases (its own period is ignored).
        case rotating([Behavior], every: Duration)

        /// The demo's flaky upstream: healthy, then refusing, healthy, hanging, healthy, sending a malformed
        /// status line, each phase lasting `every`, round and round.
        public static func flaky(name: String = "flaky", every: Duration = .seconds(10)) -> Behavior {
            .rotating(
                [
                    .healthy(name: name), .refuse, .healthy(name: name), .hang, .healthy(name: name),
                    .malformedStatusLine,
                ],
                every: every
            )
        }
    }

    /// The behaviour this origin was started with.
    public let behavior: Behavior
    /// The host the origin listens on.
    public let host: String
    /// The bound port; for `.refuse`, the port it holds without listening.
    public let port: Int
    private let core: OriginCore

    private init(behavior: Behavior, host: String, port: Int, core: OriginCore) {
        self.behavior = behavior
        self.host = host
        self.port = port
        self.core = core
    }

    /// `host:port`, with brackets around an IPv6 host (`[::1]:8080`).
    public var address: String {
        self.host.contains(":") ? "[\(self.host)]:\(self.port)" : "\(self.host):\(self.port)"
    }

    /// How many connections have been accepted so far.
    public var connectionsAccepted: Int { self.core.counters.connectionsAccepted }

    /// How many request heads have been received so far, whatever was then done with them (answered,
    /// hung on, reset…); a test counts with it what reached the origin.
    public var requestsServed: Int { self.core.counters.requestsServed }

    /// How many connections the origin closed itself because they stayed idle (`.keepAliveClose`,
    /// `.keepAliveAnnounced`); a test waits on it instead of sleeping past the origin's timer.
    public var idleConnectionsClosed: Int { self.core.counters.idleConnectionsClosed }

    /// The index of the current phase of a `.rotating` origin (into its flattened phase list), else `nil`.
    public var currentPhase: Int? { self.core.currentPhase }

    /// Waits for the next phase change of a `.rotating` origin to take effect (a `.refuse` phase's
    /// listener closed, a listening phase's listener bound) and returns the new phase's index.
    ///
    /// Returns `nil` at once if the origin does not rotate or is stopped, and `nil` when `stop()` is
    /// called or the task is cancelled while waiting.
    public func nextPhase() async -> Int? {
        await self.core.nextPhase()
    }

    /// Starts an origin and returns once it is bound (for `.refuse`: once its port is held, refusing).
    ///
    /// - Parameters:
    ///   - behavior: What the origin does with each connection.
    ///   - host: The address to listen on; loopback unless a test says otherwise.
    ///   - port: The port, 0 for a free one chosen by the system.
    ///   - group: The event loops the listener and its connections run on (a `MultiThreadedEventLoopGroup`).
    /// - Throws: `LoopbackOriginError` for a behaviour that cannot run, or the bind error.
    public static func start(
        _ behavior: Behavior,
        host: String = "127.0.0.1",
        port: Int = 0,
        group: any EventLoopGroup
    ) async throws -> LoopbackOrigin {
        let plan = try OriginPlan(behavior)
        let core = OriginCore(plan: plan, host: host, group: group)
        let boundPort = try await core.start(port: port)
        return LoopbackOrigin(behavior: behavior, host: host, port: boundPort, core: core)
    }

    /// Stops the origin: stops the rotation, closes the listener and every open connection, and returns
    /// once all of them are closed. Calling it again does nothing.
    public func stop() async throws {
        try await self.core.stop()
    }

    /// The byte at `offset` of every body of `/bytes/N` and `/chunked/N` (a repeating 64-character
    /// printable pattern), so a test can check content without keeping a copy.
    public static func patternByte(at offset: Int) -> UInt8 {
        OriginPayload.patternByte(at: offset)
    }
}

/// Why an origin could not be started.
public struct LoopbackOriginError: Error, CustomStringConvertible, Sendable {
    /// What went wrong, in words.
    public let description: String

    init(_ description: String) {
        self.description = description
    }
}
