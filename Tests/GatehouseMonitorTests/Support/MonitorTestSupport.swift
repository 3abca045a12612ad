import GatehouseConfig
import GatehouseDoctor
import GatehouseMonitor
import NIOCore

extension MonitorService {
    /// `GET /metrics` through doctor's hops (the same client the probes use).
    func scrape() async -> String {
        guard let address = self.metricsAddress, let port = address.port else { return "" }
        let run = await HopProber().run(
            ProbeTarget(scheme: .http, host: "127.0.0.1", port: port, path: "/metrics"),
            request: HopRequest(keepBody: 1 << 20), timeout: .seconds(5))
        return String(decoding: run.body, as: UTF8.self)
    }
}

/// A fast target for loopback tests: probes every 50 ms (no assertion depends on the timing).
func fastTarget(_ name: String, port: Int, path: String = "/", retries: Int = 2) -> MonitorTarget {
    MonitorTarget(
        name: name, url: HTTPURL(scheme: .http, host: "127.0.0.1", port: port, path: path),
        interval: .milliseconds(50), timeout: .seconds(2), retries: retries)
}

extension Dictionary where Key == String, Value == Any {
    /// `alert["cause"]["hop"]` as a string.
    func cause(_ field: String) -> String? {
        (self["cause"] as? [String: Any])?[field] as? String
    }
}
