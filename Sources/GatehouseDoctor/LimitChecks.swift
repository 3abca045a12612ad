import GatehouseConfig
import GatehouseErrors

/// What the probe timed, for the comparison with the gateway's timeouts.
public struct TimingObservation: Sendable, Hashable {
    /// Name resolution; `nil` for an IP literal.
    public var dns: Duration?
    /// TCP connect to the address used.
    public var connect: Duration?
    /// TLS handshake, for https.
    public var tlsHandshake: Duration?
    /// Request written → first response byte.
    public var firstByte: Duration?
    /// Longest silence between two reads once the response had started.
    public var longestGap: Duration?
    /// Request written → last response byte.
    public var response: Duration?

    public init(
        dns: Duration? = nil, connect: Duration? = nil, tlsHandshake: Duration? = nil, firstByte: Duration? = nil,
        longestGap: Duration? = nil, response: Duration? = nil
    ) {
        self.dns = dns
        self.connect = connect
        self.tlsHandshake = tlsHandshake
        self.firstByte = firstByte
        self.longestGap = longestGap
        self.response = response
    }
}

/// What holding an idle keep-alive connection showed.
public enum KeepAliveObservation: Sendable, Hashable {
    /// The upstream closed the idle connection this long after the end of the response.
    case closedAfter(Duration)
    /// Still open when the doctor stopped waiting (`--keepalive-max`).
    case stillOpen(after: Duration)
    /// The response did not allow reuse (`Connection: close`, HTTP/1.0 without keep-alive).
    case notReusable(String)
    /// The upstream sent bytes on the idle connection (an unsolicited response, a broken server).
    case unsolicitedBytes(Int)
    /// `--keepalive-max 0`.
    case disabled
}

/// Compares observations with the gateway's limits: the findings that predict a 504 or a keep-alive
/// race before they happen. Pure.
public enum LimitChecks {
    /// A timing this close to its limit (as a fraction) is a warning: the next slow moment crosses it.
    static let warningFraction = 0.8

    /// The `timing` step: connect (DNS + TCP, what `timeouts.connect` covers), first byte
    /// (`timeouts.response_header`), the longest silence (`timeouts.idle`) and the whole exchange
    /// (`timeouts.request`), each against the limit.
    public static func timing(_ observed: TimingObservation, limits: ProbeLimits) -> StepResult {
        var checks: [TimingCheck] = []
        if let connect = observed.connect {
            checks.append(
                TimingCheck(
                    label: observed.dns == nil ? "connect" : "DNS + connect", lead: "resolving and connecting took",
                    knob: "connect timeout", value: connect + (observed.dns ?? .zero), limit: limits.timeouts.connect,
                    error: .connectionTimeout))
        }
        if let firstByte = observed.firstByte {
            checks.append(
                TimingCheck(
                    label: "first byte", lead: "first byte after", knob: "response_header timeout", value: firstByte,
                    limit: limits.timeouts.responseHeader, error: .connectionReadTimeout))
        }
        // A silence inside a response matters only when it is long; milliseconds between packets are noise.
        if let gap = observed.longestGap, gap >= min(.seconds(1), limits.timeouts.idle / 2) {
            checks.append(
                TimingCheck(
                    label: "longest silence", lead: "the response went silent for", knob: "idle timeout", value: gap,
                    limit: limits.timeouts.idle, error: .connectionReadTimeout))
        }
        if let response = observed.response {
            // `timeouts.request` covers the whole exchange, connection set-up included.
            let whole = response + (observed.connect ?? .zero) + (observed.dns ?? .zero) + (observed.tlsHandshake ?? .zero)
            checks.append(
                TimingCheck(
                    label: "whole exchange", lead: "the whole exchange took", knob: "request timeout", value: whole,
                    limit: limits.timeouts.request, error: .httpResponseTimeout))
        }
        guard !checks.isEmpty else { return StepResult(.skipped, "not run: nothing was timed") }

        var worst: StepResult?
        for check in checks {
            let knob = limits.whose(check.knob)
            let limitText = Format.limit(check.limit)
            if check.value >= check.limit {
                let cause =
                    "\(check.lead) \(Format.observed(check.value)); \(knob) is \(limitText): this produces \(check.error.statusCode) \(check.error.token)"
                if worst?.outcome != .failed {
                    worst = StepResult(.failed, cause, finding: Finding(error: check.error, cause: cause))
                }
            } else if Format.seconds(check.value) >= Format.seconds(check.limit) * Self.warningFraction, worst == nil {
                let share = Format.percent(Format.seconds(check.value), of: Format.seconds(check.limit))
                let cause =
                    "\(check.lead) \(Format.observed(check.value)), \(share) of \(knob) (\(limitText)): a slower moment produces \(check.error.statusCode) \(check.error.token)"
                worst = StepResult(.warning, cause, finding: Finding(error: nil, cause: cause, fix: check.error.fixHint))
            }
        }
        let detail = checks.map { "\($0.label) \(Format.observed($0.value)) of \(Format.limit($0.limit))" }
            .joined(separator: " · ")
        guard var worst else { return StepResult(.ok, detail) }
        worst.detail = detail + " — " + worst.detail
        return worst
    }

