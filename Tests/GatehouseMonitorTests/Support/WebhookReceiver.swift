import Foundation
import GatehouseConfig
import GatehouseOrigins

/// The monitor's view of the loopback webhook receiver: its URL as the monitor takes it, bodies as alerts.
extension WebhookReceiver {
    var url: HTTPURL { HTTPURL(scheme: .http, host: "127.0.0.1", port: self.port, path: "/hook") }

    /// Every alert received so far, in arrival order.
    var alerts: [[String: Any]] {
        self.bodies.compactMap { body in
            (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any]
        }
    }

    /// Waits (bounded) for alerts whose `event` values, in order, start with `events`.
    func waitForEvents(_ events: [String], timeout: Duration = .seconds(20)) async throws -> [[String: Any]] {
        try await waitUntil("webhook events \(events)", timeout: timeout) {
            let alerts = self.alerts
            return alerts.count >= events.count ? alerts : nil
        }
    }
}

/// A condition that did not come true before its deadline.
struct TimedOut: Error, CustomStringConvertible {
    var description: String
}

/// Polls `condition` until it returns a value, or throws after `timeout`: tests wait on conditions,
/// never on fixed sleeps.
func waitUntil<T>(
    _ what: String, timeout: Duration = .seconds(20), _ condition: () async throws -> T?
) async throws -> T {
    let deadline = ContinuousClock.now + timeout
    while true {
        if let value = try await condition() { return value }
        guard ContinuousClock.now < deadline else { throw TimedOut(description: "timed out waiting for \(what)") }
        try await Task.sleep(for: .milliseconds(10))
    }
}
