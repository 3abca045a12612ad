import GatehouseConfig
import GatehouseErrors
import NIOCore
import NIOSSL
import NIOTLS

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A cluster's `tls` compiled once per configuration generation: the client `NIOSSLContext` (trust roots,
/// client certificate) shared by every connection and health check of that generation.
public final class UpstreamTLSContext: Sendable {
    let settings: UpstreamTLS
    /// Nil when BoringSSL refused the settings (the files were checked at load, so this is unexpected).
    let context: NIOSSLContext?
    let contextFailure: String?
    /// The handshake's own time limit, after the TCP connect: `timeouts.connect`.
    let handshakeTimeout: TimeAmount

    init(settings: UpstreamTLS, connectTimeout: Duration) {
        self.settings = settings
        self.handshakeTimeout = TimeAmount(connectTimeout)
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        // ca_file replaces the system store, as nginx's proxy_ssl_trusted_certificate does: a private CA
        // is then the only one that can vouch for the servers.
        if !settings.trustRoots.isEmpty { configuration.trustRoots = .certificates(settings.trustRoots) }
        if !settings.verify { configuration.certificateVerification = .none }
        if let client = settings.clientCertificate {
            configuration.certificateChain = client.chain.map { .certificate($0) }
            configuration.privateKey = .privateKey(client.key)
        }
        do {
            self.context = try NIOSSLContext(configuration: configuration)
            self.contextFailure = nil
        } catch {
            self.context = nil
            self.contextFailure = "\(error)"
        }
    }

    /// The SNI name and verified name for a server written as `host`: `server_name`, else the host unless it
    /// is an IP literal (no SNI then; NIOSSL checks the certificate against the peer's address).
    func serverName(forHost host: String) -> String? {
        if let name = self.settings.serverName { return name }
        return (try? SocketAddress(ipAddress: host, port: 0)) == nil ? host : nil
    }

    /// Puts the TLS handler and the handshake watcher first in `channel`'s pipeline. The returned future
    /// completes when the handshake has, or fails with the classified ``ProxyFailure``.
    @discardableResult
    func addHandlers(to channel: any Channel, host: String, nextHop: String) throws -> EventLoopFuture<Void> {
        guard let context = self.context else {
            throw ProxyFailure(
                type: .proxyConfigurationError, phase: .connect, nextHop: nextHop,
                details: "the cluster's TLS settings were refused: \(self.contextFailure ?? "unknown reason")")
        }
        let serverName = self.serverName(forHost: host)
        let handshake = UpstreamTLSHandshakeHandler(
            promise: channel.eventLoop.makePromise(), verifiedName: serverName ?? host, nextHop: nextHop,
            timeout: self.handshakeTimeout)
        try channel.pipeline.syncOperations.addHandlers([
            try NIOSSLClientHandler(context: context, serverHostname: serverName), handshake,
        ])
        return handshake.promise.futureResult
    }
}

/// Watches an upstream TLS handshake and classifies its failure once, where it happens, into the
/// ``ProxyFailure`` that the error page, Proxy-Status, log and metrics derive from. Removes itself
/// after a successful handshake, so requests on the connection never pass through it.
final class UpstreamTLSHandshakeHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    let promise: EventLoopPromise<Void>
    private let verifiedName: String
    private let nextHop: String
    private let timeout: TimeAmount
    private var timer: Scheduled<Void>?
    private var finished = false

    init(promise: EventLoopPromise<Void>, verifiedName: String, nextHop: String, timeout: TimeAmount) {
        self.promise = promise
        self.verifiedName = verifiedName
        self.nextHop = nextHop
        self.timeout = timeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let limit = Duration.nanoseconds(self.timeout.nanoseconds)
        self.timer = context.eventLoop.assumeIsolated().scheduleTask(in: self.timeout) { [self] in
            self.fail(context: context, kind: .timedOut(limit))
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        // Torn down with the channel before the handshake finished (a close from elsewhere).
        self.fail(context: context, kind: .closed("closed the connection"), close: false)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? TLSUserEvent, case .handshakeCompleted = event, !self.finished {
            self.finished = true
            self.timer?.cancel()
            context.fireUserInboundEventTriggered(event)
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
            self.promise.succeed()
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard !self.finished else {
            context.fireErrorCaught(error)
            return
        }
        self.fail(context: context, kind: TLSClassification.kind(of: error))
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.fail(context: context, kind: .closed("closed the connection"), close: false)
        context.fireChannelInactive()
    }

    private func fail(context: ChannelHandlerContext, kind: TLSFailureKind, close: Bool = true) {
        guard !self.finished else { return }
        self.finished = true
        self.timer?.cancel()
        // NIOSSL still holds the presented leaf after a failed verification: it says why.
        let leaf = (try? context.pipeline.syncOperations.handler(type: NIOSSLClientHandler.self))?.peerCertificate
            .map(CertificateInfo.init)
        let failure = ProxyFailure(
            type: kind.proxyStatus, phase: .connect, nextHop: self.nextHop,
            details: TLSClassification.details(kind, leaf: leaf, serverName: self.verifiedName, now: Int(time(nil))))
        self.promise.fail(failure)
        guard close else { return }
        // Handlers behind (a health check's) see the classified failure, not NIOSSL's raw error.
        context.fireErrorCaught(failure)
        context.close(promise: nil)
    }
}

@available(*, unavailable)
extension UpstreamTLSHandshakeHandler: Sendable {}
