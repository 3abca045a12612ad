import GatehouseErrors

/// The JSON of errors and incidents: `/admin/errors`, `/admin/incidents`, the webhooks' body and the
/// store's incident documents all use these, so there is one spelling of each field.
public enum IncidentJSON {
    public static func error(_ entry: GatewayErrorEntry) -> String {
        var item = "{\"time\":\"\(entry.time)\",\"request_id\":\(q(entry.requestID)),\"method\":\(q(entry.method))"
        item += ",\"route\":" + (entry.route.map(q) ?? "null")
        item += ",\"cluster\":" + (entry.cluster.map(q) ?? "null")
        item += ",\"server\":" + (entry.server.map(q) ?? "null")
        item += ",\"proxy_status\":\"\(entry.type.token)\",\"status\":\(entry.status)"
        item += ",\"details\":" + (entry.details.map(q) ?? "null")
        item += ",\"cause\":" + q(entry.type.summary) + ",\"fix\":" + q(entry.type.fixHint)
        item += ",\"connect_ms\":" + RequestRecord.milliseconds(entry.connectMilliseconds)
        item += ",\"header_ms\":" + RequestRecord.milliseconds(entry.headerMilliseconds)
        item += ",\"total_ms\":" + RequestRecord.milliseconds(entry.totalMilliseconds)
        if entry.servedStale { item += ",\"served_stale\":true" }
        return item + ",\"attempts\":\(entry.attempts)}"
    }

    public static func errors(_ entries: [GatewayErrorEntry]) -> String {
        "{\"errors\":[" + entries.map(Self.error).joined(separator: ",") + "]}\n"
    }

    public static func incident(_ incident: Incident) -> String {
        var json = "{\"id\":\(q(incident.id)),\"cluster\":\(q(incident.cluster)),\"open\":\(incident.isOpen)"
        json += ",\"start\":\"\(Self.time(incident.startMillis))\",\"start_ms\":\(incident.startMillis)"
        json += ",\"end\":" + (incident.endMillis.map { "\"\(Self.time($0))\"" } ?? "null")
        json += ",\"end_ms\":" + (incident.endMillis.map { String($0) } ?? "null")
        json += ",\"updated_ms\":\(incident.updatedMillis),\"interrupted\":\(incident.interrupted)"
        json += ",\"cause\":" + (incident.cause.map { "\"\($0.token)\"" } ?? "null")
        json += ",\"cause_summary\":" + (incident.cause.map { q($0.summary) } ?? "null")
        json += ",\"requests\":\(incident.requests),\"errors\":\(incident.errors)"
        json += ",\"peak_ratio\":\(Self.ratio(incident.peakRatio)),\"errors_by_type\":{"
        json += ProxyStatusError.allCases.compactMap { type in
            incident.errorsByType[type].map { "\"\(type.token)\":\($0)" }
        }.joined(separator: ",")
        json += "},\"servers\":["
        json += incident.affectedServers.map { "{\"server\":\(q($0.server)),\"errors\":\($0.errors)}" }.joined(separator: ",")
        json += "],\"sample_request_ids\":[" + incident.sampleRequestIDs.map(q).joined(separator: ",") + "]"
        json += ",\"hint\":" + (incident.hint.map(q) ?? "null") + ",\"spike\":"
        if let spike = incident.spike {
            json += "{\"factor\":\(Self.ratio(spike.factor)),\"baseline_per_second\":\(Self.ratio(spike.baselinePerSecond))"
            json += ",\"peak_per_second\":\(Self.ratio(spike.peakPerSecond)),\"top_clients\":["
            json += spike.topClients.map { "{\"address\":\(q($0.address)),\"requests\":\($0.requests)}" }.joined(separator: ",")
            json += "]}"
        } else {
            json += "null"
        }
        return json + "}"
    }

    public static func incidents(_ incidents: [Incident]) -> String {
        "{\"incidents\":[" + incidents.map(Self.incident).joined(separator: ",") + "]}\n"
    }

    public static func time(_ millis: Int64) -> String {
        RequestRecord.iso8601(seconds: Int(millis / 1000), nanoseconds: Int(millis % 1000) * 1_000_000)
    }

    /// Four decimals at most; JSON has no NaN or infinity.
    static func ratio(_ value: Double) -> String {
        guard value.isFinite else { return "0" }
        return String((value * 10_000).rounded() / 10_000)
    }

    private static func q(_ text: String) -> String { JSONText.quoted(text) }
}
