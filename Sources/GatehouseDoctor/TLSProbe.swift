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

    /// Sorts what NIOSSL reported into the kinds the report distinguishes.
    static func kind(of error: any Error) -> TLSFailureKind {
        if let extra = error as? NIOSSLExtraError, extra == .failedToValidateHostname { return .hostnameMismatch }
        if let ioError = error as? IOError {
            return .closed(ioError.errnoCode == ECONNRESET ? "reset the connection" : String(cString: strerror(ioError.errnoCode)))
        }
        if let channelError = error as? ChannelError, channelError == .eof || channelError == .ioOnClosedChannel {
            return .closed("closed the connection")
        }
        guard let sslError = error as? NIOSSLError else { return .protocolError("\(error)") }
        switch sslError {
        case .uncleanShutdown: return .closed("closed the connection")
        case .handshakeFailed(let boringError):
            let text: String
            switch boringError {
            case .sslError(let stack), .unknownError(let stack): text = stack.map(\.description).joined(separator: " ")
            default: text = "\(boringError)"
            }
            if text.contains("EOF during handshake") { return .closed("closed the connection") }
            return TLSDiagnosis.classify(errorText: text)
        default:
            return .protocolError("\(sslError)")
        }
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

extension CertificateInfo {
    /// Reads what the report shows out of a NIOSSL certificate.
    init(_ certificate: NIOSSLCertificate) {
        var dnsNames: [String] = []
        var ipAddresses: [String] = []
        for name in certificate._subjectAlternativeNames() {
            let bytes = Array(name.contents)
            switch name.nameType {
            case .dnsName: dnsNames.append(String(decoding: bytes, as: UTF8.self))
            case .ipAddress:
                if bytes.count == 4 {
                    ipAddresses.append(bytes.map(String.init).joined(separator: "."))
                } else if bytes.count == 16 {
                    ipAddresses.append(
                        stride(from: 0, to: 16, by: 2).map { String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16) }
                            .joined(separator: ":"))
                }
            default: break
            }
        }
        self.init(
            subject: Self.describe(certificate.subjectName), issuer: Self.describe(certificate.issuerName),
            notBefore: Int(certificate.notValidBefore), notAfter: Int(certificate.notValidAfter), dnsNames: dnsNames,
            ipAddresses: ipAddresses)
    }

    /// `CN=localhost, O=Acme` in the certificate's order.
    private static func describe(_ names: [SSLCertificateName]) -> String {
        let labels: [SSLCertificateNameType: String] = [
            .commonName: "CN", .organization: "O", .organizationalUnit: "OU", .country: "C", .state: "ST",
            .city: "L", .emailAddress: "emailAddress", .userId: "UID",
        ]
        let text = names.map { "\(labels[$0.type] ?? "?")=\($0.value)" }.joined(separator: ", ")
        return text.isEmpty ? "(empty name)" : text
    }
}
