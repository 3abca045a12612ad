// The key tables of `monitor.yaml`, read by the same walker as the gateway's file, so a monitor file gets
// the same diagnostics: unknown keys with "did you mean", bad durations, `file:line:col`.

import Yams

/// The top level of a monitor file while it is read.
struct MonitorDraft {
    var targets: [MonitorTarget]?
    var listen: HostPort?
    var alerts = MonitorAlerts()

    static let fields: [Field<MonitorDraft>] = [
        Field(
            "targets", .list(of: .mapping(TargetDraft.fields), nonEmpty: true), required: true,
            doc: "The URLs to probe, each through DNS, TCP, TLS and HTTP."
        ) { $0.readTargets($1) },
        Field("listen", .hostPort, doc: "host:port serving GET /metrics for Prometheus.") {
            $0.listen = $1.hostPort(ports: 0...65535)
        },
        Field("alerts", section: MonitorAlerts.fields, into: \.alerts, doc: "Where DOWN and recovered are sent."),
    ]

    func finish(_ walker: Walker) -> MonitorConfiguration? {
        guard walker.diagnostics.isEmpty, let targets else { return nil }
        return MonitorConfiguration(targets: targets, listen: self.listen, alerts: self.alerts)
    }

    mutating func readTargets(_ value: Value) {
        guard let items = value.sequence(nonEmpty: true) else { return }
        var targets: [MonitorTarget] = []
        // Names are metric label values and alert keys: two targets with one name would merge.
        var seen: [String: SourceLocation] = [:]
        for item in items {
            var draft = TargetDraft()
            item.walk(fields: TargetDraft.fields, into: &draft)
            guard let url = draft.url else { continue }
            let target = MonitorTarget(
                name: draft.name?.value, url: url.value, interval: draft.interval ?? MonitorTarget.defaultInterval,
                timeout: draft.timeout, expectStatus: draft.expectStatus ?? .success, bodyMatch: draft.bodyMatch,
                retries: draft.retries ?? MonitorTarget.defaultRetries)
            let location = draft.name?.location ?? url.location
            if let first = seen[target.name] {
                let hint = draft.name == nil ? "; give each target its own 'name'" : ""
                item.walker.error("duplicate target name '\(target.name)' (first given at \(first))\(hint)", at: location)
                continue
            }
            seen[target.name] = location
            targets.append(target)
        }
        self.targets = targets
    }
}

/// A target entry while it is read.
struct TargetDraft {
    var name: Located<String>?
    var url: Located<HTTPURL>?
    var interval: Duration?
    var timeout: Duration?
    var expectStatus: StatusExpectation?
    var bodyMatch: String?
    var retries: Int?

    static let fields: [Field<TargetDraft>] = [
        Field("name", .nonEmptyText, doc: "Metric label and alert key (default the URL).") { draft, value in
            draft.name = Self.name(value).map { value.at($0) }
        },
        Field("url", .url, required: true, doc: "The http:// or https:// URL probed.") { draft, value in
            draft.url = value.url().map { value.at($0) }
        },
        Field("interval", .duration, doc: "Between probes, ±10% jitter (default 30s).") { $0.interval = $1.duration() },
        Field("timeout", .duration, doc: "Each hop: DNS, connect, TLS, response (default 10s, at most the interval).") {
            $0.timeout = $1.duration()
        },
        Field(
            "expect_status", .anyOf(.statusRange, .list(of: .statusRange, nonEmpty: true)),
            doc: "Statuses that count as success: 200, \"2xx\", \"200-399\" or a list (default 200-399)."
        ) { $0.expectStatus = Self.expectStatus($1) },
        Field("body_match", .nonEmptyText, doc: "Text the body must contain.") { $0.bodyMatch = $1.nonEmptyString() },
        Field("retries", .integer(1...100), doc: "Consecutive failed probes before DOWN (default 2).") {
            $0.retries = $1.int(1...100)
        },
    ]

    /// Any text without control characters: it is escaped wherever it goes (labels, JSON, the table).
    static func name(_ value: Value) -> String? {
        guard let text = value.nonEmptyString() else { return nil }
        guard !text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }) else {
            value.error("\(value.subject) must not contain control characters")
            return nil
        }
        return text
    }

    /// `200`, `"2xx"`, `"200-399"`, or a sequence of them.
    static func expectStatus(_ value: Value) -> StatusExpectation? {
        let items: [Value]
        if case .sequence(_) = value.node {
            guard let sequence = value.sequence(nonEmpty: true) else { return nil }
            items = sequence
        } else {
            items = [value]
        }
        var ranges: [ClosedRange<Int>] = []
        for item in items {
            guard let text = item.string() else { continue }
            do {
                ranges.append(try ValueSyntax.statusRange(text))
            } catch {
                item.error("invalid status for \(value.subject): \(error.reason)")
            }
        }
        return ranges.isEmpty ? nil : StatusExpectation(ranges: ranges)
    }
}

extension MonitorAlerts {
    static let fields: [Field<MonitorAlerts>] = [
        Field("webhooks", .list(of: .url), doc: "URLs POSTed a JSON event on down, recovered and still_down.") {
            alerts, value in
            alerts.webhooks = value.sequence(nonEmpty: false)?.compactMap { $0.url() } ?? []
        },
        Field("renotify", .duration, doc: "Repeat the alert this often while down.") { $0.renotify = $1.duration() },
    ]
}

extension Value {
    /// An `http://` or `https://` URL.
    func url() -> HTTPURL? {
        guard let text = self.string() else { return nil }
        do {
            return try ValueSyntax.httpURL(text)
        } catch {
            self.error("invalid URL '\(text)' for \(self.subject): \(error.reason)")
            return nil
        }
    }
}
