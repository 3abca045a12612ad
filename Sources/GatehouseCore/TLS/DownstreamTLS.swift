import GatehouseConfig
import Logging
import NIOCore
import NIOSSL
import NIOTLS

/// Which certificate of a listener answers a client's SNI name. Pure.
///
/// An exact name wins over a wildcard; `*.example.com` covers one label (`a.example.com`, not
/// `example.com` nor `a.b.example.com`, as RFC 6125 §6.4.3 has clients check); among equals the first
/// in the file wins. No name, or a name no certificate has: the first certificate (the default).
public struct CertificateSelector: Sendable {
    /// Each certificate's names, lower-cased, in file order.
    let names: [[String]]

    public init(names: [[String]]) {
        self.names = names
    }

    /// The index of the certificate for `serverName`.
    public func select(_ serverName: String?) -> Int {
        guard var name = serverName?.lowercased(), !name.isEmpty else { return 0 }
        if name.hasSuffix(".") { name.removeLast() }
        if let exact = self.names.firstIndex(where: { $0.contains(name) }) { return exact }
        guard let dot = name.firstIndex(of: "."), dot != name.startIndex else { return 0 }
        let wildcard = "*" + name[dot...]
        return self.names.firstIndex(where: { $0.contains(wildcard) }) ?? 0
    }
}

/// A listener's `tls` compiled once per configuration generation: one server context whose certificate
/// is chosen per handshake by SNI. New connections take the generation current when they are accepted,
/// so a reload with renewed files serves the new certificates to new connections.
final class DownstreamTLSContext: Sendable {
    let context: NIOSSLContext
    let alpn: [String]

    init(_ tls: ListenerTLS) throws {
        guard let first = tls.certificates.first else { throw NIOSSLError.failedToLoadCertificate }
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: first.chain.map { .certificate($0) }, privateKey: .privateKey(first.key))
        configuration.minimumTLSVersion = tls.minimumVersion == .tls13 ? .tlsv13 : .tlsv12
        configuration.applicationProtocols = tls.alpn
        if tls.certificates.count > 1 {
            let selector = CertificateSelector(names: tls.certificates.map(\.names))
            let overrides: [NIOSSLContextConfigurationOverride] = tls.certificates.map { pair in
                var override = NIOSSLContextConfigurationOverride()
                override.certificateChain = pair.chain.map { .certificate($0) }
                override.privateKey = .privateKey(pair.key)
                return override
            }
            configuration.sslContextCallback = { values, promise in
                let index = selector.select(values.serverHostname)
                promise.succeed(index == 0 ? .noChanges : overrides[index])
            }
        }
        self.context = try NIOSSLContext(configuration: configuration)
        self.alpn = tls.alpn
    }
}

extension ProxyServer {
    /// Puts TLS in front of a downstream connection; the HTTP handlers follow once the handshake has
    /// chosen the protocol (``configureAfterHandshake(_:negotiated:limits:loop:)``).
    static func configureTLSDownstream(
        _ channel: any Channel, tls: DownstreamTLSContext, listener: String, limits: RequestLimits, loop: LoopState,
        timeouts: DownstreamTimeoutCounters? = nil, onFailure: @escaping (TLSFailureKind) -> Void
    ) throws {
        try channel.pipeline.syncOperations.addHandlers([
            NIOSSLServerHandler(context: tls.context),
            // The handshake is part of the wait for the first request head, as nginx's
            // client_header_timeout covers its SSL handshake.
            DownstreamTLSHandshakeHandler(limit: loop.snapshot.clientLimits.header, onFailure: onFailure) { channel, negotiated in
                try Self.configureAfterHandshake(channel, negotiated: negotiated, limits: limits, loop: loop, timeouts: timeouts)
            },
        ])
    }

    /// The one switch on the negotiated protocol: adding HTTP/2 is adding its case (`"h2"`) here and to
    /// ``ListenerTLS/supportedProtocols``.
    static func configureAfterHandshake(
        _ channel: any Channel, negotiated: String?, limits: RequestLimits, loop: LoopState,
        timeouts: DownstreamTimeoutCounters? = nil
    ) throws {
        switch negotiated {
        case "h2":
            try Self.configureHTTP2Downstream(channel, limits: limits, loop: loop, scheme: "https", timeouts: timeouts)
        case "http/1.1", nil:
            // No ALPN from the client means HTTP/1.1 (RFC 7301 leaves it to the application).
            try Self.configureDownstream(channel, limits: limits, loop: loop, scheme: "https", timeouts: timeouts)
        default:
            // Only advertised protocols can be negotiated: a protocol in `alpn` without its case here.
            throw UnexpectedProtocol(name: negotiated ?? "")
        }
    }

    /// ALPN chose a protocol the switch has no case for; the connection is closed.
    struct UnexpectedProtocol: Error {
        var name: String
    }
}

/// Waits for the downstream handshake: then sets up the protocol's handlers behind it and leaves the
/// pipeline; on a failure reports it once (a client-side problem: logged and counted, never a 502)
/// and closes. A client that does not finish its handshake within `client_timeouts.header` is
/// closed, so silent connections cannot pile up on a TLS port.
final class DownstreamTLSHandshakeHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let limit: TimeAmount
    private let onFailure: (TLSFailureKind) -> Void
    private let configure: (any Channel, String?) throws -> Void
    private var done = false
    private var timer: Scheduled<Void>?

    init(
        limit: TimeAmount, onFailure: @escaping (TLSFailureKind) -> Void,
        configure: @escaping (any Channel, String?) throws -> Void
    ) {
        self.limit = limit
        self.onFailure = onFailure
        self.configure = configure
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.timer = context.eventLoop.assumeIsolated().scheduleTask(in: self.limit) { [self] in
            guard !self.done else { return }
            self.done = true
            self.onFailure(.timedOut(.nanoseconds(self.limit.nanoseconds)))
            context.close(promise: nil)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.timer?.cancel()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard !self.done, let event = event as? TLSUserEvent, case .handshakeCompleted(let negotiated) = event else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        self.done = true
        self.timer?.cancel()
        do {
            try self.configure(context.channel, negotiated)
        } catch {
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard !self.done else {
            context.fireErrorCaught(error)
            return
        }
        self.done = true
        self.timer?.cancel()
        self.onFailure(TLSClassification.kind(of: error))
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        // A client that connects and leaves without a handshake (a port scan, a health check of the
        // TCP port) is not a failure worth counting.
        self.done = true
        self.timer?.cancel()
        context.fireChannelInactive()
    }
}

@available(*, unavailable)
extension DownstreamTLSHandshakeHandler: Sendable {}

extension TLSFailureKind {
    /// A short, bounded label for metrics: the BoringSSL reason or alert name, lower-cased.
    var metricReason: String {
        switch self {
        case .certificateVerifyFailed: return "certificate_verify_failed"
        case .hostnameMismatch: return "hostname_mismatch"
        case .alert(let name): return "alert_" + name
        case .protocolError(let reason):
            let bounded = reason.count <= 48 && reason.allSatisfy { $0.isUppercase || $0 == "_" || $0.isNumber }
            return bounded ? reason.lowercased() : "other"
        case .timedOut: return "timeout"
        case .closed: return "closed"
        }
    }
}
