import GatehouseErrors

/// Which program wrote a line: it decides which configuration knobs a fix names.
public enum LogFamily: String, Sendable, Hashable, CaseIterable {
    /// nginx error.log or access.log.
    case nginx
    /// HAProxy traffic log, event lines and stderr.
    case haproxy
    /// Gatehouse's own JSON access log.
    case gatehouse
    /// An application server behind the proxy (gunicorn, php-fpm, uWSGI …).
    case appServer = "app_server"
}

/// What a failure line says before the rest of the logs are known.
///
/// Some lines name their cause outright (`upstream sent too big header`). Others only narrow it
/// down (HAProxy's `SH--` is a close before the headers: a crash, a killed worker or a keep-alive
/// race); the classifier decides those once every file has been read.
enum FailureClass: Hashable, Sendable {
    /// The message names the cause.
    case named(Cause)
    /// Closed or reset before any response byte; the payload is the cause when nothing else is known.
    case terminatedBeforeResponse(Cause)
    /// Timed out waiting for the response header (nginx read timeout, HAProxy `sH`).
    case readTimeout
    /// Timed out connecting.
    case connectTimeout
    /// nginx `no live upstreams`: every server down, or every server at `max_conns`.
    case noLiveUpstreams
    /// Connection to a server failed without a reason (HAProxy `SC` to a server, nginx access `connect_time -`):
    /// refused, or a TLS handshake / unix socket failure that these lines cannot tell apart.
    case connectFailed
    /// HAProxy `<NOSRV>` with `SC`: no server could be picked; the event lines say why.
    case noServer
    /// HAProxy `PH`: the proxy blocked an invalid response (status line, header, size or chunking).
    case invalidResponse
    /// HAProxy `SD`: the server connection died during the body.
    case diedMidBody
    /// nginx access line without upstream address: a resolver failure (which one needs error.log).
    case resolverFailed
    /// An access line with a 5xx and no upstream fields at all (plain `combined`).
    case opaque
    /// nginx `worker_connections are not enough`: a forwarding loop, or plain overload.
    case workerConnectionsExhausted
    /// Gatehouse logged its own Proxy-Status error.
    case gatehouse(ProxyStatusError)
}

/// One failed request (or truncated 200) as one line reports it.
struct FailureEvent {
    /// The program that wrote the line.
    var family: LogFamily
    /// An nginx access line for an error nginx generated: error.log says the same about the same
    /// request, so it only counts when error.log has no failures.
    var duplicatesErrorLog: Bool = false
    /// What the line says.
    var failureClass: FailureClass
    /// The upstream (server address, `backend/server`, upstream group or host name).
    var upstream: String
    /// The status the client got (200 for truncated bodies, -1 when none was sent).
    var status: Int
    /// When it happened, in milliseconds since the epoch (UTC).
    var time: Int64?
    /// The whole line, kept only if it becomes a group's evidence.
    var line: String
    /// POST, PATCH …: requests a proxy will not retry once sent (keep-alive race signature).
    var isNonIdempotent: Bool = false
    /// Milliseconds from the connection being ready to the failure (HAProxy Ta−Tc, nginx response time).
    var durationMillis: Int?
    /// The proxy's concurrent connections when it logged the line (HAProxy feconn).
    var concurrency: Int?
    /// The proxy had to retry the connection (HAProxy's retries counter).
    var retried: Bool = false
    /// A hash of the request line, to see one request repeated many times (loops).
    var requestHash: UInt64 = 0
    /// A key for the nginx connection (`pid#tid: *conn`), so the lines of one request count once.
    var connectionKey: UInt64?
    /// The upstream speaks FastCGI (nginx `fastcgi://`, unix sockets).
    var isFastCGI: Bool = false
    /// The upstream is the address clients used to reach the proxy itself (`upstream:` = `host:`).
    var upstreamIsSelf: Bool = false
}

/// A fact that is not itself a failed request but changes what the failures mean.
enum ContextEvent {
    /// nginx `upstream server temporarily disabled`: a server hit `max_fails`.
    case nginxServerDisabled
    /// HAProxy `Server B/S is DOWN` / `is going DOWN for maintenance`, with the check's reason.
    case haproxyServerDown(backend: String, reason: DownReason)
    /// HAProxy `backend B has no server available!`.
    case haproxyNoServerAvailable(backend: String)
    /// HAProxy `Connect() failed for backend B: can't connect to destination unix socket …`.
    case haproxyUnixSocketBacklog(backend: String)
    /// An app server killed a worker at its timeout (gunicorn `WORKER TIMEOUT`, php-fpm `execution timed out`).
    case appWorkerKilled
    /// php-fpm `server reached pm.max_children` / `seems busy`.
    case appPoolExhausted
}

/// Why HAProxy took a server out, from its health check or resolver (HAProxy src/check.c, src/server.c).
enum DownReason: UInt8, Sendable {
    case connectionRefused, layer4Timeout, layer4Other
    case tlsHandshakeFailure, tlsCertificateMismatch, layer6Other
    case layer7Status, layer7Timeout, layer7Other
    case dnsNXDomain, dnsTimeout, dnsOther
    case maintenance, other

    /// The cause a backend with only this reason points to, when its requests find no server.
    var cause: Cause {
        switch self {
        case .dnsNXDomain, .dnsOther: return .dnsNXDomain
        case .dnsTimeout: return .dnsTimeout
        case .tlsCertificateMismatch: return .tlsHostnameMismatch
        case .tlsHandshakeFailure, .layer6Other: return .tlsExpiredCertificate
        case .connectionRefused, .layer4Timeout, .layer4Other, .layer7Status, .layer7Timeout, .layer7Other,
            .maintenance, .other:
            return .noHealthyUpstream
        }
    }
}

/// One line, reduced to what the classifier needs.
enum LogEvent {
    /// An upstream answered (any status it produced itself, below 500): the key is a hash of its name.
    /// `retriedOnSameServer` marks nginx's `upstream_status="502, 200"` on one address: a retry on a
    /// fresh connection after a cached keep-alive connection failed.
    case success(upstream: UInt64, retriedOnSameServer: Bool)
    /// A failed request.
    case failure(FailureEvent)
    /// A fact about the upstreams, with its time and line.
    case context(ContextEvent, time: Int64?, line: String)
    /// A line of a known format with nothing to count (start-up notices, client-side errors).
    case ignored
}
