import Foundation
import GatehouseConfig
import Synchronization

@testable import GatehouseCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The loopback tests of retries, the keep-alive race and the circuit breakers (real sockets on
/// 127.0.0.1, port 0): `swift test --filter Resilience`.
enum Resilience {
    /// One try of a retried request, as the access log lists it.
    struct Attempt: Equatable, CustomStringConvertible {
        var server: String
        var error: String?
        var description: String { "\(self.server): \(self.error ?? "answered")" }
    }

    /// The `attempts` of an access-log line (empty when the request had a single try).
    static func attempts(_ line: [String: Any]) -> [Attempt] {
        guard let list = line["attempts"] as? [[String: Any]] else { return [] }
        return list.map { Attempt(server: $0["server"] as? String ?? "?", error: $0["error"] as? String) }
    }

    /// Checks `condition` every few milliseconds until it holds; false if it still does not after `timeout`.
    static func eventually(within timeout: Duration = .seconds(10), _ condition: () -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while !condition() {
            if ContinuousClock.now > deadline { return false }
            try await Task.sleep(for: .milliseconds(5))
        }
        return true
    }

    /// A POST with a `Content-Length` body.
    static func post(_ path: String, body: String) -> String {
        "POST \(path) HTTP/1.1\r\nHost: example.test\r\nContent-Type: text/plain\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
    }

    /// The circuit breakers of the gateway's first cluster (`app`).
    static func breaker(_ gateway: TestGateway) -> ClusterBreaker {
        gateway.proxy.snapshot.clusters[0].breaker
    }

    /// Whether the cluster's breakers hold nothing but `connections` open connections (the pooled ones).
    static func breakerIsIdle(_ gateway: TestGateway, connections: Int) -> Bool {
        let breaker = Self.breaker(gateway)
        return breaker.requests.load(ordering: .relaxed) == 0 && breaker.pending.load(ordering: .relaxed) == 0
            && breaker.connections.load(ordering: .relaxed) == connections
    }
}

/// A listening socket on 127.0.0.1 that never accepts, with its one-slot accept queue already
/// full: a connect to it gets no answer (the kernel drops the SYN) until the connect timeout.
final class StalledListener: Sendable {
    let port: Int
    private let listener: Int32
    private let filler: Int32

    init() throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard listener >= 0 else { throw TestClientError(description: "socket: errno \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(listener, 0) == 0 else {
            close(listener)
            throw TestClientError(description: "bind/listen: errno \(errno)")
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) }
        }
        // The one connection the queue holds (backlog 0 still admits one): later SYNs are dropped.
        let filler = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(filler, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard filler >= 0, connected == 0 else {
            close(listener)
            if filler >= 0 { close(filler) }
            throw TestClientError(description: "filler connect: errno \(errno)")
        }
        self.listener = listener
        self.filler = filler
        self.port = Int(UInt16(bigEndian: address.sin_port))
    }

    var address: HostPort { HostPort(host: "127.0.0.1", port: self.port) }

    /// Accepts the filler, freeing the queue's slot: a connect that is waiting completes with the
    /// kernel's next SYN retransmission (about a second after its first SYN).
    func admitOne() throws {
        let accepted = accept(self.listener, nil, nil)
        guard accepted >= 0 else { throw TestClientError(description: "accept: errno \(errno)") }
        close(accepted)
    }

    func stop() {
        close(self.filler)
        close(self.listener)
    }
}

/// A blocking TCP client on 127.0.0.1 that sends bytes and then leaves with a reset (SO_LINGER 0):
/// the gateway learns at once, by a read error, that its client is gone.
final class ResettingClient {
    private var socketFD: Int32

    init(port: Int) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestClientError(description: "socket: errno \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            close(fd)
            throw TestClientError(description: "connect: errno \(errno)")
        }
        self.socketFD = fd
    }

    func send(_ text: String) throws {
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { Glibc.send(self.socketFD, $0.baseAddress, $0.count, 0) }
        guard written == bytes.count else { throw TestClientError(description: "send: errno \(errno)") }
    }

    func reset() {
        guard self.socketFD >= 0 else { return }
        var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
        _ = setsockopt(self.socketFD, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
        close(self.socketFD)
        self.socketFD = -1
    }

    deinit {
        if self.socketFD >= 0 { close(self.socketFD) }
    }
}
