import GatehouseCore
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// What one TLS handshake gave.
struct TLSHandshakeResult: Sendable {
    var elapsed: Duration
    /// `TLSv1.3`.
    var version: String?
    var failure: TLSFailureKind?
    /// The underlying error, in NIOSSL's words.
    var detail: String?
    /// The chain the peer presented (inspecting handshakes only).
    var chain: [CertificateInfo] = []
}

/// The TLS hop: a real handshake with verification as a gateway does it, and an inspecting one that
/// accepts any chain so the report can say *why* the real one failed (NIOSSL does not expose
/// BoringSSL's X509 verify result, only CERTIFICATE_VERIFY_FAILED).
enum TLSProbe {
    /// The client context for the real handshake: system trust roots, plus `caFile`.
    static func makeContext(caFile: String?) throws -> NIOSSLContext {
        var configuration = TLSConfiguration.makeClientConfiguration()
        if let caFile { configuration.additionalTrustRoots = [.file(caFile)] }
        return try NIOSSLContext(configuration: configuration)
    }

    /// Handshakes on an already connected `channel`; the TLS handler stays for the HTTP exchange.
    static func handshake(on channel: any Channel, host: String, context: NIOSSLContext, timeout: Duration) async
        -> TLSHandshakeResult
    {
        let serverName = Self.serverName(for: host)
        let future = channel.eventLoop.flatSubmit { () -> EventLoopFuture<TLSHandshakeResult> in
            let promise = channel.eventLoop.makePromise(of: TLSHandshakeResult.self)
            do {
                let tls = try NIOSSLClientHandler(context: context, serverHostname: serverName)
                let watcher = TLSHandshakeWatcher(promise: promise, timeout: TimeAmount(timeout), limit: timeout)
                try channel.pipeline.syncOperations.addHandlers([tls, watcher])
            } catch {
                promise.succeed(
                    TLSHandshakeResult(elapsed: .zero, failure: .protocolError("\(error)"), detail: "\(error)"))
            }
            return promise.futureResult
        }
        return await Self.value(of: future)
    }

    /// A second connection whose verification callback records the presented chain and accepts it. NIOSSL
    /// still checks the host name afterwards, so its failure says "name mismatch" on its own.
    static func inspect(address: SocketAddress, host: String, timeout: Duration, group: any EventLoopGroup) async
        -> (chain: [CertificateInfo], nameMatches: Bool?)
    {
        let serverName = Self.serverName(for: host)
        let context: NIOSSLContext
        do {
            context = try NIOSSLContext(configuration: TLSConfiguration.makeClientConfiguration())
        } catch {
            return ([], nil)
        }
        // The promise exists before the connection so that a handshake finishing (and the channel closing,
        // which empties the pipeline) before anyone looks cannot lose the result.
        let loop = group.next()
        let promise = loop.makePromise(of: TLSHandshakeResult.self)
        let bootstrap = ClientBootstrap(group: loop)
            .connectTimeout(TimeAmount(timeout))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let watcher = TLSHandshakeWatcher(promise: promise, timeout: TimeAmount(timeout), limit: timeout)
                    let tls = try NIOSSLClientHandler(
                        context: context, serverHostname: serverName,
                        customVerificationCallback: { certificates, verification in
                            watcher.chain = certificates.map(CertificateInfo.init)
                            verification.succeed(.certificateVerified)
                        })
                    try channel.pipeline.syncOperations.addHandlers([tls, watcher])
                }
            }
        let channel: any Channel
        do {
            channel = try await bootstrap.connect(to: address).get()
        } catch {
            promise.succeed(TLSHandshakeResult(elapsed: .zero, failure: .closed("refused the connection")))
            return ([], nil)
        }
        let future = promise.futureResult
        let result = await Self.value(of: future)
        try? await channel.close()
        let nameMatches: Bool? =
            result.failure == nil ? true : result.failure == .hostnameMismatch ? false : nil
        return (result.chain, nameMatches)
    }

    /// IP addresses are not allowed in SNI; NIOSSL then checks the certificate against the peer's IP.
    private static func serverName(for host: String) -> String? {
        (try? SocketAddress(ipAddress: host, port: 0)) == nil ? host : nil
    }

    private static func value(of future: EventLoopFuture<TLSHandshakeResult>) async -> TLSHandshakeResult {
        do {
            return try await future.get()
        } catch {
            return TLSHandshakeResult(elapsed: .zero, failure: .protocolError("\(error)"), detail: "\(error)")
        }
    }

    /// Sorts what NIOSSL reported into the kinds the report distinguishes (the data path's classification).
    static func kind(of error: any Error) -> TLSFailureKind {
        TLSClassification.kind(of: error)
    }
}

/// Watches a TLS handshake: completes `result` on the handshake event, an error, the connection closing,
/// or the time limit. Passes everything on, so it can stay in the pipeline for the HTTP exchange.
final class TLSHandshakeWatcher: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    /// Set by an inspecting handshake's verification callback (on this event loop).
    var chain: [CertificateInfo] = []
    private let promise: EventLoopPromise<TLSHandshakeResult>
    private let timeout: TimeAmount
    private let limit: Duration
    private var started: NIODeadline = .now()
    private var timer: Scheduled<Void>?
    private var finished = false

    init(promise: EventLoopPromise<TLSHandshakeResult>, timeout: TimeAmount, limit: Duration) {
        self.promise = promise
        self.timeout = timeout
        self.limit = limit
    }

    var result: EventLoopFuture<TLSHandshakeResult> { self.promise.futureResult }

    func handlerAdded(context: ChannelHandlerContext) {
        self.started = .now()
        self.timer = context.eventLoop.assumeIsolated().scheduleTask(in: self.timeout) { [self] in
            self.finish(context: context, failure: .timedOut(self.limit), detail: nil)
            context.close(promise: nil)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? TLSUserEvent, case .handshakeCompleted = event {
            self.finish(context: context, failure: nil, detail: nil)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if self.finished {
            context.fireErrorCaught(error)
            return
        }
        self.finish(context: context, failure: TLSProbe.kind(of: error), detail: "\(error)")
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.finish(context: context, failure: .closed("closed the connection"), detail: nil)
        context.fireChannelInactive()
    }

    private func finish(context: ChannelHandlerContext, failure: TLSFailureKind?, detail: String?) {
        guard !self.finished else { return }
        self.finished = true
        self.timer?.cancel()
        self.timer = nil
        let elapsed = NIODeadline.now() - self.started
        var version: String?
        if failure == nil, let tls = try? context.pipeline.syncOperations.handler(type: NIOSSLClientHandler.self) {
            version = tls.tlsVersion.map(Self.name)
        }
        self.promise.succeed(
            TLSHandshakeResult(
                elapsed: .nanoseconds(elapsed.nanoseconds), version: version, failure: failure, detail: detail,
                chain: self.chain))
    }

    private static func name(_ version: TLSVersion) -> String {
        switch version {
        case .tlsv1: return "TLSv1.0"
        case .tlsv11: return "TLSv1.1"
        case .tlsv12: return "TLSv1.2"
        case .tlsv13: return "TLSv1.3"
        }
    }
}

@available(*, unavailable)
extension TLSHandshakeWatcher: Sendable {}