    /// Four fifths of the upstream's close time, rounded down to a value one would write in a file.
    public static func suggestedIdleTimeout(below closed: Duration) -> String {
        let milliseconds = Int64(Format.milliseconds(closed * 0.8))
        let step: Int64 = milliseconds >= 10_000 ? 1000 : milliseconds >= 1000 ? 100 : 10
        return Format.configDuration(.milliseconds(max(step, milliseconds / step * step)))
    }

    /// One observed time against one limit.
    private struct TimingCheck {
        var label: String
        var lead: String
        var knob: String
        var value: Duration
        var limit: Duration
        var error: ProxyStatusError
    }

    /// The `keepalive` step: the upstream's idle close time against `pool.idle_timeout`. A pool that keeps
    /// an idle connection longer than the upstream does will, now and then, send a request on a connection
    /// the upstream is closing: a 502 `connection_terminated` with healthy servers (CAUSES.md `keepalive_race`).
    public static func keepAlive(_ observed: KeepAliveObservation, limits: ProbeLimits, server: String? = nil)
        -> StepResult
    {
        let idle = limits.poolIdleTimeout
        let knob = limits.whose("pool idle_timeout")
        let cluster: String
        if case .cluster(let name) = limits.source { cluster = " in cluster '\(name)'" } else { cluster = "" }
        switch observed {
        case .disabled:
            return StepResult(.skipped, "not run: --keepalive-max 0")
        case .notReusable(let why):
            return StepResult(.ok, "upstream does not keep connections alive (\(why)): no pooled reuse, no keep-alive race")
        case .unsolicitedBytes(let count):
            let cause = "upstream sent \(count) bytes on an idle keep-alive connection, with no request outstanding"
            return StepResult(
                .failed, cause,
                finding: Finding(
                    error: .httpProtocolError, cause: cause,
                    fix: "Fix the upstream: it writes after the response ended (a wrong Content-Length, or a second response)."))
        case .stillOpen(let after):
            if idle > after {
                return StepResult(
                    .ok,
                    "upstream kept the idle connection open for \(Format.observed(after)) (checked up to --keepalive-max); \(knob) is \(Format.limit(idle)): run with --keepalive-max \(Format.configDuration(idle + .seconds(5))) to check beyond it"
                )
            }
            return StepResult(
                .ok,
                "upstream kept the idle connection open for \(Format.observed(after)), longer than \(knob) (\(Format.limit(idle))): no keep-alive race"
            )
        case .closedAfter(let closed):
            let closedText = Format.decimal(Format.seconds(closed), places: 1) + " s"
            let fix =
                "Set pool.idle_timeout below \(closedText) (e.g. \(Self.suggestedIdleTimeout(below: closed)))\(cluster), or make the upstream keep idle connections longer than \(Format.limit(idle)) (Node server.keepAliveTimeout, gunicorn --keep-alive, uvicorn --timeout-keep-alive, Apache KeepAliveTimeout)."
            if idle >= closed {
                let cause =
                    "upstream closes idle connections after \(closedText); \(knob) is \(Format.limit(idle)): the keep-alive race — set idle_timeout below \(closedText)"
                return StepResult(.failed, cause, finding: Finding(error: .connectionTerminated, cause: cause, fix: fix))
            }
            // The pool checks an idle connection's age when it leases it, so the race needs the request to
            // be in flight as the upstream's timer fires: a margin under a fifth of the upstream's time
            // (at least 250 ms) is thin on a loaded host or a slow network.
            let margin = closed - idle
            if margin < max(.milliseconds(250), closed * 0.2) {
                let cause =
                    "upstream closes idle connections after \(closedText), only \(Format.observed(margin)) after \(knob) (\(Format.limit(idle))): a thin margin for the keep-alive race"
                return StepResult(.warning, cause, finding: Finding(error: nil, cause: cause, fix: fix))
            }
            return StepResult(
                .ok,
                "upstream closes idle connections after \(Format.decimal(Format.seconds(closed), places: 1)) s; \(knob) is \(Format.limit(idle)): the pool lets go first"
            )
        }
    }
}
