import NIOCore
import NIOPosix
import NIOSSL
import Synchronization

/// A TLS origin on 127.0.0.1 with a given certificate (from ``TestPKI``), answering every request with
/// `200 ok` and `Connection: close` (or keeping the connection for the next request with `keepAlive`):
/// the peer of the TLS tests and of `gatehouse lab`'s certificate scenarios. ``stop()`` closes the
/// listener and every connection.
public final class TLSOrigin: Sendable {
    public let port: Int
    private let listener: any Channel
    private let children: ChildTracker

    private init(port: Int, listener: any Channel, children: ChildTracker) {
        self.port = port
        self.listener = listener
        self.children = children
    }

    /// `host:port` to put in a cluster's servers.
    public var address: String { "127.0.0.1:\(self.port)" }

    /// TCP connections accepted so far (a pooled upstream connection is one for many requests).
    public var connectionsAccepted: Int { self.children.all.count }

    /// - Parameter clientCA: when set, the origin requires a client certificate signed by this CA
    ///   (mutual TLS); a client without one gets alert `certificate_required`.
    /// - Parameter port: 0 for a free one; a given port to come back on it (a restart).
    public static func start(
        certificate: String, key: String, keepAlive: Bool = false, clientCA: String? = nil, port: Int = 0
    ) async throws -> TLSOrigin {
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMFile(certificate).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(file: key, format: .pem)))
        if let clientCA {
            configuration.certificateVerification = .noHostnameVerification
            configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(clientCA))
        }
        let context = try NIOSSLContext(configuration: configuration)
        let tracker = ChildTracker()
        let listener = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                tracker.add(channel)
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandlers([
                        NIOSSLServerHandler(context: context), OKResponder(keepAlive: keepAlive),
                    ])
                }
            }
            .bind(host: "127.0.0.1", port: port).get()
        guard let port = listener.localAddress?.port else {
            try await listener.close()
            throw TLSOriginError()
        }
        return TLSOrigin(port: port, listener: listener, children: tracker)
    }

    public func stop() async throws {
        try await self.listener.close()
        for channel in self.children.all { try? await channel.close() }
    }
}

/// The listener has no port (cannot happen on loopback).
public struct TLSOriginError: Error {}

/// Every accepted connection, so that stopping the server closes them too.
private final class ChildTracker: Sendable {
    private let channels = Mutex<[any Channel]>([])

    func add(_ channel: any Channel) {
        self.channels.withLock { $0.append(channel) }
    }

    var all: [any Channel] { self.channels.withLock { $0 } }
}

/// Answers once the request head (of a body-less request) has arrived, then closes, or with
/// `keepAlive` waits for the next request.
private final class OKResponder: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let keepAlive: Bool
    private var received: [UInt8] = []
    private var answered = false

    init(keepAlive: Bool) {
        self.keepAlive = keepAlive
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !self.answered else { return }
        self.received += self.unwrapInboundIn(data).readableBytesView
        guard self.received.count >= 4, self.received.suffix(4) == [13, 10, 13, 10] else { return }
        if self.keepAlive {
            self.received = []
            let response = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n"
            context.writeAndFlush(self.wrapOutboundOut(ByteBuffer(string: response)), promise: nil)
            return
        }
        self.answered = true
        let response = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n"
        context.writeAndFlush(self.wrapOutboundOut(ByteBuffer(string: response))).assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
