import GatehouseErrors

/// A period during which a cluster's gateway-error ratio stayed above the alert threshold: what
/// `/admin/incidents` lists, what the webhooks are told, what the incident store keeps.
public struct Incident: Sendable, Equatable {
    /// `inc-<start ms>-<cluster>`: unique per cluster (one incident at a time) and sortable.
    public var id: String
    public var cluster: String
    /// Wall clock, milliseconds since the epoch.
    public var startMillis: Int64
    /// When it was resolved; nil while open.
    public var endMillis: Int64?
    /// The last tick that changed it (what an interrupted incident ends at).
    public var updatedMillis: Int64
    /// Requests and gateway errors of the cluster from the window that opened it to its end.
    public var requests: Int
    public var errors: Int
    public var errorsByType: [ProxyStatusError: Int]
    public var errorsByServer: [String: Int]
    /// A few request ids of its errors, the first ones: the way into the access and error logs.
    public var sampleRequestIDs: [String]
    /// The highest error ratio over the window while it was open.
    public var peakRatio: Double
    /// Set when the requests per second jumped along with the errors.
    public var spike: Spike?
    /// The gateway stopped while the incident was open: its end is the last thing known of it.
    public var interrupted: Bool

    public static let maxSamples = 5

    public init(
        id: String, cluster: String, startMillis: Int64, endMillis: Int64? = nil, updatedMillis: Int64, requests: Int,
        errors: Int, errorsByType: [ProxyStatusError: Int], errorsByServer: [String: Int], sampleRequestIDs: [String],
        peakRatio: Double, spike: Spike? = nil, interrupted: Bool = false
    ) {
        self.id = id
        self.cluster = cluster
        self.startMillis = startMillis
        self.endMillis = endMillis
        self.updatedMillis = updatedMillis
        self.requests = requests
        self.errors = errors
        self.errorsByType = errorsByType
        self.errorsByServer = errorsByServer
        self.sampleRequestIDs = sampleRequestIDs
        self.peakRatio = peakRatio
        self.spike = spike
        self.interrupted = interrupted
    }

    public var isOpen: Bool { self.endMillis == nil }

    /// The Proxy-Status type with the most errors (ties: RFC order, for a stable answer).
    public var cause: ProxyStatusError? {
        ProxyStatusError.allCases.reduce(nil) { best, type in
            let count = self.errorsByType[type] ?? 0
            guard count > 0 else { return best }
            guard let best else { return type }
            return count > (self.errorsByType[best] ?? 0) ? type : best
        }
    }

    /// The servers that failed, most errors first.
    public var affectedServers: [(server: String, errors: Int)] {
        self.errorsByServer.map { (server: $0.key, errors: $0.value) }.sorted {
            $0.errors != $1.errors ? $0.errors > $1.errors : $0.server < $1.server
        }
    }

    /// "traffic spike ×8 with 502s: possible overload or attack", when there was one.
    public var hint: String? {
        guard let spike = self.spike else { return nil }
        let status = self.cause.map { "\($0.statusCode)s" } ?? "errors"
        return "traffic spike ×\(Spike.shown(spike.factor)) with \(status): possible overload or attack"
    }

    /// One line for people: "cluster app: 42% gateway errors, mostly connection_refused (502)".
    public var summary: String {
        let ratio = Int((self.peakRatio * 100).rounded())
        var text = "cluster \(self.cluster): up to \(ratio)% gateway errors"
        if let cause = self.cause { text += ", mostly \(cause.token) (\(cause.statusCode))" }
        return text
    }

    /// A jump in requests per second that came with the errors.
    public struct Spike: Sendable, Equatable {
        /// The highest window rate over the baseline rate.
        public var factor: Double
        public var baselinePerSecond: Double
        public var peakPerSecond: Double
        /// The heaviest clients while the spike lasted (counted only then).
        public var topClients: [ClientCount]

        public init(factor: Double, baselinePerSecond: Double, peakPerSecond: Double, topClients: [ClientCount] = []) {
            self.factor = factor
            self.baselinePerSecond = baselinePerSecond
            self.peakPerSecond = peakPerSecond
            self.topClients = topClients
        }

        /// `8` or `2.5`.
        static func shown(_ factor: Double) -> String {
            factor >= 10 ? String(Int(factor.rounded())) : String(Double(Int(factor * 10)) / 10).replacingSuffix(".0")
        }
    }
}

/// A client address and how many requests it sent while counted.
public struct ClientCount: Sendable, Equatable {
    public var address: String
    public var requests: Int

    public init(address: String, requests: Int) {
        self.address = address
        self.requests = requests
    }
}

/// What happened to an incident at a tick.
public enum IncidentChange: String, Sendable, Equatable {
    case opened
    /// Its counts grew while open.
    case updated
    case resolved
}

/// Receives what the error history and the incident monitor produce: the seam through which the
/// incident store (SQLite) and the webhooks get them, without Core depending on either.
public protocol IncidentSink: Sendable {
    /// A gateway error. Called on a data-path event loop for failed requests: queue and return.
    func errorRecorded(_ entry: GatewayErrorEntry)
    /// An incident opened, grew or was resolved. Called on the monitor's tick: queue and return.
    func incidentChanged(_ incident: Incident, change: IncidentChange)
}

extension String {
    fileprivate func replacingSuffix(_ suffix: String) -> String {
        self.hasSuffix(suffix) ? String(self.dropLast(suffix.count)) : self
    }
}
