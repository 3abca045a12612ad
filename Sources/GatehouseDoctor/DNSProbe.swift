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
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        #if canImport(Darwin)
        hints.ai_socktype = SOCK_STREAM
        #else
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        #endif
        hints.ai_protocol = Int32(IPPROTO_TCP)
        var list: UnsafeMutablePointer<addrinfo>?
        let code = getaddrinfo(host, String(port), &hints, &list)
        let elapsed = clock.now - start
        defer { if let list { freeaddrinfo(list) } }
        guard code == 0 else {
            var message = String(cString: gai_strerror(code))
            if code == EAI_SYSTEM { message += ": " + String(cString: strerror(errno)) }
            return DNSOutcome(addresses: [], elapsed: elapsed, failure: .lookup(code: code, message: message))
        }
        var addresses: [SocketAddress] = []
        var cursor = list
        while let entry = cursor {
            if let address = Self.socketAddress(entry.pointee, host: host), !addresses.contains(address) {
                addresses.append(address)
            }
            cursor = entry.pointee.ai_next
        }
        return DNSOutcome(addresses: addresses, elapsed: elapsed)
    }

    private static func socketAddress(_ info: addrinfo, host: String) -> SocketAddress? {
        guard let pointer = info.ai_addr else { return nil }
        switch info.ai_family {
        case AF_INET:
            return pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { SocketAddress($0.pointee, host: host) }
        case AF_INET6:
            return pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { SocketAddress($0.pointee, host: host) }
        default:
            return nil
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
            let (error, rcode) = Self.classify(code: code)
            let cause = "resolving \(host) failed: \(rcode) (\(message), \(Self.name(of: code)))"
            var fix = error.fixHint
            if error == .dnsError, host.hasSuffix(".invalid") || host.hasSuffix(".invalid.") {
                fix = "Fix the address: names under .invalid never resolve (RFC 6761)."
            }
            return StepResult(.failed, cause, finding: Finding(error: error, cause: cause, fix: fix))
        }
    }

    /// glibc's EAI_NODATA and EAI_ADDRFAMILY: defined only under _GNU_SOURCE, so Swift does not import them.
    #if canImport(Glibc)
    static let eaiNoData: Int32 = -5
    static let eaiAddressFamily: Int32 = -9
    #else
    static let eaiNoData: Int32 = Int32.min
    static let eaiAddressFamily: Int32 = Int32.min + 1
    #endif

    /// The Proxy-Status type and the DNS answer it stands for (the `rcode` of `dns_error`).
    public static func classify(code: Int32) -> (ProxyStatusError, String) {
        switch code {
        case EAI_NONAME: return (.dnsError, "NXDOMAIN, the name does not exist")
        case EAI_AGAIN: return (.dnsTimeout, "timeout or SERVFAIL, the resolver did not give an answer")
        case EAI_FAIL: return (.dnsError, "non-recoverable resolver failure (REFUSED or FORMERR)")
        case Self.eaiNoData: return (.dnsError, "NODATA, the name exists but has no address")
        case Self.eaiAddressFamily: return (.dnsError, "NODATA, no address of a usable family")
        default: return (.dnsError, "resolver error")
        }
    }

    /// `EAI_NONAME` and friends, for the report.
    static func name(of code: Int32) -> String {
        switch code {
        case EAI_NONAME: return "EAI_NONAME"
        case EAI_AGAIN: return "EAI_AGAIN"
        case EAI_FAIL: return "EAI_FAIL"
        case EAI_SYSTEM: return "EAI_SYSTEM"
        case EAI_MEMORY: return "EAI_MEMORY"
        case Self.eaiNoData: return "EAI_NODATA"
        case Self.eaiAddressFamily: return "EAI_ADDRFAMILY"
        default: return "EAI \(code)"
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
