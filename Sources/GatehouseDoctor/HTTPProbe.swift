import GatehouseErrors
import GatehouseCore
import NIOCore
import NIOHTTP1

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// What the HTTP exchange showed, timed from the moment the request was written.
struct HTTPProbeResult: Sendable {
    var head: HTTPResponseHead?
    var firstByte: Duration?
    var complete: Duration?
    var longestGap: Duration?
    var bodyBytes = 0
    /// The start of the body, up to ``HopRequest/keepBody`` bytes.
    var body: [UInt8] = []
    /// The first bytes of the response, for the framing validator.
    var raw: [UInt8] = []
    /// Every byte received, counted.
    var rawTotal = 0
    /// The upstream closed the connection (FIN or RST) while the exchange was under way.
    var closedByPeer = false
    /// It was a reset (ECONNRESET), not a FIN.
    var resetByPeer = false
    /// Classified with the data path's ``ProxyFailure/classify(_:phase:nextHop:)``.
    var failure: ProxyFailure?
    var keepAlive = KeepAliveObservation.disabled
    /// Why the doctor stopped reading before the end, if it did (a huge or endless body).
    var stoppedEarly: String?
}

/// Sends the request (doctor's `GET path`, or a ``HopRequest``) on a connected (and, for https,
/// handshaken) channel through the gateway's own NIOHTTP1 decoder with the cluster's header limit, then
/// holds the connection idle to see when the upstream closes it.
enum HTTPProbe {
    /// The doctor reads at most this much body: enough to check framing, bounded for huge downloads.
    static let maximumBody = 8 * 1024 * 1024

    static func exchange(
        on channel: any Channel, target: ProbeTarget, request: HopRequest, timeout: Duration, keepAliveMax: Duration
    ) async -> HTTPProbeResult {
        // The gateway's decoder limits (DownstreamHandler+Exchange): the probe rejects what the gateway rejects.
        var decoderLimits = NIOHTTPDecoderLimitConfiguration()
        decoderLimits.maxHeaderListSize = target.limits.maxResponseHeaderBytes
        decoderLimits.maxHeaderFieldSize = target.limits.maxResponseHeaderBytes
        let limits = decoderLimits
        var headers = HTTPHeaders([("Host", target.hostHeader), ("User-Agent", request.userAgent), ("Accept", "*/*")])
        for header in request.headers { headers.add(name: header.name, value: header.value) }
        // A POST without a length is refused by some servers (411), even with an empty body.
        if !request.body.isEmpty || request.method != "GET" {
            headers.add(name: "Content-Length", value: String(request.body.count))
        }
        let head = HTTPRequestHead(
            version: .http1_1, method: HTTPMethod(rawValue: request.method), uri: target.path, headers: headers)
        // Raw bytes beyond the decoder's own ceiling are not needed to name a problem.
        let keep = max(target.limits.maxResponseHeaderBytes, 80 * 1024) + 64 * 1024
        let settings = HTTPProbeHandler.Settings(
            request: head, timeout: TimeAmount(timeout), keepAliveMax: TimeAmount(keepAliveMax),
            total: TimeAmount(timeout * 6), nextHop: target.hostPort, keepBytes: keep, body: request.body,
            keepBody: request.keepBody)
        let future = channel.eventLoop.flatSubmit { () -> EventLoopFuture<HTTPProbeResult> in
            let promise = channel.eventLoop.makePromise(of: HTTPProbeResult.self)
            do {
                let recorder = RawResponseRecorder(keep: keep)
                try channel.pipeline.syncOperations.addHandlers([
                    recorder,
                    HTTPRequestEncoder(),
                    ByteToMessageHandler(
                        HTTPResponseDecoder(
                            leftOverBytesStrategy: .dropBytes, informationalResponseStrategy: .drop,
                            limitConfiguration: limits)),
                    HTTPProbeHandler(settings: settings, recorder: recorder, promise: promise),
                ])
            } catch {
                // The upstream may have closed the connection since the TCP step (an idle timeout):
                // classified as the data path would, not as a bug of the probe.
                promise.succeed(
                    HTTPProbeResult(failure: ProxyFailure.classify(error, phase: .sendRequest, nextHop: target.hostPort)))
            }
            return promise.futureResult
        }
        let result: HTTPProbeResult
        do {
            result = try await future.get()
        } catch {
            result = HTTPProbeResult(failure: ProxyFailure.classify(error, phase: .sendRequest, nextHop: target.hostPort))
        }
        try? await channel.close()
        return result
    }
}

