import GatehouseCore
import GatehouseErrors
import NIOCore
import NIOPosix

/// One connect attempt, as the report needs it.
public struct TCPAttemptSummary: Sendable, Hashable {
    /// `127.0.0.1:8080`.
    public var address: String
    public var elapsed: Duration
    /// The classified failure; `nil` when connected.
    public var error: ProxyStatusError?
    /// The system's words for it (`Connection refused`).
    public var details: String?

    public init(address: String, elapsed: Duration, error: ProxyStatusError? = nil, details: String? = nil) {
        self.address = address
        self.elapsed = elapsed
        self.error = error
        self.details = details
    }
}

/// Connects to each resolved address, timed, with the doctor's time limit.
enum TCPProbe {
    /// At most this many addresses are tried: a name with dozens of A records needs no more to judge.
    static let maximumAddresses = 4

    /// Connects to every address at once; returns the attempts in address order and the first
    /// connected channel (the others are closed).
    static func connect(_ addresses: [SocketAddress], timeout: Duration, group: any EventLoopGroup) async
        -> (attempts: [TCPAttemptSummary], channel: (any Channel)?, address: SocketAddress?)
    {
        let tried = Array(addresses.prefix(Self.maximumAddresses))
        let results = await withTaskGroup(of: (Int, TCPAttemptSummary, (any Channel)?).self) { group_ in
            for (index, address) in tried.enumerated() {
                group_.addTask {
                    let (summary, channel) = await Self.connect(address, timeout: timeout, group: group)
                    return (index, summary, channel)
                }
            }
            var collected: [(Int, TCPAttemptSummary, (any Channel)?)] = []
            for await result in group_ { collected.append(result) }
            return collected.sorted { $0.0 < $1.0 }
        }
        var chosen: (channel: any Channel, address: SocketAddress)?
        for (index, _, channel) in results {
            guard let channel else { continue }
            if chosen == nil {
                chosen = (channel, tried[index])
            } else {
                try? await channel.close()
            }
        }
        return (results.map(\.1), chosen?.channel, chosen?.address)
    }

    /// One bare TCP connection (no handlers: TLS and HTTP are added once it is up, so each is timed apart).
    static func connect(_ address: SocketAddress, timeout: Duration, group: any EventLoopGroup) async
        -> (TCPAttemptSummary, (any Channel)?)
    {
        let clock = ContinuousClock()
        let start = clock.now
        let display = Self.display(address)
        do {
            // TCP_NODELAY: ClientBootstrap sets it by default.
            let channel = try await ClientBootstrap(group: group)
                .connectTimeout(TimeAmount(timeout))
                .connect(to: address).get()
            return (TCPAttemptSummary(address: display, elapsed: clock.now - start), channel)
        } catch {
            // The data path's own classification: a refused probe and a refused request say the same token.
            let failure = ProxyFailure.classify(error, phase: .connect, nextHop: display)
            return (
                TCPAttemptSummary(address: display, elapsed: clock.now - start, error: failure.type, details: failure.details),
                nil
            )
        }
    }

    /// `127.0.0.1:8080`, `[::1]:8080`.
    static func display(_ address: SocketAddress) -> String {
        let ip = address.ipAddress ?? "?"
        let port = address.port ?? 0
        return ip.contains(":") ? "[\(ip)]:\(port)" : "\(ip):\(port)"
    }
}

/// Judges the connect attempts. Pure.
public enum TCPDiagnosis {
    /// The `tcp` step: all connected → ok; some → warning (the gateway falls back, slower); none → the
    /// first address's failure.
    public static func step(_ attempts: [TCPAttemptSummary], timeout: Duration) -> StepResult {
        let parts = attempts.map { attempt in
            attempt.error == nil
                ? "\(attempt.address) connected in \(Format.observed(attempt.elapsed))"
                : "\(attempt.address) \(Self.words(attempt, timeout: timeout))"
        }
        let detail = parts.joined(separator: " · ")
        let failed = attempts.filter { $0.error != nil }
        guard let first = failed.first else { return StepResult(.ok, detail) }
        if failed.count < attempts.count {
            let cause =
                "\(failed.count) of \(attempts.count) addresses fail (\(first.address): \(Self.words(first, timeout: timeout))): connections that try it first are slower or fail"
            return StepResult(
                .warning, detail + " — " + cause,
                finding: Finding(error: nil, cause: cause, fix: "Remove the dead address from DNS, or make the upstream listen on it too."))
        }
        let error = first.error ?? .connectionRefused
        let cause: String
        switch error {
        case .connectionRefused: cause = "nothing listens on \(first.address): connection refused"
        case .connectionTimeout:
            cause = "no answer from \(first.address) within \(Format.limit(timeout)): the host is down or a firewall drops the SYN"
        case .destinationIPUnroutable: cause = "\(first.address) is unreachable: \(first.details ?? "no route to host")"
        default: cause = "connecting to \(first.address) failed: \(first.details ?? error.summary)"
        }
        return StepResult(.failed, detail, finding: Finding(error: error, cause: cause))
    }

    private static func words(_ attempt: TCPAttemptSummary, timeout: Duration) -> String {
        switch attempt.error {
        case .connectionRefused: return "refused after \(Format.observed(attempt.elapsed))"
        case .connectionTimeout: return "timed out after \(Format.limit(timeout))"
        default: return "failed: \(attempt.details ?? attempt.error?.token ?? "error")"
        }
    }
}
