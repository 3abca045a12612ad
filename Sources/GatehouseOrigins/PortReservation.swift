import NIOCore
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A TCP port held without listening: connecting to it is refused (ECONNREFUSED), and no server
/// started meanwhile can be given it.
///
/// A port that is merely closed again (bind, close) is free for the next `bind(port: 0)` of anyone
/// in the process, and some kernels (gVisor's, here) hand a just-freed port out again far more often
/// than chance; in a test suite that runs in parallel, "the refusing server" then answers. A bound
/// socket that never listens keeps the port: with `reuseAddress` false nobody can bind it at all;
/// with it true (needed when the port still has connections in TIME_WAIT) the system no longer
/// picks it for `port: 0`, and only an explicit bind of that very port with SO_REUSEADDR succeeds.
public final class PortReservation: Sendable {
    /// The reserved port.
    public let port: Int
    private let descriptor: Mutex<Int32?>

    /// Binds a socket to `host:port` (0 = a free port) without listening.
    /// - Throws: `LoopbackOriginError` when the address is not an IP literal or the bind fails.
    public init(host: String = "127.0.0.1", port: Int = 0, reuseAddress: Bool = false) throws {
        let address: SocketAddress
        do {
            address = try SocketAddress(ipAddress: host, port: port)
        } catch {
            throw LoopbackOriginError("cannot reserve \(host):\(port): \(error)")
        }
        let family: Int32
        switch address {
        case .v4: family = AF_INET
        case .v6: family = AF_INET6
        case .unixDomainSocket: throw LoopbackOriginError("cannot reserve a port on a Unix socket address")
        }
        #if canImport(Darwin)
        let fd = socket(family, SOCK_STREAM, 0)
        #else
        let fd = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        #endif
        guard fd >= 0 else { throw LoopbackOriginError("cannot reserve \(host):\(port): socket() failed, errno \(errno)") }
        var one: Int32 = 1
        if reuseAddress, setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size)) != 0 {
            let code = errno
            close(fd)
            throw LoopbackOriginError("cannot reserve \(host):\(port): SO_REUSEADDR failed, errno \(code)")
        }
        let bound = address.withSockAddr { pointer, size in bind(fd, pointer, socklen_t(size)) }
        guard bound == 0 else {
            let code = errno
            close(fd)
            throw LoopbackOriginError("cannot reserve \(host):\(port): bind failed: \(String(cString: strerror(code)))")
        }
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let named = withUnsafeMutablePointer(to: &storage) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        let boundPort: Int
        switch (named, family) {
        case (0, AF_INET):
            boundPort = withUnsafePointer(to: &storage) { pointer in
                pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { SocketAddress($0.pointee, host: host).port ?? 0 }
            }
        case (0, _):
            boundPort = withUnsafePointer(to: &storage) { pointer in
                pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { SocketAddress($0.pointee, host: host).port ?? 0 }
            }
        default:
            let code = errno
            close(fd)
            throw LoopbackOriginError("cannot reserve \(host):\(port): getsockname failed, errno \(code)")
        }
        self.port = boundPort
        self.descriptor = Mutex(fd)
    }

    /// Gives the port back. Calling it again does nothing.
    public func release() {
        let fd = self.descriptor.withLock { descriptor -> Int32? in
            defer { descriptor = nil }
            return descriptor
        }
        if let fd { close(fd) }
    }

    deinit {
        self.release()
    }
}