/// Sits below the HTTP decoder and keeps a copy of the first response bytes and the read times, so the
/// validator can name what the decoder only rejects, and gaps between reads can be measured.
final class RawResponseRecorder: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let keep: Int
    private(set) var bytes: [UInt8] = []
    private(set) var total = 0
    private(set) var firstRead: NIODeadline?
    private(set) var lastRead: NIODeadline?
    private(set) var longestGap: TimeAmount = .zero

    init(keep: Int) {
        self.keep = keep
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = self.unwrapInboundIn(data)
        let now = NIODeadline.now()
        if self.firstRead == nil { self.firstRead = now }
        if let last = self.lastRead { self.longestGap = max(self.longestGap, now - last) }
        self.lastRead = now
        self.total += buffer.readableBytes
        if self.bytes.count < self.keep {
            self.bytes += buffer.readableBytesView.prefix(self.keep - self.bytes.count)
        }
        context.fireChannelRead(data)
    }
}

@available(*, unavailable)
extension RawResponseRecorder: Sendable {}

/// Drives the exchange: writes the request, follows the response, then waits on the idle connection.
final class HTTPProbeHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    /// What the probe was asked to do.
    struct Settings: Sendable {
        var request: HTTPRequestHead
        /// Time limit for the head, and for each silence within the body.
        var timeout: TimeAmount
        /// How long to hold the idle connection; zero: not at all.
        var keepAliveMax: TimeAmount
        /// The doctor stops reading a response still streaming after this long.
        var total: TimeAmount
        var nextHop: String
        var keepBytes: Int
        /// The request body (a webhook's JSON); empty for doctor's GET.
        var body: [UInt8] = []
        /// How many bytes of the response body to keep.
        var keepBody = 0
    }

    /// Where the exchange is.
    private enum State {
        case awaitingHead
        case streaming
        case idle(since: NIODeadline)
        case done
    }

    private let settings: Settings
    private let recorder: RawResponseRecorder
    private let promise: EventLoopPromise<HTTPProbeResult>
    private var state = State.awaitingHead
    private var result = HTTPProbeResult()
    private var sentAt = NIODeadline.now()
    private var timer: Scheduled<Void>?
    private var totalTimer: Scheduled<Void>?

    init(settings: Settings, recorder: RawResponseRecorder, promise: EventLoopPromise<HTTPProbeResult>) {
        self.settings = settings
        self.recorder = recorder
        self.promise = promise
    }

    func handlerAdded(context: ChannelHandlerContext) {
        // Added to a connected channel: the request goes out at once, and the clock starts with it.
        self.sentAt = .now()
        context.write(self.wrapOutboundOut(.head(self.settings.request)), promise: nil)
        if !self.settings.body.isEmpty {
            let buffer = context.channel.allocator.buffer(bytes: self.settings.body)
            context.write(self.wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        }
        context.writeAndFlush(self.wrapOutboundOut(.end(nil)), promise: nil)
        self.arm(context: context, in: self.settings.timeout)
        self.totalTimer = context.eventLoop.assumeIsolated().scheduleTask(in: self.settings.total) { [self] in
            guard case .streaming = self.state else { return }
            self.result.stoppedEarly = "still streaming after \(Format.observed(.nanoseconds(self.settings.total.nanoseconds))); stopped reading"
            self.finish(context: context)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch (self.state, self.unwrapInboundIn(data)) {
        case (.awaitingHead, .head(let head)):
            self.result.head = head
            self.state = .streaming
            self.arm(context: context, in: self.settings.timeout)
        case (.streaming, .body(let body)):
            self.result.bodyBytes += body.readableBytes
            if self.result.body.count < self.settings.keepBody {
                self.result.body += body.readableBytesView.prefix(self.settings.keepBody - self.result.body.count)
            }
            if self.result.bodyBytes > HTTPProbe.maximumBody {
                self.result.stoppedEarly = "body larger than \(Format.bytes(HTTPProbe.maximumBody)); stopped reading"
                self.finish(context: context)
                return
            }
            self.arm(context: context, in: self.settings.timeout)
        case (.streaming, .end):
            self.result.complete = self.elapsed(since: self.sentAt)
            self.snapshotRaw()
            let reusable = self.result.head.map(\.isKeepAlive) ?? false
            if !reusable {
                let version = self.result.head.map { "HTTP/\($0.version.major).\($0.version.minor)" } ?? "HTTP"
                self.result.keepAlive = .notReusable(
                    self.result.head?.headers.first(name: "connection").map { "\(version), Connection: \($0)" } ?? version)
                self.finish(context: context)
            } else if self.settings.keepAliveMax <= .zero {
                self.result.keepAlive = .disabled
                self.finish(context: context)
            } else {
                self.state = .idle(since: .now())
                self.arm(context: context, in: self.settings.keepAliveMax)
            }
        case (.idle, _):
            // A second response nobody asked for.
            self.result.keepAlive = .unsolicitedBytes(max(1, self.recorder.total - self.recordedUntilEnd))
            self.finish(context: context)
        default:
            break
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A decoder error raised while the channel goes down (an EOF mid-message), or a reset.
        if !context.channel.isActive || error is IOError { self.result.closedByPeer = true }
        if let ioError = error as? IOError, ioError.errnoCode == ECONNRESET { self.result.resetByPeer = true }
        switch self.state {
        case .awaitingHead: self.fail(error, phase: .awaitResponseHead, context: context)
        case .streaming: self.fail(error, phase: .streamResponse, context: context)
        case .idle:
            self.result.keepAlive = .unsolicitedBytes(max(1, self.recorder.total - self.recordedUntilEnd))
            self.finish(context: context)
        case .done: break
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        switch self.state {
        case .awaitingHead:
            self.result.closedByPeer = true
            self.fail(UpstreamClosedConnection(), phase: .awaitResponseHead, context: context)
        case .streaming:
            self.result.closedByPeer = true
            self.fail(UpstreamClosedConnection(), phase: .streamResponse, context: context)
        case .idle(let since):
            self.result.keepAlive = .closedAfter(self.elapsed(since: since))
            self.finish(context: context)
        case .done: break
        }
        context.fireChannelInactive()
    }

    /// Bytes counted when the response ended; anything after it on an idle connection is unsolicited.
    private var recordedUntilEnd: Int { self.result.rawTotal }

    private func arm(context: ChannelHandlerContext, in delay: TimeAmount) {
        self.timer?.cancel()
        self.timer = context.eventLoop.assumeIsolated().scheduleTask(in: delay) { [self] in
            switch self.state {
            case .awaitingHead: self.fail(ExchangeTimeout.responseHeader, phase: .awaitResponseHead, context: context)
            case .streaming: self.fail(ExchangeTimeout.idle, phase: .streamResponse, context: context)
            case .idle:
                self.result.keepAlive = .stillOpen(after: .nanoseconds(self.settings.keepAliveMax.nanoseconds))
                self.finish(context: context)
            case .done: break
            }
        }
    }

    private func fail(_ error: any Error, phase: ProxyPhase, context: ChannelHandlerContext) {
        guard self.result.failure == nil else { return }
        self.result.failure = ProxyFailure.classify(error, phase: phase, nextHop: self.settings.nextHop)
        self.finish(context: context)
    }

    private func finish(context: ChannelHandlerContext) {
        if case .done = self.state { return }
        if case .idle = self.state {} else { self.snapshotRaw() }
        self.state = .done
        self.timer?.cancel()
        self.totalTimer?.cancel()
        self.promise.succeed(self.result)
        context.close(promise: nil)
    }

    /// Takes the recorder's figures at the end of the response (or of the failure).
    private func snapshotRaw() {
        self.result.raw = self.recorder.bytes
        self.result.rawTotal = self.recorder.total
        if let first = self.recorder.firstRead { self.result.firstByte = self.elapsed(since: self.sentAt, to: first) }
        self.result.longestGap = .nanoseconds(self.recorder.longestGap.nanoseconds)
    }

    private func elapsed(since start: NIODeadline, to end: NIODeadline = .now()) -> Duration {
        .nanoseconds((end - start).nanoseconds)
    }
}

@available(*, unavailable)
extension HTTPProbeHandler: Sendable {}
