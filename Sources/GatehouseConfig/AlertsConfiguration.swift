import Yams

/// The top-level `alerts` section: when a cluster's gateway errors make an incident, and where the
/// incident's notifications go.
///
/// ```yaml
/// alerts:
///   incident: { window: 60s, error_ratio: 5%, min_requests: 20, recovery: 60s, spike_factor: 4 }
///   webhooks:
///     - { url: https://hooks.example/x, format: slack, timeout: 5s, retries: 3 }
/// ```
///
/// Incidents are detected with the defaults when the section is absent; only webhooks need it.
public struct Alerts: Sendable, Equatable {
    public var incident: IncidentSettings
    public var webhooks: [Webhook]

    public init(incident: IncidentSettings = IncidentSettings(), webhooks: [Webhook] = []) {
        self.incident = incident
        self.webhooks = webhooks
    }
}

/// When a cluster is in an incident.
public struct IncidentSettings: Sendable, Equatable {
    /// The sliding window the gateway-error ratio is computed over.
    public var window: Duration
    /// Gateway errors / requests over the window at or above which an incident opens (0…1).
    public var errorRatio: Double
    /// Requests the window must hold before an incident may open: two failures out of three
    /// requests are not an outage.
    public var minRequests: Int
    /// How long the ratio must stay below `errorRatio` before the incident is resolved.
    public var recovery: Duration
    /// Requests per second over this many times the baseline, with errors: the incident says
    /// "traffic spike". 0 turns the hint off (and with it the tracking of client addresses).
    public var spikeFactor: Double
    /// How often the counters are read (the detector's tick).
    public var interval: Duration

    public init(
        window: Duration = .seconds(60), errorRatio: Double = 0.05, minRequests: Int = 20, recovery: Duration = .seconds(60),
        spikeFactor: Double = 4, interval: Duration = .seconds(1)
    ) {
        self.window = window
        self.errorRatio = errorRatio
        self.minRequests = minRequests
        self.recovery = recovery
        self.spikeFactor = spikeFactor
        self.interval = interval
    }
}

/// One webhook incidents are posted to.
public struct Webhook: Sendable, Equatable {
    /// The body posted.
    public enum Format: String, Sendable, CaseIterable {
        /// Gatehouse's own JSON document (kind, incident, cluster, cause, counts…).
        case json
        /// `{"text": "..."}`, which Slack, Mattermost and Rocket.Chat incoming webhooks take.
        case slack
    }

    public var url: HTTPURL
    public var format: Format
    /// The time limit of one delivery attempt (connect to last response byte).
    public var timeout: Duration
    /// Attempts after the first, with exponential backoff.
    public var retries: Int

    public init(url: HTTPURL, format: Format = .json, timeout: Duration = .seconds(5), retries: Int = 3) {
        self.url = url
        self.format = format
        self.timeout = timeout
        self.retries = retries
    }
}

/// The top-level `storage` section: where gateway errors and incidents are kept across restarts.
public struct Storage: Sendable, Equatable {
    /// The SQLite database file (created if missing; WAL mode).
    public var path: String
    /// Errors and closed incidents older than this are deleted.
    public var retention: Duration
    /// Errors beyond this many (the newest kept) are deleted.
    public var maxErrors: Int

    public init(path: String, retention: Duration = .seconds(7 * 86_400), maxErrors: Int = 100_000) {
        self.path = path
        self.retention = retention
        self.maxErrors = maxErrors
    }
}

// MARK: - Reading

extension Alerts {
    static let fields: [Field<Alerts>] = [
        Field("incident", .mapping(IncidentSettings.fields), doc: "When a cluster's gateway-error ratio opens an incident.") { $1.walk(fields: IncidentSettings.fields, into: &$0.incident) },
        Field("webhooks", .list(of: .mapping(Webhook.Draft.fields)), doc: "Where incident opened/resolved notifications are posted.") { alerts, value in
            alerts.webhooks = value.sequence(nonEmpty: false)?.compactMap(Webhook.read) ?? []
        },
    ]
}

