#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A TCP port held by a bound socket that never listens: a connect to it is refused (RST, so
/// ECONNREFUSED), and while it is held no other socket on the machine can be given the port by a
/// `bind` to port 0 (it does not set `SO_REUSEADDR`, so no listener can share it either).
///
/// A `.refuse` origin that closed its port instead would leave it free, and tests running in
/// parallel bind listeners to port 0 all the time: one of them could be handed the "refusing" port.
final class PortReservation: Sendable {
    /// The reserved port.
    let port: Int
    private let descriptor: Int32

    /// Binds `host:port` (port 0: a free one) without listening.
    init(host: String, port: Int) throws {
        var v4 = sockaddr_in()
        var v6 = sockaddr_in6()
        let family: Int32
        if inet_pton(AF_INET, host, &v4.sin_addr) == 1 {
            family = AF_INET
        } else if inet_pton(AF_INET6, host, &v6.sin6_addr) == 1 {
            family = AF_INET6
        } else {
            throw LoopbackOriginError("cannot reserve a port on \(host): not an IP address")
        }
        #if canImport(Darwin)
        let stream = SOCK_STREAM
        #else
        let stream = Int32(SOCK_STREAM.rawValue)
        #endif
        let descriptor = socket(family, stream, 0)
        guard descriptor >= 0 else { throw LoopbackOriginError("cannot reserve a port: socket() failed, errno \(errno)") }
        let bound: Int32
        if family == AF_INET {
            v4.sin_family = sa_family_t(AF_INET)
            v4.sin_port = in_port_t(UInt16(truncatingIfNeeded: port).bigEndian)
            bound = withUnsafePointer(to: &v4) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
        } else {
            v6.sin6_family = sa_family_t(AF_INET6)
            v6.sin6_port = in_port_t(UInt16(truncatingIfNeeded: port).bigEndian)
            bound = withUnsafePointer(to: &v6) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in6>.size))
                }
            }
        }
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let named = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        guard bound == 0, named == 0 else {
            let error = errno
            close(descriptor)
            throw LoopbackOriginError("cannot reserve \(host):\(port): errno \(error)")
        }
        let networkPort: in_port_t =
            family == AF_INET
            ? withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_port } }
            : withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_port } }
        self.descriptor = descriptor
        self.port = Int(UInt16(bigEndian: networkPort))
    }

    /// Frees the port.
    func release() {
        close(self.descriptor)
    }
}
