import GatehouseCore
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS

/// What a TLS client saw of the gateway: the presented certificate's names, the version and ALPN
/// protocol, and the raw answer to one HTTP/1.1 request (or the handshake error).
struct TLSClientResult: Sendable {
    var names: [String] = []
    var version: TLSVersion?
    var alpn: String?
    var response: String = ""
    var error: String?
}

/// A NIOSSL client on a real socket: verifies the chain against `trustRoots`, sends `serverName` in SNI, then
/// sends `GET / HTTP/1.1` with `Connection: close` and reads until the gateway closes.
enum TLSTestClient {
    static func fetch(
        port: Int, serverName: String?, trustRoots: [NIOSSLCertificate], maxVersion: TLSVersion? = nil,
        minVersion: TLSVersion = .tlsv1, alpn: [String] = ["http/1.1"], group: any EventLoopGroup
    ) async throws -> TLSClientResult {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.trustRoots = .certificates(trustRoots)
        // The chain is verified; the name is the test's to check (it asserts which certificate came).
        configuration.certificateVerification = .noHostnameVerification
        configuration.minimumTLSVersion = minVersion
        configuration.maximumTLSVersion = maxVersion
        configuration.applicationProtocols = alpn
        let context = try NIOSSLContext(configuration: configuration)
        let loop = group.next()
        let promise = loop.makePromise(of: TLSClientResult.self)
        let host = serverName ?? "127.0.0.1"
        let channel = try await ClientBootstrap(group: loop)
            .connectTimeout(.seconds(5))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandlers([
                        try NIOSSLClientHandler(context: context, serverHostname: serverName),
                        Exchange(promise: promise, host: host),
                    ])
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
        let timeout = loop.scheduleTask(in: .seconds(10)) {
            promise.fail(TestClientError(description: "no answer within 10 s"))
            channel.close(promise: nil)
        }
        defer { timeout.cancel() }
        let result = try await promise.futureResult.get()
        try? await channel.close()
        return result
    }

    private final class Exchange: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer

        let promise: EventLoopPromise<TLSClientResult>
        let host: String
        var result = TLSClientResult()

        init(promise: EventLoopPromise<TLSClientResult>, host: String) {
            self.promise = promise
            self.host = host
        }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if let event = event as? TLSUserEvent, case .handshakeCompleted(let negotiated) = event {
                self.result.alpn = negotiated
                if let tls = try? context.pipeline.syncOperations.handler(type: NIOSSLClientHandler.self) {
                    self.result.version = tls.tlsVersion
                    if let leaf = tls.peerCertificate {
                        let info = CertificateInfo(leaf)
                        self.result.names = info.dnsNames + info.ipAddresses
                    }
                }
                let request = "GET / HTTP/1.1\r\nHost: \(self.host)\r\nConnection: close\r\n\r\n"
                context.writeAndFlush(self.wrapOutboundOut(ByteBuffer(string: request)), promise: nil)
            }
            context.fireUserInboundEventTriggered(event)
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            self.result.response += String(buffer: self.unwrapInboundIn(data))
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            // The server's close_notify-less close after a complete answer is not a failure.
            if let ssl = error as? NIOSSLError, case .uncleanShutdown = ssl, !self.result.response.isEmpty { return }
            if self.result.error == nil { self.result.error = "\(error)" }
            context.close(promise: nil)
        }

        func channelInactive(context: ChannelHandlerContext) {
            self.promise.succeed(self.result)
            context.fireChannelInactive()
        }
    }
}