extension IncidentSettings {
    static let fields: [Field<IncidentSettings>] = [
        Field("window", .duration, doc: "The sliding window over which the error ratio is measured (default 60s).") { $0.window = $1.duration() ?? $0.window },
        Field("error_ratio", .ratio(0...1), doc: "Gateway errors per request that open an incident: 0.05 or 5% (default 5%).") { $0.errorRatio = $1.ratio() ?? $0.errorRatio },
        Field("min_requests", .integer(1...Int.max), doc: "Requests the window needs before a ratio counts (default 20).") { $0.minRequests = $1.int(1...Int.max) ?? $0.minRequests },
        Field("recovery", .duration, doc: "How long the ratio stays below the threshold before the incident closes (default 60s).") { $0.recovery = $1.duration() ?? $0.recovery },
        Field("spike_factor", .number(0...Double.infinity), doc: "Requests per second over the baseline that mark a traffic spike: 0 (off) or at least 1.5 (default 4).") { settings, value in
            guard let factor = value.number() else { return }
            // Below 1 every second would be a spike.
            guard factor == 0 || factor >= 1.5 else {
                value.error("\(value.subject) must be 0 (off) or at least 1.5, got \(factor)")
                return
            }
            settings.spikeFactor = factor
        },
        Field("interval", .duration, doc: "How often the counters are sampled (default 1s, at least 10ms).") { settings, value in
            guard let interval = value.duration() else { return }
            guard interval >= .milliseconds(10) else {
                value.error("\(value.subject) must be at least 10ms")
                return
            }
            settings.interval = interval
        },
    ]
}

extension Webhook {
    /// A draft: the URL is required, the rest have defaults.
    struct Draft {
        var url: HTTPURL?
        var format = Format.json
        var timeout = Duration.seconds(5)
        var retries = 3

        static let fields: [Field<Draft>] = [
            Field("url", .url, required: true, doc: "The webhook URL (http or https).") { $0.url = $1.url() },
            Field("format", .choice(Format.self), doc: "json (the incident) or slack (a text message).") { $0.format = $1.choice("webhook format", of: Format.self) ?? $0.format },
            Field("timeout", .duration, doc: "Time limit of one delivery attempt (default 5s).") { $0.timeout = $1.duration() ?? $0.timeout },
            Field("retries", .integer(0...20), doc: "Further attempts after a failed one, with backoff (default 3).") { $0.retries = $1.int(0...20) ?? $0.retries },
        ]
    }

    static func read(_ value: Value) -> Webhook? {
        var draft = Draft()
        value.walk(fields: Draft.fields, into: &draft)
        guard let url = draft.url else { return nil }
        return Webhook(url: url, format: draft.format, timeout: draft.timeout, retries: draft.retries)
    }
}

extension Storage {
    struct Draft {
        var path: String?
        var retention = Duration.seconds(7 * 86_400)
        var maxErrors = 100_000

        static let fields: [Field<Draft>] = [
            Field("path", .nonEmptyText, required: true, doc: "The SQLite database file (created if missing).") { $0.path = $1.nonEmptyString() },
            Field("retention", .anyOf(.duration, .pattern("^[1-9][0-9]*d$", hint: "days, such as 7d", sample: "7d")), doc: "How long errors and incidents are kept: 7d, 12h (default 7d).") { $0.retention = $1.longDuration() ?? $0.retention },
            Field("max_errors", .integer(1...100_000_000), doc: "The most errors kept (default 100000).") { $0.maxErrors = $1.int(1...100_000_000) ?? $0.maxErrors },
        ]
    }

    static func read(_ value: Value) -> Storage? {
        var draft = Draft()
        value.walk(fields: Draft.fields, into: &draft)
        guard let path = draft.path else { return nil }
        return Storage(path: path, retention: draft.retention, maxErrors: draft.maxErrors)
    }
}

extension Value {
    /// A plain number (`4`, `2.5`).
    func number() -> Double? {
        guard case .scalar(let scalar) = self.node, let number = Double(scalar.string), number.isFinite else {
            self.error("expected a number for \(self.subject), got \(Walker.describe(self.node))")
            return nil
        }
        return number
    }

    /// A share written `0.05` or `5%`, above 0 and at most 1.
    /// A share written as a number (`0.05`) or a percentage (`5%`), above 0 (or from 0 when
    /// `allowingZero`) and at most 1.
    func ratio(allowingZero: Bool = false, example: String = "0.05 or 5%") -> Double? {
        guard case .scalar(let scalar) = self.node, !Walker.isNull(scalar) else {
            self.error("expected a ratio for \(self.subject) (\(example)), got \(Walker.describe(self.node))")
            return nil
        }
        let text = scalar.string
        let number = text.hasSuffix("%") ? Double(text.dropLast()).map { $0 / 100 } : Double(text)
        guard let number, number.isFinite, allowingZero ? number >= 0 : number > 0, number <= 1 else {
            let range = allowingZero ? "from 0 to 1" : "above 0 and at most 1"
            self.error("\(self.subject) must be a ratio \(range) (\(example)), got '\(text)'")
            return nil
        }
        return number
    }

    /// A duration that may also be written in days (`7d`), for retention periods.
    func longDuration() -> Duration? {
        guard let text = self.string() else { return nil }
        if text.hasSuffix("d"), let days = Int(text.dropLast()) {
            guard days > 0, days <= 36_500 else {
                self.error("\(self.subject) must be between 1d and 36500d, got '\(text)'")
                return nil
            }
            return .seconds(days * 86_400)
        }
        return self.duration()
    }
}
