import GatehouseConfig
import GatehouseDoctor
import GatehouseErrors

/// Why a probe failed, in the RFC 9209 vocabulary, and where: the probe's own hop, or — when the target
/// answered through a proxy — what that proxy's `Proxy-Status` says happened behind it.
public struct ProbeCause: Sendable, Hashable {
    /// Where the failure is.
    public enum Hop: String, Sendable, Hashable, CaseIterable {
        /// The probe's own hops, as `gatehouse doctor` names them.
        case dns, tcp, tls, http
        /// A proxy in front of the target failed or refused by itself (its configuration, its limits).
        case gateway
        /// A proxy in front of the target could not get a response from the origin behind it.
        case behindGateway = "behind_gateway"
        /// The origin answered an error itself and a proxy passed it on (`received-status`).
        case origin
        /// The response's status is not one the target expects, and nothing says why.
        case response
        /// The status is expected but the body does not contain the target's `body_match`.
        case body
    }

    /// The Proxy-Status error type; `nil` when none applies (an origin's own 5xx, an unexplained 502,
    /// an unexpected status or body).
    public var error: ProxyStatusError?
    public var hop: Hop
    /// The proxy whose `Proxy-Status` explained it, if any.
    public var proxy: String?
    /// The status the probe received, if a response arrived.
    public var status: Int?
    /// The cause in plain words, specific to this target.
    public var summary: String
    public var fix: String

    public init(
        error: ProxyStatusError?, hop: Hop, proxy: String? = nil, status: Int? = nil, summary: String, fix: String
    ) {
        self.error = error
        self.hop = hop
        self.proxy = proxy
        self.status = status
        self.summary = summary
        self.fix = fix
    }

    /// The metric label: the RFC 9209 token, or `none` (a bounded set of values).
    public var label: String { self.error?.token ?? "none" }

    /// `connection_refused at tcp`, `connection_refused behind gatehouse`, `502 from the origin`.
    public var short: String {
        let what = self.error?.token ?? self.status.map { "status \($0)" } ?? "failure"
        switch self.hop {
        case .dns, .tcp, .tls, .http: return "\(what) at \(self.hop.rawValue)"
        case .gateway: return "\(what) at gateway \(self.proxy ?? "?")"
        case .behindGateway: return "\(what) behind gateway \(self.proxy ?? "?")"
        case .origin: return "\(what) from the origin"
        case .response: return what
        case .body: return "body mismatch"
        }
    }
}

/// Judges one probe against what its target expects. Pure: every rule is tested on plain values.
public enum ProbeEvaluator {
    /// How much of the body is read for `body_match`.
    public static let bodyMatchWindow = 64 * 1024

    /// `nil` when the probe succeeded; otherwise why it failed.
    public static func cause(of run: HopRun, target: MonitorTarget) -> ProbeCause? {
        guard run.responded, let status = run.status else {
            // A hop failed: doctor's verdict already names it (the first failed step decides).
            let verdict = run.verdict
            return ProbeCause(
                error: verdict.error, hop: verdict.step.flatMap(ProbeCause.Hop.init(rawValue:)) ?? .http,
                status: run.status, summary: verdict.cause, fix: verdict.fix)
        }
        if target.expectStatus.matches(status) {
            guard let needle = target.bodyMatch, !Self.contains(run.body, needle) else { return nil }
            return ProbeCause(
                error: nil, hop: .body, status: status,
                summary: "the body does not contain \"\(needle)\" (status \(status), \(run.body.count) bytes read)",
                fix: "Check what the page now serves: an error or maintenance page answered with \(status)?")
        }
        let proxyStatus = ProxyStatusField.parse(run.headers.filter { $0.name.lowercased() == "proxy-status" }.map(\.value))
        return Self.explain(status: status, proxyStatus: proxyStatus, expected: target.expectStatus)
    }

    /// An unexpected status, explained by the `Proxy-Status` members received (first = nearest the origin).
    public static func explain(status: Int, proxyStatus: [ProxyStatusEntry], expected: StatusExpectation) -> ProbeCause {
        // The nearest proxy is the last member; the member that made the error is the last one with an
        // `error` (members after it only relayed the response).
        if let reporter = proxyStatus.last(where: { $0.error != nil }), let token = reporter.error {
            return Self.proxyError(token, reporter: reporter, status: status)
        }
        if let nearest = proxyStatus.last, let received = nearest.receivedStatus {
            return ProbeCause(
                error: nil, hop: .origin, proxy: nearest.proxy, status: status,
                summary:
                    "the origin answered \(received) itself; gateway '\(nearest.proxy)' passed it on (received-status=\(received)): the network and the gateway worked",
                fix: "Look at the origin application's own logs and errors: the failure is inside it.")
        }
        if [502, 503, 504].contains(status) {
            return ProbeCause(
                error: nil, hop: .response, status: status,
                summary:
                    "\(status) with no Proxy-Status: unexplained — made by a proxy that does not say why, or by the origin itself",
                fix:
                    "Run gatehouse doctor against the origin directly, and gatehouse explain on the proxy's error log (a Gatehouse gateway in front would name the cause).")
        }
        return ProbeCause(
            error: nil, hop: .response, status: status,
            summary: "status \(status), expected \(expected)",
            fix: "Check what the URL answers now (gatehouse doctor URL), and the target's expect_status.")
    }

    private static func proxyError(_ token: String, reporter: ProxyStatusEntry, status: Int) -> ProbeCause {
        let gateway = "gateway '\(reporter.proxy)'"
        guard let error = ProxyStatusError(rawValue: token) else {
            return ProbeCause(
                error: nil, hop: .behindGateway, proxy: reporter.proxy, status: status,
                summary: "\(gateway) answered \(status) with error=\(token), a type RFC 9209 does not define"
                    + (reporter.details.map { " (\($0))" } ?? ""),
                fix: "Read \(gateway)'s documentation and error log for '\(token)'.")
        }
        let fix = "At \(gateway): \(error.fixHint)"
        if error.failingHop == .gateway {
            let what: String
            switch error {
            case .proxyConfigurationError, .destinationNotFound, .proxyLoopDetected: what = "is misconfigured"
            case .proxyInternalError: what = "failed internally"
            default: what = "refused the request itself"
            }
            return ProbeCause(
                error: error, hop: .gateway, proxy: reporter.proxy, status: status,
                summary: "\(gateway) \(what) (error=\(token)): \(error.summary)", fix: fix)
        }
        let origin = "the origin behind \(gateway)" + (reporter.nextHop.map { " (\($0))" } ?? "")
        let state: String
        switch error {
        case .connectionRefused, .connectionTimeout, .destinationUnavailable, .destinationIPUnroutable: state = "is down"
        default: state = "failed"
        }
        return ProbeCause(
            error: error, hop: .behindGateway, proxy: reporter.proxy, status: status,
            summary: "\(origin) \(state) (error=\(token)): \(error.summary)", fix: fix)
    }

    /// Whether `needle`'s UTF-8 bytes occur in `haystack`.
    static func contains(_ haystack: [UInt8], _ needle: String) -> Bool {
        let pattern = Array(needle.utf8)
        guard !pattern.isEmpty else { return true }
        guard haystack.count >= pattern.count else { return false }
        for start in 0...(haystack.count - pattern.count) where haystack[start] == pattern[0] {
            if haystack[start..<start + pattern.count].elementsEqual(pattern) { return true }
        }
        return false
    }
}
