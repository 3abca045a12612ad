import GatehouseErrors
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The system resolver (getaddrinfo, with resolv.conf and nsswitch as every other program on the
/// host sees them): what the gateway resolves servers with, and what `doctor` diagnoses.
public enum SystemResolver {
    /// getaddrinfo answered an `EAI_*` code.
    public struct Failure: Error, Sendable, Hashable, CustomStringConvertible {
        public var code: Int32
        public var message: String

        public var description: String { "\(SystemResolver.name(of: self.code)): \(self.message)" }
    }

    /// Resolves on a thread of NIO's blocking pool (getaddrinfo blocks) and completes on `eventLoop`.
    static func resolve(host: String, port: Int, on eventLoop: any EventLoop) -> EventLoopFuture<Result<[SocketAddress], Failure>> {
        NIOThreadPool.singleton.runIfActive(eventLoop: eventLoop) { Self.lookup(host: host, port: port) }
    }

    /// One blocking lookup: the TCP addresses in getaddrinfo's order (RFC 6724), duplicates removed.
    public static func lookup(host: String, port: Int) -> Result<[SocketAddress], Failure> {
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
        defer { if let list { freeaddrinfo(list) } }
        guard code == 0 else {
            var message = String(cString: gai_strerror(code))
            if code == EAI_SYSTEM { message += ": " + String(cString: strerror(errno)) }
            return .failure(Failure(code: code, message: message))
        }
        var addresses: [SocketAddress] = []
        var cursor = list
        while let entry = cursor {
            if let address = Self.socketAddress(entry.pointee, host: host), !addresses.contains(address) {
                addresses.append(address)
            }
            cursor = entry.pointee.ai_next
        }
        return .success(addresses)
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

    /// glibc's EAI_NODATA and EAI_ADDRFAMILY: defined only under _GNU_SOURCE, so Swift does not import them.
    #if canImport(Glibc)
    static let eaiNoData: Int32 = -5
    static let eaiAddressFamily: Int32 = -9
    #else
    static let eaiNoData: Int32 = Int32.min
    static let eaiAddressFamily: Int32 = Int32.min + 1
    #endif

    /// The Proxy-Status type and the DNS answer a getaddrinfo code stands for (the `rcode` of
    /// `dns_error`). EAI_AGAIN ("try again": the resolver timed out or answered SERVFAIL — the API
    /// cannot tell which) is `dns_timeout`, every other failure `dns_error`.
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

    /// `EAI_NONAME` and friends, for reports.
    public static func name(of code: Int32) -> String {
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
