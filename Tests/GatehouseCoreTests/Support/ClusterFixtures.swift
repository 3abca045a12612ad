import Foundation
import GatehouseConfig

/// Settings shared by the loopback tests of health, balancing and the admin API: short enough to
/// keep the suite fast, with slack for a busy two-core machine.
enum Fixtures {
    /// An admin server on a free loopback port, without a token.
    static let admin = Admin(address: HostPort(host: "127.0.0.1", port: 0))

    /// Upstream time limits for tests that never expect a timeout.
    static let timeouts = Cluster.Timeouts(
        connect: .seconds(1), responseHeader: .seconds(10), idle: .seconds(10), request: .seconds(30))

    /// An HTTP health check every `interval` (± 10 %), failing after 500 ms.
    static func check(
        path: String = "/", interval: Duration = .milliseconds(100), fall: Int = 2, rise: Int = 2
    ) -> Cluster.HealthCheck {
        Cluster.HealthCheck(
            kind: .http(path: path), interval: interval, jitter: interval / 10, timeout: .milliseconds(500),
            healthyThreshold: rise, unhealthyThreshold: fall)
    }

    /// A figure for the lead's notes: one line on stderr, prefixed so it can be grepped out of the run.
    static func report(_ line: String) {
        FileHandle.standardError.write(Data("[gatehouse-figures] \(line)\n".utf8))
    }
}
