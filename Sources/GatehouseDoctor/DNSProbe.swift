import GatehouseCore
import GatehouseErrors
import NIOCore
import NIOPosix
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// What resolving the target's name gave.
public struct DNSOutcome: Sendable, Hashable {
    /// Why resolution failed.
    public enum Failure: Sendable, Hashable {
        /// getaddrinfo answered this `EAI_*` code.
        case lookup(code: Int32, message: String)
        /// No answer within the doctor's time limit (getaddrinfo was still waiting on the resolver).
        case timedOut(Duration)
    }

    /// The addresses, in the order getaddrinfo sorted them (RFC 6724), duplicates removed.
    public var addresses: [SocketAddress]
    public var elapsed: Duration
    public var failure: Failure?
    /// The host was an IP literal: nothing was looked up.
    public var literal: Bool

    public init(addresses: [SocketAddress], elapsed: Duration, failure: Failure? = nil, literal: Bool = false) {
        self.addresses = addresses
        self.elapsed = elapsed
        self.failure = failure
        self.literal = literal
    }
}

/// Resolves with the system resolver (getaddrinfo, as the gateway does), on a thread of NIO's pool, timed.
enum DNSProbe {
    static func resolve(host: String, port: Int, timeout: Duration) async -> DNSOutcome {
        if let literal = try? SocketAddress(ipAddress: host, port: port) {
            return DNSOutcome(addresses: [literal], elapsed: .zero, literal: true)
        }
        return await withCheckedContinuation { continuation in
            let once = ResumeOnce(continuation)
            // getaddrinfo cannot be cancelled: on timeout the thread finishes on its own and its answer
            // is dropped; the resolver's own timeouts (resolv.conf) bound it.
            let timer = Task {
                try? await Task.sleep(for: timeout)
                if !Task.isCancelled { once.resume(DNSOutcome(addresses: [], elapsed: timeout, failure: .timedOut(timeout))) }
            }
            NIOThreadPool.singleton.submit { _ in
                once.resume(Self.lookup(host: host, port: port))
                timer.cancel()
            }
        }
    }

    private static func lookup(host: String, port: Int) -> DNSOutcome {
        let clock = ContinuousClock()
        let start = clock.now
        let result = SystemResolver.lookup(host: host, port: port)
        let elapsed = clock.now - start
        switch result {
        case .success(let addresses):
            return DNSOutcome(addresses: addresses, elapsed: elapsed)
        case .failure(let failure):
            return DNSOutcome(addresses: [], elapsed: elapsed, failure: .lookup(code: failure.code, message: failure.message))
        }
    }
}

/// Judges a resolution. Pure.
public enum DNSDiagnosis {
    /// The `dns` step. getaddrinfo's codes are what the gateway's resolver sees too, and the mapping is
    /// ``ProxyFailure``'s: EAI_AGAIN ("try again": the resolver timed out or answered SERVFAIL — the
    /// API cannot tell which) is `dns_timeout`, every other failure `dns_error`.
    public static func step(_ outcome: DNSOutcome, host: String) -> StepResult {
        if outcome.literal { return StepResult(.ok, "\(host) is an IP address: nothing to resolve") }
        switch outcome.failure {
        case .none:
            guard !outcome.addresses.isEmpty else {
                let cause = "\(host) resolved to no usable address"
                return StepResult(.failed, cause, finding: Finding(error: .dnsError, cause: cause))
            }
            let list = outcome.addresses.compactMap(\.ipAddress)
            return StepResult(.ok, "\(host) → " + list.joined(separator: ", "))
        case .timedOut(let limit):
            let cause =
                "resolving \(host) got no answer within \(Format.limit(limit)): the resolver is not answering (timeout)"
            return StepResult(.failed, cause, finding: Finding(error: .dnsTimeout, cause: cause))
        case .lookup(let code, let message):
            let (error, rcode) = SystemResolver.classify(code: code)
            let cause = "resolving \(host) failed: \(rcode) (\(message), \(SystemResolver.name(of: code)))"
            var fix = error.fixHint
            if error == .dnsError, host.hasSuffix(".invalid") || host.hasSuffix(".invalid.") {
                fix = "Fix the address: names under .invalid never resolve (RFC 6761)."
            }
            return StepResult(.failed, cause, finding: Finding(error: error, cause: cause, fix: fix))
        }
    }
}

/// Resumes a continuation once, whichever of several racers (an answer, a timer) comes first.
final class ResumeOnce<Value: Sendable>: Sendable {
    private let continuation: Mutex<CheckedContinuation<Value, Never>?>

    init(_ continuation: CheckedContinuation<Value, Never>) {
        self.continuation = Mutex(continuation)
    }

    func resume(_ value: Value) {
        let taken = self.continuation.withLock { stored -> CheckedContinuation<Value, Never>? in
            defer { stored = nil }
            return stored
        }
        taken?.resume(returning: value)
    }
}
